package nativepath

import (
	"time"

	"github.com/fmspush/fmspush/media"
)

// Jumps larger than these in a running source are camera timestamp resets,
// not real time passing: the timeline is re-anchored instead of followed.
const (
	maxBackwardJump = time.Second
	maxForwardJump  = 10 * time.Second
	minStep         = 10 * time.Millisecond
)

// rebaser maps source timestamps onto the hub's one continuous timeline:
// it starts at 0, continues across source reconnects (advancing by the
// wall-clock outage) and across camera timestamp resets, so that no
// subscriber ever sees time go backwards or leap.
type rebaser struct {
	started   bool
	anchorDue bool
	offset    time.Duration
	lastOut   time.Duration
	lastWall  time.Time
	now       func() time.Time
}

func (r *rebaser) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// sourceRestarted marks that the next unit starts a new source epoch.
func (r *rebaser) sourceRestarted() { r.anchorDue = true }

func (r *rebaser) apply(u media.Unit) media.Unit {
	now := r.clock()
	switch {
	case !r.started:
		r.started, r.offset = true, -u.DTS
	case r.anchorDue:
		r.anchor(u, max(now.Sub(r.lastWall), minStep))
	default:
		out := u.DTS + r.offset
		if out < r.lastOut-maxBackwardJump || out > r.lastOut+maxForwardJump {
			r.anchor(u, minStep)
		}
	}
	r.anchorDue = false
	cts := u.PTS - u.DTS
	u.DTS += r.offset
	u.PTS = u.DTS + cts
	if u.DTS > r.lastOut {
		r.lastOut = u.DTS
	}
	r.lastWall = now
	return u
}

// anchor continues the timeline gap after the last output timestamp.
func (r *rebaser) anchor(u media.Unit, gap time.Duration) {
	r.offset = r.lastOut + gap - u.DTS
}
