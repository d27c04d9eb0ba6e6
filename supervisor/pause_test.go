package supervisor

import (
	"context"
	"sync/atomic"
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

// After a pause of the process the loop's own clocks restart: the
// preferred path's probes must pass failback_after again (the pause proved
// nothing about the target), the name-lock window does not count it, and a
// probe that ran across the pause (its timeouts ran out while nothing ran)
// is no news.
func TestLoopClocksRestartAfterAPause(t *testing.T) {
	t0 := time.Now()
	w := &pause.Watch{}
	w.Tick(t0)
	st := &Stream{Name: "s", Enabled: true, Preferred: PathSpec{Path: &scripted{kind: "native"}},
		Fallback: PathSpec{Path: &scripted{kind: "ffmpeg"}}, Pauses: w}
	l := st.newLoop()
	l.pauses = pause.NewTracker(w, t0)
	pref := l.slots[0]
	pref.probeOKSince = t0.Add(-time.Minute)
	l.liveEnd = t0.Add(-5 * time.Second)
	resumed := t0.Add(20 * time.Second)
	w.Tick(resumed)

	l.checkPause(resumed)
	require.Equal(t, resumed, pref.probeOKSince, "the failback clock counted the pause")
	require.Equal(t, t0.Add(15*time.Second), l.liveEnd, "the name-lock window counted the pause")
	require.True(t, l.nameLocked(&health.Verdict{Layer: health.LayerPublish, Cause: "publish_bad_name"}, resumed))

	// A failed probe that started before the pause is ignored.
	fail := health.ProbeSummary{OK: false, Verdict: &health.Verdict{Layer: health.LayerConnect, Cause: "timeout"}}
	l.onProbe(probeResult{slot: l.slots[1], started: t0.Add(-time.Second), summary: &fail}, nil)
	require.Nil(t, l.slots[1].lastProbe, "a probe across the pause was judged")
	// One that started after it counts.
	l.onProbe(probeResult{slot: l.slots[1], started: resumed.Add(time.Millisecond), summary: &fail}, nil)
	require.NotNil(t, l.slots[1].lastProbe)
}

// endable is a path that goes live and publishes until the test ends the
// session with a verdict.
type endable struct {
	runs atomic.Int64
	end  chan *health.Verdict
}

func (p *endable) Kind() string                    { return "native" }
func (p *endable) Check(ctx context.Context) error { return nil }

func (p *endable) Run(ctx context.Context, base time.Duration, sig *health.Signals) error {
	p.runs.Add(1)
	sig.VideoFrames.Add(1)
	sig.MarkLive()
	select {
	case <-ctx.Done():
		return nil
	case v := <-p.end:
		return v
	}
}

// A session that fails at the target right after a pause of the process
// (a write deadline that ran out while nothing ran) is retried at once on
// the same path, not counted against it and not failed over; the same
// failure with no pause fails over.
func TestFailureRightAfterAPauseIsRetriedNotFailedOver(t *testing.T) {
	w := &pause.Watch{Slack: time.Hour} // only the pause the test records
	native := &endable{end: make(chan *health.Verdict)}
	ff := &scripted{kind: "ffmpeg"}
	st := &Stream{Name: "s", Enabled: true, Preferred: PathSpec{Path: native, Probe: okProbe},
		Fallback: PathSpec{Path: ff, Probe: okProbe}, Policy: fastPolicy(), Pauses: w}
	runStream(t, st)
	liveOnNative := func() bool {
		s := st.Status()
		return s.State == health.StateLive && s.ActivePath == "native"
	}
	testpeer.Eventually(t, 5*time.Second, "live on native", liveOnNative)
	now := time.Now()
	w.Record(pause.Pause{From: now.Add(-20 * time.Second), To: now})
	native.end <- verdict(health.LayerUpkeep, health.CauseStalled)
	testpeer.Eventually(t, 5*time.Second, "native retried and live", func() bool {
		return native.runs.Load() == 2 && liveOnNative()
	})
	s := st.Status()
	require.Zero(t, s.Counters.Failovers, "%+v", s.Failovers)
	require.Zero(t, ff.runs.Load(), "ffmpeg ran")
	require.Len(t, s.LastVerdicts, 1)
	require.Contains(t, s.LastVerdicts[0].Detail, "right after a pause of the service for 20 s")
	for _, p := range s.Paths {
		require.Zero(t, p.Failures, "%s counted the failure", p.Kind)
	}
	// Past the afterglow the same failure is the target's.
	testpeer.Eventually(t, 5*time.Second, "the pause's afterglow over", func() bool {
		return time.Since(now) > pauseAfterglow
	})
	native.end <- verdict(health.LayerUpkeep, health.CauseStalled)
	testpeer.Eventually(t, 5*time.Second, "failover to ffmpeg", func() bool {
		s := st.Status()
		return s.State == health.StateLive && s.ActivePath == "ffmpeg" && s.Counters.Failovers == 1
	})
}
