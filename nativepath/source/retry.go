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

// Limiter caps connection attempts per host over a sliding window, shared
// by every stream and path of the service (supervisor.HostLimiter): a
// source host is held to the same limit as a target host.
type Limiter interface {
	// Take records an attempt to host whatever the window holds.
	Take(host string)
	// TryTake records an attempt to host if fewer than limit (0: the
	// limiter's default) happened in the window; otherwise it says how
	// long until one is allowed.
	TryTake(host string, limit int) (ok bool, wait time.Duration)
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
	// Limiter, if set, passes every connection to Host through the
	// per-host limit: the first one is recorded without waiting (a start
	// is no reconnect), every reconnect waits until the window allows it,
	// at most PerMinute (0: the limiter's default). No limit without a Host
	// (files, the builtin sample).
	Limiter   Limiter
	Host      string
	PerMinute int
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
		if !r.limit(ctx, attempt) {
			return nil
		}
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

// limit passes one connection through the per-host limit: it reports
// false when ctx ended while it waited.
func (r *Retry) limit(ctx context.Context, attempt int) bool {
	if r.Limiter == nil || r.Host == "" {
		return true
	}
	if attempt == 0 {
		r.Limiter.Take(r.Host)
		return true
	}
	for {
		ok, wait := r.Limiter.TryTake(r.Host, r.PerMinute)
		if ok {
			return true
		}
		logger(r.Log).Debug("source reconnect held back by the per-host connection limit", "host", r.Host, "for", wait.Round(time.Millisecond))
		if !sleep(ctx, wait) {
			return false
		}
	}
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
