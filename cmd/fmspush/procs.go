package main

import (
	"os"
	"runtime"
)

// streamsPerProc is how many pushes one OS thread running Go code
// (GOMAXPROCS) carries: 256 native streams of 1080p30 4 Mbit/s take a third
// of a core (docs/performance.md), so a thread per 256 leaves room for
// start-up bursts, GC and the probes.
const streamsPerProc = 256

// procsFor is the service's GOMAXPROCS for a number of running pushes: one
// thread up to streamsPerProc pushes, one more for each further
// streamsPerProc, at most the machine's CPUs. The service's work is I/O
// and timers; with more threads than it needs, each hand-off between
// goroutines (the ingest to a session, once a frame) wakes a second thread
// that finds nothing to do and sleeps again: two thread switches per frame,
// the largest cost of a stream on a virtual machine. Cgo calls (the libav
// driver) and ffmpeg processes do not count against it.
func procsFor(pushes, cpus int) int {
	n := 1 + max(pushes-1, 0)/streamsPerProc
	return max(1, min(n, cpus))
}

// procs sizes GOMAXPROCS to the pushes of `fmspush run` after each load
// and reload, unless the GOMAXPROCS environment variable sets it. Only
// main turns it on: tests that run the service in their own process keep
// their GOMAXPROCS.
type procs struct{ auto bool }

// autoProcs is main's: `fmspush run` without GOMAXPROCS in the environment.
var autoProcs procs

// enable turns sizing on for `fmspush run` with no GOMAXPROCS set.
func (p *procs) enable(args []string) {
	p.auto = len(args) > 0 && args[0] == "run" && os.Getenv("GOMAXPROCS") == ""
	if p.auto {
		runtime.GOMAXPROCS(1) // until the config's pushes are known
	}
}

// size sets GOMAXPROCS for a number of running pushes (when enabled).
func (p *procs) size(pushes int) {
	if !p.auto {
		return
	}
	if n := procsFor(pushes, runtime.NumCPU()); runtime.GOMAXPROCS(0) != n {
		runtime.GOMAXPROCS(n)
	}
}
