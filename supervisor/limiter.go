package supervisor

import (
	"context"
	"sync"
	"time"
)

// HostLimiter caps connection attempts per target host over a sliding
// minute. The history of attempts to a host is shared by every stream and
// path, and each caller passes its own limit: a stream allowed 6 a minute
// does not connect when 6 attempts to its host (by anyone) happened in the
// last minute, so no failure pattern can make fmspush reconnect to a host
// faster than its streams allow (platforms blacklist reconnect storms).
// Unlike a token bucket it never allows a burst above the limit within any
// window.
type HostLimiter struct {
	// PerMinute is the limit of callers that pass none (default 6).
	PerMinute int
	// Window is the sliding window (default one minute).
	Window time.Duration
	// Now is the clock; nil uses time.Now.
	Now func() time.Time

	mu       sync.Mutex
	attempts map[string][]time.Time
}

func (l *HostLimiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *HostLimiter) window() time.Duration {
	if l.Window > 0 {
		return l.Window
	}
	return time.Minute
}

func (l *HostLimiter) limit(perMinute int) int {
	switch {
	case perMinute > 0:
		return perMinute
	case l.PerMinute > 0:
		return l.PerMinute
	}
	return 6
}

// TryTake records an attempt to host if fewer than limit attempts (0: the
// default) happened in the window; otherwise it returns how long until one
// is allowed.
func (l *HostLimiter) TryTake(host string, limit int) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	recent := l.prune(host, now)
	n := l.limit(limit)
	if len(recent) < n {
		l.attempts[host] = append(recent, now)
		return true, 0
	}
	return false, recent[len(recent)-n].Add(l.window()).Sub(now)
}

func (l *HostLimiter) prune(host string, now time.Time) []time.Time {
	if l.attempts == nil {
		l.attempts = make(map[string][]time.Time)
	}
	list := l.attempts[host]
	cut := 0
	for cut < len(list) && now.Sub(list[cut]) >= l.window() {
		cut++
	}
	list = list[cut:]
	l.attempts[host] = list
	return list
}

// Take records an attempt to host whatever the window holds: a stream's
// first attempt is not a reconnect, so N streams to one host all start at
// once, while everything after counts against them.
func (l *HostLimiter) Take(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.attempts[host] = append(l.prune(host, now), now)
}

// Wait blocks until an attempt to host is allowed and records it.
func (l *HostLimiter) Wait(ctx context.Context, host string, limit int) error {
	for {
		ok, wait := l.TryTake(host, limit)
		if ok {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Recent is the number of attempts to host in the current window.
func (l *HostLimiter) Recent(host string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.prune(host, l.now()))
}
