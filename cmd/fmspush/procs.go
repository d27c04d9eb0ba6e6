package main

import (
	"os"
	"runtime"
)

// serviceProcs is how many OS threads may run the service's Go code at
// once (GOMAXPROCS) unless the GOMAXPROCS environment variable says
// otherwise. The service's work is I/O and timers: 256 native streams of
// 4 Mbit/s take well under one core (docs/performance.md). With more than
// one, each hand-off between goroutines (the ingest to a session, once a
// frame) wakes a second thread that finds nothing to do and sleeps again:
// two thread switches per frame, the largest cost of a stream on a
// virtual machine. Cgo calls (the libav driver) and ffmpeg processes do not
// count against it.
const serviceProcs = 1

// limitProcs applies serviceProcs to `fmspush run` (main only: tests that
// run the service in their own process keep theirs).
func limitProcs(args []string) {
	if len(args) > 0 && args[0] == "run" && os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(serviceProcs)
	}
}
