// Package bench measures what a user chooses fmspush by: CPU and RSS per
// stream of each path, how many native streams one machine holds, time to
// first frame, failover time under injected faults, probe time and added
// latency; and it runs the soak test.
//
// Every measurement runs the real service (bin/fmspush run) as a subprocess
// so that its CPU and RSS (and its ffmpeg children's) can be read from /proc,
// against the strict emulator (fmsim) running inside the bench process on a
// loopback port. Comparisons alternate the two sides within one run and
// report medians. The runner is bench/cmd/benchtable (make bench); the soak
// is TestSoak (make soak; a 2-minute version runs in make test).
package bench
