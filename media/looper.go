package media

import (
	"context"
	"errors"
	"time"

	"github.com/fmspush/fmspush/internal/wake"
)

// Clock is the time source that paces a Looper. Tests inject their own.
type Clock interface {
	Now() time.Time
	// After delivers on the returned channel once d has passed.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

// Looper replays a clip forever with continuous timestamps: the first unit
// comes out at DTS 0 and each track goes on one frame interval after its
// own last frame at every loop seam. With a clock it releases each unit
// when its DTS is due; without one it runs unpaced (benchmarks). Units
// share bytes with the clip: treat them as read-only. A Looper is not safe
// for concurrent use.
//
// The tracks cannot share one loop period and both step by one frame at
// the seam (the sample's video spans 10.000 s in 40 ms frames, its audio
// 10.031 s in 23.2 ms frames, starting 23 ms earlier): one period gave the
// video a 71 ms step at every seam. So video, the timing anchor, loops with
// its own span, and audio plays, at each loop, the whole number of its
// frames that keeps its clock nearest the video's (430 or 431 of the
// sample's 432): both tracks step by one frame interval (±1 ms of FLV's
// rounding) and never drift apart by more than half an audio frame.
type Looper struct {
	clip   *Clip
	clock  Clock
	first  time.Duration
	video  track
	audio  track
	period time.Duration // the anchor track's loop span
	start  time.Time
	sleep  wake.Sleeper // this looper's waits on the process's clock
	// Grid is the resolution of the looper's wake-ups on the real clock
	// (PaceGrid when zero): it wakes at the first multiple of Grid at or
	// after a unit is due and releases every unit due by then. A coarser
	// grid sends a clip in bursts (Grid of media in one write) with fewer
	// wake-ups; every unit still comes out at most Grid late, never early
	// (but for audio, see early), and its timestamp is untouched.
	Grid time.Duration
}

// track is one elementary stream of the clip being looped.
type track struct {
	units []Unit
	step  time.Duration // one frame
	idx   int           // next unit of this pass
	n     int           // units played this pass
	off   time.Duration // added to the clip's timestamps this pass
	loop  int           // completed passes
}

// NewLooper replays c, paced by clock (nil: unpaced).
func NewLooper(c *Clip, clock Clock) (*Looper, error) {
	if c == nil || len(c.Units) == 0 {
		return nil, errors.New("media: nothing to loop")
	}
	l := &Looper{clip: c, clock: clock, first: c.Units[0].DTS}
	l.video.step, l.audio.step = c.VideoFrameDuration(), c.AudioFrameDuration()
	for _, u := range c.Units {
		l.first = min(l.first, u.DTS)
		if u.Codec.IsVideo() {
			l.video.units = append(l.video.units, u)
		} else {
			l.audio.units = append(l.audio.units, u)
		}
	}
	if l.audio.step <= 0 {
		l.audio.step = commonGap(l.audio.units, false)
	}
	anchor := &l.video
	if len(anchor.units) == 0 {
		anchor = &l.audio
	}
	l.period = anchor.span()
	l.video.n = len(l.video.units)
	l.audio.n = l.audioFrames()
	return l, nil
}

// OpenFileLooper loops the FLV file at path at real time (file: sources).
// MP4 files return ErrNotSupported.
func OpenFileLooper(path string) (*Looper, error) {
	c, err := OpenClip(path)
	if err != nil {
		return nil, err
	}
	return NewLooper(c, SystemClock)
}

// span is the track's duration: first DTS to the end of its last frame.
func (t *track) span() time.Duration {
	if len(t.units) == 0 {
		return 0
	}
	return t.units[len(t.units)-1].DTS - t.units[0].DTS + t.step
}

// audioFrames chooses how many audio units the current pass plays: the
// whole number of frames that brings the audio's next pass start nearest
// the video's (all of them without video, or without a frame duration).
func (l *Looper) audioFrames() int {
	a := &l.audio
	if len(l.video.units) == 0 || a.step <= 0 || len(a.units) == 0 {
		return len(a.units)
	}
	want := time.Duration(a.loop+1)*l.period - a.off
	n := int((want + a.step/2) / a.step)
	return max(1, min(n, len(a.units)))
}

// endPass moves t to its next pass after n units.
func (l *Looper) endPass(t *track) {
	t.idx, t.loop = 0, t.loop+1
	if t == &l.video || len(l.video.units) == 0 || t.step <= 0 {
		t.off = time.Duration(t.loop) * l.period
		return
	}
	t.off += time.Duration(t.n) * t.step
	if behind := time.Duration(t.loop)*l.period - t.off; behind > t.step/2 {
		t.off += behind // an audio track shorter than the video: a gap, never a drift
	}
	t.n = l.audioFrames()
}

// peek is the DTS the track's next unit comes out with.
func (l *Looper) peek(t *track) time.Duration {
	return t.units[t.idx].DTS + t.off - l.first
}

// Video returns the clip's video parameters (nil without video).
func (l *Looper) Video() *VideoParams { return l.clip.Video }

// Audio returns the clip's audio parameters (nil without audio).
func (l *Looper) Audio() *AudioParams { return l.clip.Audio }

// Loops is the number of completed passes over the clip (of its video, or
// of its audio when it has no video).
func (l *Looper) Loops() int {
	if len(l.video.units) > 0 {
		return l.video.loop
	}
	return l.audio.loop
}

// Next returns the next unit in DTS order across the tracks, waiting until
// it is due when paced. It returns ctx.Err() if ctx ends first.
func (l *Looper) Next(ctx context.Context) (Unit, error) {
	t := &l.video
	if len(t.units) == 0 || (len(l.audio.units) > 0 && l.peek(&l.audio) < l.peek(t)) {
		t = &l.audio
	}
	u := t.units[t.idx]
	off := t.off - l.first
	u.DTS += off
	u.PTS += off
	if err := l.wait(ctx, u.DTS, l.early(t)); err != nil {
		return Unit{}, err
	}
	if t.idx++; t.idx >= t.n {
		l.endPass(t)
	}
	return u, nil
}

// PaceGrid is the default resolution of a paced Looper's wake-ups (Grid):
// it wakes at the first instant of a process-wide grid (PaceGrid apart) at
// or after a unit is due, so that the loopers of many streams due within
// the same PaceGrid wake together, in one expiry of the process's clock
// (internal/wake), instead of one wake-up each (64 streams of 30 fps
// video: at most 250 wake-ups a second instead of 1920). A unit comes out
// at most PaceGrid late; its timestamp is untouched. Only the real clock
// (SystemClock) is gridded.
const PaceGrid = 4 * time.Millisecond

// onGrid extends a wait of d from now to the next instant of a grid: a
// multiple of grid on the process's clock (internal/wake), so that the
// loopers' wake-ups and the periodic checks' coincide where they can.
func onGrid(now time.Time, d, grid time.Duration) time.Duration {
	return wake.Align(now.Add(d), grid).Sub(now)
}

// MaxLate is how far behind the clock a paced Looper may fall before it
// stops catching up: past it (the process was paused, or starved of CPU)
// it re-anchors on the clock and goes on at real time, instead of bursting
// the missed media out at once (a burst no publisher could tell from a
// slow target).
const MaxLate = time.Second

// early is how long before its DTS a unit of t may come out: audio, in a
// clip with video, up to one video frame early, so that the audio frames
// between two video frames come out right after the first of them and a
// paced Looper wakes once per video frame instead of once per unit (about
// 2.5 times as often for 30 fps video with AAC); the native session writes
// such a burst in one write. Video, and audio without video, come out when
// due.
func (l *Looper) early(t *track) time.Duration {
	if t == &l.audio && len(l.video.units) > 0 {
		return max(l.video.step, 0)
	}
	return 0
}

// wait blocks until start+dts-early on the clock.
func (l *Looper) wait(ctx context.Context, dts, early time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.clock == nil {
		return nil
	}
	now := l.clock.Now()
	if l.start.IsZero() {
		l.start = now.Add(-dts)
	}
	d := l.start.Add(dts).Sub(now)
	if d < -MaxLate {
		l.start = now.Add(-dts) // re-anchor: due now, the rest at real time
		return nil
	}
	d -= early
	if d <= 0 {
		return nil
	}
	if l.clock == SystemClock {
		grid := l.Grid
		if grid <= 0 {
			grid = PaceGrid
		}
		return l.sleep.Until(ctx, now.Add(onGrid(now, d, grid)))
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-l.clock.After(d):
		return nil
	}
}
