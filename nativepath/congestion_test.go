package nativepath

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/media"
)

func TestDropperBoundsLag(t *testing.T) {
	d := dropper{maxDelay: 2 * time.Second}
	t0 := time.Unix(1000, 0)
	video := func(key bool) media.Unit { return media.Unit{Codec: media.CodecH264, Key: key} }
	audio := media.Unit{Codec: media.CodecAAC}

	// The sender's own queue may use 1.5 s of the 2 s (ownShare).
	require.True(t, d.keep(video(false), both(1400*time.Millisecond), t0), "under the bound: sent")
	require.False(t, d.congested(t0))
	require.False(t, d.keep(video(false), both(1600*time.Millisecond), t0), "past the bound: non-key video dropped")
	require.True(t, d.keep(audio, both(2500*time.Millisecond), t0), "audio always passes")
	require.True(t, d.congested(t0))
	require.False(t, d.keep(video(true), both(800*time.Millisecond), t0), "a keyframe while the wait is over half the bound: the GOP goes too")
	require.False(t, d.keep(video(false), both(500*time.Millisecond), t0), "no resuming on a non-key frame")
	require.True(t, d.keep(video(true), both(700*time.Millisecond), t0), "resumes on a keyframe once under half the bound")
	require.True(t, d.keep(video(false), both(700*time.Millisecond), t0))
	require.True(t, d.congested(t0.Add(congestedHold-time.Millisecond)), "still shown congested just after the drops")
	require.False(t, d.congested(t0.Add(congestedHold)))
}

// both is a wait the same at both rates (a link that is busy).
func both(d time.Duration) waits { return waits{taken: d, draining: d} }

// A wait long only at the rate the server took lately (this side had
// nothing to send for a while) starts no drops; once dropping, the wait at
// that rate decides when video resumes.
func TestDropperStartsOnTheDrainingWait(t *testing.T) {
	d := dropper{maxDelay: 2 * time.Second}
	t0 := time.Unix(1000, 0)
	key := media.Unit{Codec: media.CodecH264, Key: true}
	require.True(t, d.keep(key, waits{taken: 8 * time.Second, draining: 200 * time.Millisecond}, t0))
	require.False(t, d.keep(key, waits{taken: 1600 * time.Millisecond, draining: 1600 * time.Millisecond}, t0))
	require.False(t, d.keep(key, waits{taken: 800 * time.Millisecond, draining: 100 * time.Millisecond}, t0),
		"resumed on the draining wait")
	require.True(t, d.keep(key, waits{taken: 700 * time.Millisecond, draining: 100 * time.Millisecond}, t0))
}

func TestRateWindow(t *testing.T) {
	var w rateWindow
	t0 := time.Unix(2000, 0)
	for i := range 100 { // 2.5 s at 40 ms: 12.5 kB/s = 100 kbit/s
		w.add(t0.Add(time.Duration(i)*40*time.Millisecond), 500)
	}
	got := w.bitsPerSecond(t0.Add(100 * 40 * time.Millisecond))
	require.InDelta(t, 100_000, got, 10_000)
	require.Zero(t, w.bitsPerSecond(t0.Add(time.Minute)), "old buckets expire")
}
