package supervisor

import (
	"math/rand/v2"
	"time"
)

// Backoff is an exponential delay with jitter for one (path, target) pair:
// Initial, doubling on every failure up to Max, each delay spread by ±Jitter.
// It is a plain object owned by one run loop.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	// Jitter is the spread as a fraction of the delay (0.2 = ±20%).
	Jitter float64
	// Rand returns a number in [0,1); nil uses math/rand/v2.
	Rand func() float64

	failures int
}

// Next records a failure and returns how long to wait before the next attempt.
func (b *Backoff) Next() time.Duration {
	d := b.Initial
	for i := 0; i < b.failures && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	b.failures++
	return b.spread(d)
}

// Peek is the delay the next failure would get, without jitter.
func (b *Backoff) Peek() time.Duration {
	d := b.Initial
	for i := 0; i < b.failures && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Failures is the number of failures since the last Reset.
func (b *Backoff) Failures() int { return b.failures }

// Reset forgets past failures (after a stable session).
func (b *Backoff) Reset() { b.failures = 0 }

func (b *Backoff) spread(d time.Duration) time.Duration {
	if b.Jitter <= 0 {
		return d
	}
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	f := 1 + b.Jitter*(2*r()-1)
	return time.Duration(float64(d) * f)
}
