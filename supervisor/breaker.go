package supervisor

import (
	"time"

	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/health"
)

// Circuit states.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "half_open"
)

// Breaker is the circuit breaker of one (path, target) pair. It opens after
// Failures failures at the same layer within Window, stays open for Cooldown
// (doubling each time it re-opens, up to MaxCooldown), then half-opens: one
// probe or attempt decides whether it closes again. Source and process
// verdicts never count: they are not the target's answer to this path.
type Breaker struct {
	// Failures, Window and Cooldown default to config's (circuit_failures,
	// circuit_window, circuit_cooldown).
	Failures    int
	Window      time.Duration
	Cooldown    time.Duration
	MaxCooldown time.Duration // default 5m

	failures  map[health.Layer][]time.Time
	openUntil time.Time
	opened    int
	halfOpen  bool
}

func (b *Breaker) defaults() {
	if b.Failures <= 0 {
		b.Failures = config.DefaultCircuitFailures
	}
	if b.Window <= 0 {
		b.Window = config.DefaultCircuitWindow
	}
	if b.Cooldown <= 0 {
		b.Cooldown = config.DefaultCircuitCooldown
	}
	if b.MaxCooldown <= 0 {
		b.MaxCooldown = 5 * time.Minute
	}
	if b.failures == nil {
		b.failures = make(map[health.Layer][]time.Time)
	}
}

// Fail records a target-layer failure at now; it reports whether the circuit
// is open afterwards.
func (b *Breaker) Fail(layer health.Layer, now time.Time) bool {
	b.defaults()
	if !layer.IsTarget() {
		return b.State(now) == CircuitOpen
	}
	if b.halfOpen {
		b.open(now)
		return true
	}
	list := append(b.failures[layer], now)
	for len(list) > 0 && now.Sub(list[0]) > b.Window {
		list = list[1:]
	}
	b.failures[layer] = list
	if len(list) >= b.Failures {
		b.open(now)
	}
	return b.State(now) == CircuitOpen
}

func (b *Breaker) open(now time.Time) {
	cool := b.Cooldown
	for i := 0; i < b.opened && cool < b.MaxCooldown; i++ {
		cool *= 2
	}
	b.openUntil = now.Add(min(cool, b.MaxCooldown))
	b.opened++
	b.halfOpen = false
	clear(b.failures)
}

// Succeed records a success (a probe passed or a session went live): the
// circuit closes.
func (b *Breaker) Succeed() {
	b.defaults()
	b.halfOpen = false
	b.openUntil = time.Time{}
	b.opened = 0
	clear(b.failures)
}

// State is closed, open or half_open at now. An open circuit whose cooldown
// passed becomes half-open.
func (b *Breaker) State(now time.Time) string {
	switch {
	case b.halfOpen:
		return CircuitHalfOpen
	case b.openUntil.IsZero():
		return CircuitClosed
	case now.Before(b.openUntil):
		return CircuitOpen
	default:
		b.halfOpen = true
		b.openUntil = time.Time{}
		return CircuitHalfOpen
	}
}

// OpenUntil is when an open circuit half-opens (zero when not open).
func (b *Breaker) OpenUntil() time.Time { return b.openUntil }
