//go:build !linux

package wake

import (
	"context"
	"time"
)

// clock is absent without timerfd: the runtime's timers serve the API.
type clock struct{}

type waiter struct{ ch chan time.Time }

func newWaiter() *waiter { return &waiter{ch: make(chan time.Time, 1)} }

func processClock() *clock { return nil }

func (c *clock) sleep(ctx context.Context, w *waiter, at time.Time) error { return nil }

func (c *clock) schedule(w *waiter, d, period time.Duration) {}

func (c *clock) cancel(w *waiter) {}

func (c *clock) mono(t time.Time) int64 { return 0 }
