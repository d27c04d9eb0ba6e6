package media

import (
	"context"
	"errors"
	"time"
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
// comes out at DTS 0 and loop N starts where loop N-1 ended plus one frame
// duration (Clip.Span). With a clock it releases each unit when its DTS is
// due; without one it runs unpaced (benchmarks). Units share bytes with the
// clip: treat them as read-only. A Looper is not safe for concurrent use.
type Looper struct {
	clip  *Clip
	clock Clock
	first time.Duration
	span  time.Duration
	loop  int
	idx   int
	start time.Time
}

// NewLooper replays c, paced by clock (nil: unpaced).
func NewLooper(c *Clip, clock Clock) (*Looper, error) {
	if c == nil || len(c.Units) == 0 {
		return nil, errors.New("media: nothing to loop")
	}
	first := c.Units[0].DTS
	for _, u := range c.Units {
		first = min(first, u.DTS)
	}
	return &Looper{clip: c, clock: clock, first: first, span: c.Span()}, nil
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

// Video returns the clip's video parameters (nil without video).
func (l *Looper) Video() *VideoParams { return l.clip.Video }

// Audio returns the clip's audio parameters (nil without audio).
func (l *Looper) Audio() *AudioParams { return l.clip.Audio }

// Loops is the number of completed passes over the clip.
func (l *Looper) Loops() int { return l.loop }

// Next returns the next unit, waiting until it is due when paced. It
// returns ctx.Err() if ctx ends first.
func (l *Looper) Next(ctx context.Context) (Unit, error) {
	u := l.clip.Units[l.idx]
	off := time.Duration(l.loop)*l.span - l.first
	u.DTS += off
	u.PTS += off
	if err := l.wait(ctx, u.DTS); err != nil {
		return Unit{}, err
	}
	if l.idx++; l.idx == len(l.clip.Units) {
		l.idx = 0
		l.loop++
	}
	return u, nil
}

// MaxLate is how far behind the clock a paced Looper may fall before it
// stops catching up: past it (the process was paused, or starved of CPU)
// it re-anchors on the clock and goes on at real time, instead of bursting
// the missed media out at once (a burst no publisher could tell from a
// slow target).
const MaxLate = time.Second

// wait blocks until start+dts on the clock.
func (l *Looper) wait(ctx context.Context, dts time.Duration) error {
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
	if d <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-l.clock.After(d):
		return nil
	}
}
