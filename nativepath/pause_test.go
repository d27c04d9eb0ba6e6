package nativepath

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/pause"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// The tests of this package judge timings on a loaded machine, where the
// test process itself may be starved of CPU for longer than the pause
// watch's slack, which would restart the clocks they time: in-process,
// only the pauses a test records count (a SIGSTOPped binary has its own).
func init() { pause.Default.Slack = time.Hour }

// After a restart (a pause of the process) the ack silence before it does
// not count: it counts again from the restart, once two spacings more were
// written.
func TestAckWatchRestart(t *testing.T) {
	var a ackWatch
	t0 := time.Unix(3000, 0)
	c := &fakeAcks{n: 1, seq: 16 << 10, at: t0, written: 20 << 10}
	require.Zero(t, a.observe(c, 16<<10, t0))
	c.written += 64 << 10
	require.Equal(t, 20*time.Second, a.observe(c, 16<<10, t0.Add(20*time.Second)), "silent across the pause")
	resumed := t0.Add(20 * time.Second)
	a.restart(resumed, c.written)
	require.Zero(t, a.observe(c, 16<<10, resumed.Add(time.Second)), "nothing written since the restart")
	c.written += 64 << 10
	require.Equal(t, 2*time.Second, a.observe(c, 16<<10, resumed.Add(2*time.Second)))
	// A server that never acked has no clock to restart.
	var b ackWatch
	b.restart(resumed, 1<<20)
	require.Zero(t, b.observe(&fakeAcks{written: 2 << 20}, 16<<10, resumed.Add(time.Hour)))
}

// A pause of the process while a real stall builds restarts the session's
// clocks (the stall evidence drops), and the stall is still found one
// stall_timeout after the pause: a pause never hides a server that stopped
// reading.
func TestPauseRestartsTheStallClockButNotItsJudgement(t *testing.T) {
	const stall = 2 * time.Second
	srv := startEmulator(t, "cloud", "stall_after_publish=1s")
	w := &pause.Watch{Slack: time.Hour} // only the pause the test records
	p := mustNew(t, Settings{Source: "builtin:sample", Target: srv.URL("live", "pausekey"), StallTimeout: stall, Pauses: w})
	r := start(t, p, 0)
	testpeer.Eventually(t, 15*time.Second, "a second of stall evidence", func() bool {
		return r.sig.UnackedFor.Load() >= time.Second.Milliseconds()
	})
	resumed := time.Now()
	w.Record(pause.Pause{From: resumed.Add(-10 * time.Second), To: resumed})
	testpeer.Eventually(t, 2*time.Second, "the stall clock restarted", func() bool {
		return r.sig.UnackedFor.Load() < (500 * time.Millisecond).Milliseconds()
	})
	var err error
	select {
	case err = <-r.done:
		r.done <- err
	case <-time.After(stall + 10*time.Second):
		require.FailNow(t, "no verdict after the pause")
	}
	var v *health.Verdict
	require.True(t, errors.As(err, &v), "verdict, got %v", err)
	require.Equal(t, health.CauseStalled, v.Cause, v.Error())
	after := v.At.Sub(resumed)
	t.Logf("stall found %v after the pause: %s", after.Round(time.Millisecond), v.Detail)
	require.GreaterOrEqual(t, after, stall-200*time.Millisecond, "the pause was counted as stall")
	require.Less(t, after, stall+time.Second)
}
