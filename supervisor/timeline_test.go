package supervisor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// A stream resumed from another publisher's timeline starts past it by the
// time since, and Timeline reports the running session's last timestamp,
// then (stopped) the last one sent, for the next publisher.
func TestResumeContinuesAnotherPublishersTimeline(t *testing.T) {
	native := &scripted{kind: "native"}
	resume := Timeline{LastTS: 10 * time.Second, At: time.Now().Add(-2 * time.Second)}
	st := &Stream{Name: "s", Enabled: true, Preferred: PathSpec{Path: native, Probe: okProbe}, Policy: fastPolicy(), Resume: resume}
	before := st.Timeline()
	require.True(t, before.At.IsZero(), "no timeline before Run: %+v", before)
	stop := runStream(t, st)
	testpeer.Eventually(t, 5*time.Second, "live", func() bool { return st.Status().State == health.StateLive })
	native.mu.Lock()
	base := native.bases[0]
	native.mu.Unlock()
	require.GreaterOrEqual(t, base, 12*time.Second, "the first base continues the resumed timeline")
	require.Less(t, base, 13*time.Second)
	live := st.Timeline()
	require.Equal(t, (base + 500*time.Millisecond).Truncate(time.Millisecond), live.LastTS, "the running session's last timestamp (ms)")
	stop()
	ended := st.Timeline()
	require.Equal(t, live.LastTS, ended.LastTS, "the last timestamp sent, after the stop")
	require.False(t, ended.At.Before(live.At), "when it stopped")
}

// A stream that never sent anything has its start as its timeline: nothing
// before it.
func TestTimelineOfAStreamNeverLive(t *testing.T) {
	native := &scripted{kind: "native", fail: verdict(health.LayerConnect, "connect_rejected")}
	st := &Stream{Name: "s", Enabled: true, Preferred: PathSpec{Path: native, Probe: okProbe}, Policy: fastPolicy()}
	start := time.Now()
	runStream(t, st)
	testpeer.Eventually(t, 5*time.Second, "a timeline", func() bool { return !st.Timeline().At.IsZero() })
	tl := st.Timeline()
	require.Zero(t, tl.LastTS)
	require.WithinDuration(t, start, tl.At, time.Second)
}
