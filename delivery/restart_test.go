package delivery

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Restart starts the stall clock and the throughput window again: a gap in
// the samples that was this process's own pause is neither a stall nor a
// slow uplink, while what was taken and the lag stay.
func TestMeterRestart(t *testing.T) {
	s, m := newSim(64<<10), &Meter{StallTimeout: time.Second}
	for range 30 { // 3 s at 50 KB/s, a reader that keeps up
		m.Observe(s.step(100*time.Millisecond, 5000, 1<<20))
	}
	m.Mark(s.sent, 3*time.Second)
	// The process pauses 20 s with 5000 bytes written but not yet acknowledged.
	s.sent += 5000
	m.Observe(s.sample())
	s.now = s.now.Add(20 * time.Second)
	gap := m.Observe(s.sample())
	require.True(t, gap.Stalled, "without a restart the gap is a stall: %+v", gap)

	s2, m2 := newSim(64<<10), &Meter{StallTimeout: time.Second}
	for range 30 {
		m2.Observe(s2.step(100*time.Millisecond, 5000, 1<<20))
	}
	s2.sent += 5000
	m2.Observe(s2.sample())
	taken := m2.Observe(s2.sample()).Taken
	s2.now = s2.now.Add(20 * time.Second)
	m2.Restart(s2.now)
	s2.now = s2.now.Add(100 * time.Millisecond) // nothing acknowledged yet
	r := m2.Observe(s2.sample())
	require.False(t, r.Stalled, "%+v", r)
	require.Equal(t, 100*time.Millisecond, r.StalledFor)
	require.Equal(t, taken, r.Taken)
	require.Zero(t, r.Throughput, "no rate measured across the pause yet")
	r = m2.Observe(s2.step(100*time.Millisecond, 5000, 1<<20))
	require.False(t, r.Stalled)
	require.InDelta(t, 800_000, r.Throughput, 1000, "the rate from the samples after the pause only") // 10000 B in 100 ms
	// Still silent a stall timeout after the restart: a stall.
	s2.stale = true
	s2.bufSize = uint32(s2.acked - s2.read) // the peer stops taking anything
	for range 10 {
		r = m2.Observe(s2.step(100*time.Millisecond, 5000, 0))
	}
	require.True(t, r.Stalled, "%+v", r)
}
