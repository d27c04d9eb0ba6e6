package supervisor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/pause"
	"github.com/fmspush/fmspush/rtmp"
)

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
	require.True(t, l.nameLocked(&health.Verdict{Layer: rtmp.LayerPublish, Cause: "publish_bad_name"}, resumed))

	// A failed probe that started before the pause is ignored.
	fail := health.ProbeSummary{OK: false, Verdict: &health.Verdict{Layer: rtmp.LayerConnect, Cause: "timeout"}}
	l.onProbe(probeResult{slot: l.slots[1], started: t0.Add(-time.Second), summary: &fail})
	require.Nil(t, l.slots[1].lastProbe, "a probe across the pause was judged")
	// One that started after it counts.
	l.onProbe(probeResult{slot: l.slots[1], started: resumed.Add(time.Millisecond), summary: &fail})
	require.NotNil(t, l.slots[1].lastProbe)
}
