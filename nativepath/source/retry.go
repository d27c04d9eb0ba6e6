package source

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/redact"
)

// Retry defaults.
const (
	DefaultRetryMin = 250 * time.Millisecond
	DefaultRetryMax = 5 * time.Second
	// healthySession resets the backoff: a session that lasted this long
	// was not a reconnect storm.
	healthySession = 10 * time.Second
)

// Restarter is implemented by sinks that want to know when the source
// reconnected (its timestamps may restart), e.g. to open a new rebasing
// epoch.
type Restarter interface {
	SourceRestarted()
}

// Retry runs a source again after it fails, with exponential backoff and
// ±20% jitter, until ctx ends. It implements Source and returns nil.
type Retry struct {
	Source Source
	// Min and Max bound the wait between attempts (DefaultRetryMin/Max).
	Min, Max time.Duration
	Log      hclog.Logger
	// OnDown, if set, is called with each failure (already redacted).
	OnDown func(error)
}

// Run implements Source.
func (r *Retry) Run(ctx context.Context, sink Sink) error {
	lo, hi := r.Min, r.Max
	if lo <= 0 {
		lo = DefaultRetryMin
	}
	if hi < lo {
		hi = max(lo, DefaultRetryMax)
	}
	wait := lo
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if rs, ok := sink.(Restarter); ok && attempt > 0 {
			rs.SourceRestarted()
		}
		t0 := time.Now()
		err := r.Source.Run(ctx, sink)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(t0) >= healthySession {
			wait = lo
		}
		r.down(err, wait)
		if !sleep(ctx, jitter(wait)) {
			return nil
		}
		wait = min(wait*2, hi)
	}
	return nil
}

func (r *Retry) down(err error, wait time.Duration) {
	if err == nil {
		err = errEnded
	}
	logger(r.Log).Warn("source down; reconnecting", "error", redact.Text(err.Error()), "in", wait)
	if r.OnDown != nil {
		r.OnDown(err)
	}
}

// jitter spreads d by ±20% so many streams do not reconnect in step.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
