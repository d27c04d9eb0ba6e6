package main

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkFleetKill9Move measures the time a killed node's streams take to
// be live again on the others (kill -9 to the last moved stream's first
// frame at the emulator), over repeated kills of one of three nodes, at
// the default lease TTL (5 s); it reports p50, p99 and the worst.
// FMSPUSH_FLEET_KILLS sets the number of kills (default 10):
//
//	go test -run '^$' -bench FleetKill9Move -benchtime 1x ./cmd/fmspush
func BenchmarkFleetKill9Move(b *testing.B) {
	kills := 10
	if v, err := strconv.Atoi(os.Getenv("FMSPUSH_FLEET_KILLS")); err == nil && v > 0 {
		kills = v
	}
	nodes := []string{"a", "b", "c"}
	r := newFleetRig(b, 12, nodes...)
	own := r.settled(r.nodes["a"], 60*time.Second, nodes...)
	var took []time.Duration
	for b.Loop() {
		took = took[:0]
		for i := range kills {
			victim := nodes[i%len(nodes)]
			watcher := r.nodes[nodes[(i+1)%len(nodes)]]
			moved := ownedBy(own, victim)
			t0 := time.Now()
			r.nodes[victim].kill()
			took = append(took, r.movedWithin(moved, t0, fleetTTL+10*time.Second))
			r.start(victim)
			own = r.settled(watcher, 60*time.Second, nodes...)
		}
	}
	if o := r.overlaps(); o != "" {
		b.Fatalf("two live publishers: %s", o)
	}
	b.ReportMetric(ms(pct(took, 0.5)), "p50-move-ms")
	b.ReportMetric(ms(pct(took, 0.99)), "p99-move-ms")
	b.ReportMetric(ms(pct(took, 1)), "max-move-ms")
	b.Logf("%d kills -9 of one of three nodes, TTL %s: time to move p50 %s, p99 %s (bound TTL + 2 s = %s); all: %v",
		len(took), fleetTTL, pct(took, 0.5).Round(time.Millisecond), pct(took, 0.99).Round(time.Millisecond),
		fleetTTL+2*time.Second, fmt.Sprint(roundAll(took)))
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}
