//go:build !linux

package media

import (
	"context"
	"time"
)

// pacer is the runtime's timers on systems without timerfd.
type pacer struct{}

type waiter struct {
	ch  chan struct{}
	idx int
}

func processPacer() *pacer { return nil }

func (p *pacer) wait(ctx context.Context, w *waiter, at time.Time) error { return nil }
