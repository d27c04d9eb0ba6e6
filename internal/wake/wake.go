// Package wake serves the process's timed waits from one timerfd read in
// the netpoller: the paced loopers' frame deadlines (Sleeper) and the
// coarse timers and tickers of the periodic checks (Timer, Ticker).
//
// Why not the runtime's timers: on a machine where a thread switch costs
// more than a frame's write (a virtual machine), a stream costs what its
// wake-ups cost. A runtime timer wakes the thread sleeping in epoll twice
// (the netpoller's wait has millisecond resolution and ends early, then
// waits one millisecond more) and wakes the runtime's monitor thread too,
// which sleeps until the next runtime timer and polls for a while after
// it; a timer that was stopped or pushed back still wakes both at its old
// instant. Here the thread in epoll wakes once, on time, for everything
// due at that instant, and the monitor thread, with no runtime timer to
// wait for, sleeps.
//
// Coarse timers fire on a shared grid (Grid), tickers at the multiples of
// their period: every periodic check of the process due at the same
// instant (the pause watch's quarter seconds, each stream's half-second
// delivery tick, ...) fires in the same wake-up, whatever the number of
// streams.
//
// On systems without timerfd the runtime's timers serve the same API.
package wake

import (
	"context"
	"time"
)

// Grid is the resolution of coarse timers and tickers: a timer fires at
// the first multiple of Grid (on the monotonic clock) at or after its due
// time; a ticker's period is rounded up to a multiple of Grid and it fires
// at the multiples of its period, together with every other wait due then.
const Grid = 50 * time.Millisecond

// epoch anchors Align's multiples without a timerfd.
var epoch = time.Now()

// Align returns the first multiple of step (step > 0) at or after t, on
// the clock that coarse timers and tickers fire by: waits aligned so wake
// up together with them.
func Align(t time.Time, step time.Duration) time.Time {
	var off int64
	if c := processClock(); c != nil {
		off = c.mono(t)
	} else {
		off = int64(t.Sub(epoch))
	}
	if r := off % int64(step); r != 0 {
		return t.Add(step - time.Duration(r))
	}
	return t
}

// Sleeper waits for instants on the process's clock. It is reused from one
// wait to the next; one goroutine uses it at a time.
type Sleeper struct {
	w *waiter
}

// Until blocks until at, or until ctx ends (then it returns ctx.Err()).
func (s *Sleeper) Until(ctx context.Context, at time.Time) error {
	c := processClock()
	if c == nil {
		return SleepRuntime(ctx, time.Until(at))
	}
	if s.w == nil {
		s.w = newWaiter()
	}
	return c.sleep(ctx, s.w, at)
}

// SleepRuntime waits d, or until ctx ends (then it returns ctx.Err()), on
// a runtime timer: for waits outside a stream's steady state.
func SleepRuntime(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Timer is a coarse one-shot timer: it sends the time on C at the first
// grid instant at or after it is due. After Stop or Reset returns, no
// value of the earlier arming is received from C.
type Timer struct {
	C <-chan time.Time
	w *waiter
	t *time.Timer // without timerfd
}

// arm starts a coarse wait on the process's clock (period 0: one-shot);
// nil without a timerfd.
func arm(d, period time.Duration) *waiter {
	c := processClock()
	if c == nil {
		return nil
	}
	w := newWaiter()
	c.schedule(w, d, period)
	return w
}

// NewTimer returns a timer due in d.
func NewTimer(d time.Duration) *Timer {
	if w := arm(d, 0); w != nil {
		return &Timer{C: w.ch, w: w}
	}
	rt := time.NewTimer(d)
	return &Timer{C: rt.C, t: rt}
}

// Reset makes the timer due in d from now, whether it fired or not.
func (t *Timer) Reset(d time.Duration) {
	if t.t != nil {
		t.t.Reset(d)
		return
	}
	processClock().schedule(t.w, d, 0)
}

// Stop cancels the timer.
func (t *Timer) Stop() {
	if t.t != nil {
		t.t.Stop()
		return
	}
	processClock().cancel(t.w)
}

// Ticker is a coarse ticker: it sends the time on C at each multiple of
// its period (rounded up to Grid), the first one at least a period after
// it starts (a tick that finds C full is dropped, as a time.Ticker drops
// it).
type Ticker struct {
	C <-chan time.Time
	w *waiter
	t *time.Ticker // without timerfd
}

// NewTicker returns a ticker of period d (d > 0). A period under Grid
// has no grid to share: it is a runtime ticker (tests tick that fast).
func NewTicker(d time.Duration) *Ticker {
	if d >= Grid {
		if w := arm(d, d); w != nil {
			return &Ticker{C: w.ch, w: w}
		}
	}
	rt := time.NewTicker(d)
	return &Ticker{C: rt.C, t: rt}
}

// Stop ends the ticks.
func (t *Ticker) Stop() {
	if t.t != nil {
		t.t.Stop()
		return
	}
	processClock().cancel(t.w)
}
