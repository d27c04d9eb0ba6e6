package media

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// shifted returns the sample's units with every timestamp moved by d.
func shifted(us []Unit, d time.Duration) []Unit {
	out := make([]Unit, len(us))
	for i, u := range us {
		u.DTS += d
		u.PTS += d
		out[i] = u
	}
	return out
}

// outputCheck follows rebased output and asserts the target's view: per
// track strictly rising whole milliseconds and no step larger than maxStep.
type outputCheck struct {
	t       *testing.T
	maxStep time.Duration
	last    map[bool]time.Duration
	all     []Unit
}

func newOutputCheck(t *testing.T, maxStep time.Duration) *outputCheck {
	return &outputCheck{t: t, maxStep: maxStep, last: map[bool]time.Duration{}}
}

func (c *outputCheck) feed(r *Rebaser, us []Unit) {
	c.t.Helper()
	for _, u := range us {
		o := r.Rebase(u)
		v := o.Codec.IsVideo()
		if prev, ok := c.last[v]; ok {
			require.True(c.t, o.DTS/time.Millisecond > prev/time.Millisecond, "DTS not rising: %v after %v", o.DTS, prev)
			require.True(c.t, o.DTS-prev <= c.maxStep, "DTS jumped by %v", o.DTS-prev)
		}
		require.True(c.t, o.PTS >= o.DTS, "PTS before DTS")
		c.last[v] = o.DTS
		c.all = append(c.all, o)
	}
}

// Output starts at 0 whatever the camera's clock says, and keeps the
// relative timing of audio and video within an epoch.
func TestRebaserStartsAtZeroKeepsSync(t *testing.T) {
	c := loadSample(t)
	r := NewRebaser(0)
	chk := newOutputCheck(t, 100*time.Millisecond)
	in := shifted(c.Units, 123456*time.Second)
	chk.feed(r, in)
	require.Equal(t, time.Duration(0), chk.all[0].DTS)
	for i := range in {
		require.Equal(t, in[i].DTS-in[0].DTS, chk.all[i].DTS, "relative DTS of unit %v", i)
	}
	require.Equal(t, 1, r.Epochs())
}

// A camera that resets its clock (DTS back to 0), a source reconnect with
// unrelated timestamps, and a forward leap of an hour: the target sees one
// continuous timeline, each restart one frame after the last output.
func TestRebaserResetsReconnectsJumps(t *testing.T) {
	c := loadSample(t)
	r := NewRebaser(0)
	chk := newOutputCheck(t, 100*time.Millisecond)
	chk.feed(r, c.Units)                         // epoch 1
	chk.feed(r, c.Units)                         // camera reset to 0: epoch 2
	r.Discontinuity()                            // source reconnected
	chk.feed(r, shifted(c.Units, 5*time.Second)) // timestamps overlap the last epoch: epoch 3
	chk.feed(r, shifted(c.Units, time.Hour))     // leap forward: epoch 4
	require.Equal(t, 4, r.Epochs())
	require.InDelta(t, float64(4*c.Span()), float64(r.Next()), float64(100*time.Millisecond), "four spans of output")
}

// Small backward steps (jitter) are clamped, not treated as a reset.
func TestRebaserClampsJitter(t *testing.T) {
	r := NewRebaser(0)
	ms := time.Millisecond
	var outs []time.Duration
	for _, d := range []time.Duration{1000, 1040, 1035, 1080, 1080, 1120} {
		outs = append(outs, r.Rebase(Unit{Codec: CodecH264, DTS: d * ms, PTS: d * ms}).DTS/ms)
	}
	require.Equal(t, []time.Duration{0, 40, 41, 80, 81, 120}, outs)
	require.Equal(t, 1, r.Epochs())
}

// A path switch: the new session's rebaser continues from the old one's
// Next, so the target's timeline neither goes back nor jumps.
func TestRebaserPathSwitchContinues(t *testing.T) {
	c := loadSample(t)
	old := NewRebaser(0)
	chk := newOutputCheck(t, 100*time.Millisecond)
	chk.feed(old, c.Units[:200])
	nr := NewRebaser(old.Next())
	chk.feed(nr, shifted(c.Units[300:], 77*time.Second))
	require.Equal(t, old.Next(), chk.all[200].DTS, "continuation starts at Next")
}

// The composition offset (B-frames) survives rebasing.
func TestRebaserKeepsCompositionOffset(t *testing.T) {
	r := NewRebaser(2 * time.Second)
	u := r.Rebase(Unit{Codec: CodecH264, DTS: 9 * time.Second, PTS: 9*time.Second + 80*time.Millisecond})
	require.Equal(t, 2*time.Second, u.DTS)
	require.Equal(t, 2*time.Second+80*time.Millisecond, u.PTS)
}

// FuzzRebaser drives the rebaser with arbitrary timestamps: output always
// rises strictly per track, and the timeline as a whole never leaps by more
// than MaxJump plus a frame interval.
func FuzzRebaser(f *testing.F) {
	f.Add([]byte{0, 10, 1, 20, 0, 30, 200, 5, 1, 255, 0, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewRebaser(0)
		last := map[bool]time.Duration{}
		top := time.Duration(-1)
		var in [2]time.Duration
		for i := 0; i+1 < len(b); i += 2 {
			v := b[i]&1 == 0
			k := 0
			if !v {
				k = 1
			}
			if b[i]&2 != 0 {
				r.Discontinuity()
			}
			in[k] += time.Duration(int8(b[i+1])) * time.Duration(1+int(b[i]>>2)) * 37 * time.Millisecond
			codec := CodecAAC
			if v {
				codec = CodecH264
			}
			o := r.Rebase(Unit{Codec: codec, DTS: in[k], PTS: in[k]})
			if p, ok := last[v]; ok {
				require.Greater(t, o.DTS/time.Millisecond, p/time.Millisecond, "output %v after %v", o.DTS, p)
			}
			if top >= 0 {
				require.LessOrEqual(t, o.DTS-top, DefaultMaxJump+time.Second, "output leapt from %v to %v", top, o.DTS)
			}
			last[v], top = o.DTS, max(top, o.DTS)
		}
	})
}
