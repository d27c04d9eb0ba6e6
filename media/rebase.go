package media

import "time"

// Rebaser defaults.
const (
	DefaultMaxJump  = 3 * time.Second
	DefaultJitter   = 500 * time.Millisecond
	defaultFrameGap = 40 * time.Millisecond
)

const (
	trackVideo = iota
	trackAudio
)

// Rebaser maps source timestamps onto the target's timeline. The target
// sees timestamps that start at a base (0 by default), rise strictly per
// track (in whole milliseconds, RTMP's resolution) and never jump, across
// source reconnects, camera timestamp resets and path switches.
//
// Audio and video share one offset per epoch, which keeps them in sync. A
// new epoch starts at the first unit, after Discontinuity (the source
// reconnected), and when a track's DTS goes back by more than Jitter or
// forward by more than MaxJump (the camera reset its clock). The first unit
// of a new epoch goes out one frame interval after the last output. Small
// backward steps are clamped per track. A Rebaser is not safe for
// concurrent use.
type Rebaser struct {
	// MaxJump is the largest forward DTS step kept as is (DefaultMaxJump).
	MaxJump time.Duration
	// Jitter is the largest backward DTS step clamped rather than treated
	// as a reset (DefaultJitter).
	Jitter time.Duration

	base     time.Duration
	started  bool
	pending  bool
	offset   time.Duration
	anchorIn time.Duration
	epochs   int
	tracks   [2]trackState
}

type trackState struct {
	haveIn, haveOut bool
	lastIn, lastOut time.Duration
	step            time.Duration
}

// NewRebaser returns a rebaser whose first output is at base. A session
// that takes over from another passes the previous rebaser's Next().
func NewRebaser(base time.Duration) *Rebaser { return &Rebaser{base: base} }

// Discontinuity tells the rebaser that the source restarted: the next unit
// opens a new epoch whatever its timestamp.
func (r *Rebaser) Discontinuity() { r.pending = true }

// Epochs counts the epochs so far (1 after the first unit).
func (r *Rebaser) Epochs() int { return r.epochs }

// Last is the latest output DTS, or base-1ms before any output.
func (r *Rebaser) Last() time.Duration {
	last, seen := r.base-time.Millisecond, false
	for _, t := range r.tracks {
		if t.haveOut && (!seen || t.lastOut > last) {
			last, seen = t.lastOut, true
		}
	}
	return last
}

// Next is where a continuation should start: Last plus one frame interval
// (base before any output).
func (r *Rebaser) Next() time.Duration {
	if !r.started {
		return r.base
	}
	return r.Last() + r.gap()
}

// Rebase returns u with DTS and PTS moved onto the output timeline; the
// composition offset (PTS-DTS) is kept (negative ones become 0).
func (r *Rebaser) Rebase(u Unit) Unit {
	tr := trackAudio
	if u.Codec.IsVideo() {
		tr = trackVideo
	}
	if !r.started || r.pending || r.jumped(tr, u.DTS) {
		r.newEpoch(u.DTS)
	}
	t := &r.tracks[tr]
	out := u.DTS + r.offset
	if t.haveOut && out/time.Millisecond <= t.lastOut/time.Millisecond {
		out = (t.lastOut/time.Millisecond + 1) * time.Millisecond
	}
	if t.haveIn && u.DTS > t.lastIn {
		t.step = u.DTS - t.lastIn
	}
	cto := max(u.PTS-u.DTS, 0)
	t.haveIn, t.lastIn, t.haveOut, t.lastOut = true, u.DTS, true, out
	u.DTS, u.PTS = out, out+cto
	return u
}

// jumped reports whether dts breaks the current epoch for track tr.
func (r *Rebaser) jumped(tr int, dts time.Duration) bool {
	maxJump, jitter := r.MaxJump, r.Jitter
	if maxJump <= 0 {
		maxJump = DefaultMaxJump
	}
	if jitter <= 0 {
		jitter = DefaultJitter
	}
	t := r.tracks[tr]
	if !t.haveIn {
		// A track's first unit in an epoch is checked against the epoch
		// start, both ways with MaxJump: tracks interleave loosely.
		d := dts - r.anchorIn
		return d > maxJump || d < -maxJump
	}
	d := dts - t.lastIn
	return d > maxJump || d < -jitter
}

func (r *Rebaser) newEpoch(dts time.Duration) {
	if r.started {
		r.offset = r.Next() - dts
	} else {
		r.offset = r.base - dts
	}
	r.started, r.pending, r.anchorIn = true, false, dts
	r.epochs++
	for i := range r.tracks {
		r.tracks[i].haveIn = false
	}
}

// gap is the nominal frame interval: the video step, else the audio step,
// else 40 ms.
func (r *Rebaser) gap() time.Duration {
	for _, t := range r.tracks {
		if t.step > 0 && t.step <= time.Second {
			return t.step
		}
	}
	return defaultFrameGap
}
