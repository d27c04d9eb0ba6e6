package supervisor

import (
	"fmt"
	"testing"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/stretchr/testify/require"
)

func TestStatusCountsVerdictsByPathLayerAndCause(t *testing.T) {
	native := &scripted{kind: "native", fail: verdict(health.LayerConnect, "connect_rejected")}
	ff := &scripted{kind: "ffmpeg"}
	st := &Stream{Name: "s", Enabled: true, Preferred: PathSpec{Path: native, Probe: okProbe},
		Fallback: PathSpec{Path: ff, Probe: okProbe}, Policy: fastPolicy()}
	require.Empty(t, st.Status().VerdictCounts)
	runStream(t, st)
	testpeer.Eventually(t, 5*time.Second, "live on ffmpeg", func() bool {
		s := st.Status()
		return s.State == health.StateLive && s.ActivePath == "ffmpeg"
	})
	s := st.Status()
	require.Equal(t, []health.VerdictCount{{Path: "native", Layer: health.LayerConnect, Cause: "connect_rejected", Count: 1}}, s.VerdictCounts)
	require.False(t, s.LiveSince.IsZero(), "a live session says since when")
	require.False(t, s.LiveSince.Before(s.ActiveSince), "live after the session started")
}

func TestVerdictCountsAreBoundedAndFreeOfText(t *testing.T) {
	l := &loop{kinds: map[verdictKind]int64{}}
	count := func(path string, layer health.Layer, cause string) {
		l.countVerdict(&health.Verdict{Path: path, Layer: layer, Cause: cause})
	}
	count("native", health.LayerNetwork, "connection_refused")
	count("native", health.LayerNetwork, "connection_refused")
	count("native", health.LayerPublish, "rtmp://host/app/key refused")
	count("native", health.LayerPublish, "")
	count("ffmpeg", health.LayerProcess, "Exit_Status")
	got := l.verdictCounts()
	require.Equal(t, []health.VerdictCount{
		{Path: "ffmpeg", Layer: health.LayerProcess, Cause: health.CauseOther, Count: 1},
		{Path: "native", Layer: health.LayerNetwork, Cause: "connection_refused", Count: 2},
		{Path: "native", Layer: health.LayerPublish, Cause: health.CauseOther, Count: 2},
	}, got, "a cause that is no snake_case word is counted as other")

	for i := range 3 * maxVerdictKinds {
		count("native", health.LayerMedia, fmt.Sprintf("cause_%d", i))
	}
	got = l.verdictCounts()
	require.Len(t, got, maxVerdictKinds+1, "the kinds are capped: past the cap, one more (native, L5, other)")
	require.Contains(t, got, health.VerdictCount{Path: "native", Layer: health.LayerMedia, Cause: health.CauseOther, Count: 2*maxVerdictKinds + 3})
	var total int64
	for _, c := range got {
		total += c.Count
	}
	require.Equal(t, int64(5+3*maxVerdictKinds), total, "every verdict is counted, past the cap as other")
}
