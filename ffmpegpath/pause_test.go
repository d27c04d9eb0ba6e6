package ffmpegpath

import (
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/delivery"
	"github.com/fmspush/fmspush/ffmpegpath/tap"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/pause"
)

// The tests of this package judge timings on a loaded machine, where the
// test process itself may be starved of CPU for longer than the pause
// watch's slack, which would restart the clocks they time: in-process,
// only the pauses a test records count (a SIGSTOPped binary has its own).
func init() { pause.Default.Slack = time.Hour }

// pausedRun is a published, live push whose last progress came at t0, with
// a watch whose process was paused from t0 to t0+20s.
func pausedRun(t0 time.Time) (*run, *pause.Watch) {
	w := &pause.Watch{}
	w.Tick(t0)
	r := &run{s: Settings{StaleTimeout: time.Second, StartTimeout: 15 * time.Second, Logger: hclog.NewNullLogger()},
		sig: health.NewSignals(), start: t0.Add(-time.Minute), publishedAt: t0.Add(-time.Minute),
		firstFrameAt: t0.Add(-time.Minute), lastAdvance: t0,
		paused: &pauseClock{tracker: pause.NewTracker(w, t0.Add(-time.Minute))}}
	w.Tick(t0.Add(20 * time.Second))
	return r, w
}

// The watchdog's "no progress for stale_timeout" counts from the end of a
// pause of this process, not across it; a real hang after it is still found.
func TestWatchdogRestartsAfterAPause(t *testing.T) {
	t0 := time.Unix(5000, 0)
	resumed := t0.Add(20 * time.Second)
	r, _ := pausedRun(t0)
	r.checkPause(resumed)
	r.watch(&proc{}, resumed.Add(100*time.Millisecond))
	require.False(t, r.stalled, "the pause was taken for a hung ffmpeg")
	r.watch(&proc{}, resumed.Add(1100*time.Millisecond))
	require.True(t, r.stalled, "no progress for stale_timeout after the pause")
	require.InDelta(t, 1100*time.Millisecond, r.staleFor, float64(10*time.Millisecond))

	// Without the pause check the same gap is a hang at once.
	r2, _ := pausedRun(t0)
	r2.watch(&proc{}, resumed.Add(100*time.Millisecond))
	require.True(t, r2.stalled)
}

// The socket's stall clock restarts after a pause: the first sample after
// it judges nothing, a server silent for stall_timeout after it is a stall.
func TestSockWatchRestartsAfterAPause(t *testing.T) {
	t0 := time.Unix(5000, 0)
	w := &sockWatch{stall: time.Second, sig: health.NewSignals(), meter: delivery.Meter{StallTimeout: time.Second}}
	smp := delivery.Sample{At: t0, Acked: 1000, Queued: 5000, PeerWindow: 65535}
	r := w.meter.Observe(smp)
	require.False(t, r.Stalled)
	smp.At, smp.Queued = t0.Add(100*time.Millisecond), 6000
	w.meter.Observe(smp)
	resumed := t0.Add(20 * time.Second)
	w.restart(resumed)
	smp.At, smp.Queued = resumed.Add(100*time.Millisecond), 7000
	r = w.meter.Observe(smp)
	require.False(t, r.Stalled, "the pause counted as the server's silence: %+v", r)
	require.Equal(t, 100*time.Millisecond, r.StalledFor)
	smp.At, smp.Queued = resumed.Add(time.Second), 8000
	require.True(t, w.meter.Observe(smp).Stalled)
}

// pauseClock.since counts from the later of t and the last restart.
func TestPauseClockSince(t *testing.T) {
	t0 := time.Unix(5000, 0)
	var nilClock *pauseClock
	require.Equal(t, time.Second, nilClock.since(t0, t0.Add(time.Second)))
	_, ok := nilClock.check(t0)
	require.False(t, ok)
	r, _ := pausedRun(t0)
	p, ok := r.paused.check(t0.Add(20 * time.Second))
	require.True(t, ok)
	require.Equal(t, 20*time.Second, p.Len())
	require.Equal(t, 100*time.Millisecond, r.paused.since(t0, t0.Add(20*time.Second+100*time.Millisecond)))
	require.Equal(t, 100*time.Millisecond, r.paused.since(t0.Add(21*time.Second), t0.Add(21*time.Second+100*time.Millisecond)))
}

// Through the relay, a pause restarts the relay's own clocks (its Paused
// hook: TestRelayPausedHook, and tap's TestRelayRestartsItsClocksAfterAPause),
// and the watch forgets the reading taken before it: the progress
// watchdog firing right after a pause does not take it for the server's
// stall.
func TestTapWatchForgetsReadingsAcrossAPause(t *testing.T) {
	t0 := time.Unix(5000, 0)
	w := &tapWatch{sig: health.NewSignals(), latch: stallLatch{lastAt: t0},
		last: tap.Reading{At: t0, StalledFor: 2 * time.Second, Queued: 50000, Evidence: tap.EvidenceAck}}
	w.restart(t0.Add(20 * time.Second))
	require.Nil(t, w.starving(t0.Add(20*time.Second+100*time.Millisecond)))

	w.last, w.latch.lastAt = tap.Reading{At: t0, StalledFor: 2 * time.Second, Queued: 50000, Evidence: tap.EvidenceAck}, t0
	st := w.starving(t0.Add(100 * time.Millisecond))
	require.NotNil(t, st, "fresh evidence of a server taking nothing")
	require.Equal(t, tap.EvidenceAck, st.Evidence)
}
