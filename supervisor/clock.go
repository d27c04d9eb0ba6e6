package supervisor

import (
	"time"

	"github.com/fmspush/fmspush/internal/wake"
)

// Clock is the time a Stream decides by: when an attempt is due (backoff,
// the per-host limit, the source and name-lock waits), when a circuit
// half-opens, how long the preferred path's probes have passed, when the
// standby is probed. A Stream with no Clock uses SystemClock; a test passes
// a simulated one (and the same Now to the HostLimiter), so that the
// decisions run without waiting for them.
//
// The pause watch (Stream.Pauses) tells the process's own pauses on the
// real clock: a simulated Clock goes with a Watch that sees none.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that sends the time on its channel once d
	// has passed (at once for d <= 0).
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker that sends the time every d (d > 0).
	NewTicker(d time.Duration) Ticker
}

// Timer is the part of a *time.Timer the run loop uses. As with Go's
// timers since 1.23, Reset and Stop discard a value not yet received.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration) bool
	Stop() bool
}

// Ticker is the part of a *time.Ticker the run loop uses.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

// NewTicker ticks on the process's clock (internal/wake): every stream's
// delivery and probe ticks due at the same instant fire in one wake-up,
// with the pause watch's, and no runtime timer wakes the runtime's monitor
// thread.
func (systemClock) NewTicker(d time.Duration) Ticker { return wakeTicker{wake.NewTicker(d)} }

type wakeTicker struct{ t *wake.Ticker }

func (t wakeTicker) C() <-chan time.Time { return t.t.C }
func (t wakeTicker) Stop()               { t.t.Stop() }

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time        { return t.t.C }
func (t sysTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }
func (t sysTimer) Stop() bool                 { return t.t.Stop() }
