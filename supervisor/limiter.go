package supervisor

import (
	"context"
	"slices"
	"sync"
	"time"
)

// HostLimiter caps connection attempts per host over a sliding minute:
// target hosts, and source hosts (the native path's source reconnects and
// the ffmpeg path's runs, which pull the source anew). The history of
// attempts to a host is shared by every stream and path, and each caller
// passes its own limit: a stream allowed 6 a minute
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
	recorded func(host string, at time.Time) // tests: each attempt recorded
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
		l.record(host, recent, now)
		return true, 0
	}
	return false, recent[len(recent)-n].Add(l.window()).Sub(now)
}

// TryTakeAll is TryTake for one attempt that connects to every host given
// (a target and the source it reads): it records the attempt at each of
// them if each allows it, or at none, and then returns how long until all
// do. Empty and repeated hosts are skipped.
func (l *HostLimiter) TryTakeAll(limit int, hosts ...string) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	n := l.limit(limit)
	var take []string
	for i, h := range hosts {
		if h == "" || slices.Contains(hosts[:i], h) {
			continue
		}
		recent := l.prune(h, now)
		if len(recent) >= n {
			wait = max(wait, recent[len(recent)-n].Add(l.window()).Sub(now))
		}
		take = append(take, h)
	}
	if wait > 0 {
		return false, wait
	}
	for _, h := range take {
		l.record(h, l.attempts[h], now)
	}
	return true, 0
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
	l.record(host, l.prune(host, now), now)
}

// record appends an attempt at now to host's pruned history recent.
func (l *HostLimiter) record(host string, recent []time.Time, now time.Time) {
	l.attempts[host] = append(recent, now)
	if l.recorded != nil {
		l.recorded(host, now)
	}
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
