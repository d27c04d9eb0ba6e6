//go:build linux

package wake

import (
	"container/heap"
	"context"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// clock is the process's timerfd and the waits it serves. Its syscalls
// are raw ones: a syscall the runtime accounts wakes its monitor thread.
type clock struct {
	fd       int
	file     *os.File
	rc       syscall.RawConn
	base     time.Time // base and baseMono are the same instant
	baseMono int64     // CLOCK_MONOTONIC, ns

	mu      sync.Mutex
	waiters waiterHeap
	armed   int64 // the timerfd's expiry (CLOCK_MONOTONIC ns); 0 disarmed
	// running is whether run's goroutine is up: it runs while anyone
	// waits, and ends when nobody does (no goroutine outlives the waits).
	running bool
}

// waiter is one wait: its channel (room for one value) gets the time at
// its instant; a ticker's is pushed back by its period.
type waiter struct {
	at     int64 // CLOCK_MONOTONIC ns
	period int64 // a ticker's, on the grid; 0 for one-shot waits
	ch     chan time.Time
	idx    int // in the heap; -1 when not in it
}

func newWaiter() *waiter { return &waiter{ch: make(chan time.Time, 1), idx: -1} }

type waiterHeap []*waiter

func (h waiterHeap) Len() int           { return len(h) }
func (h waiterHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h waiterHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i]; h[i].idx = i; h[j].idx = j }
func (h *waiterHeap) Push(x any)        { w := x.(*waiter); w.idx = len(*h); *h = append(*h, w) }
func (h *waiterHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	w.idx = -1
	return w
}

var (
	clockOnce sync.Once
	theClock  *clock // nil when no timerfd could be made: runtime timers then
)

// processClock returns the process's clock, made on first use.
func processClock() *clock {
	clockOnce.Do(func() { theClock = newClock() })
	return theClock
}

func newClock() *clock {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	// base first: mono() then errs late by the gap between the two reads,
	// never early, so that a waiter is due when its expiry is read.
	base := time.Now()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		unix.Close(fd)
		return nil
	}
	c := &clock{fd: fd, base: base, baseMono: ts.Nano(), file: os.NewFile(uintptr(fd), "wake")}
	rc, err := c.file.SyscallConn()
	if err != nil {
		c.file.Close()
		return nil
	}
	c.rc = rc
	return c
}

// mono is t on CLOCK_MONOTONIC (Go's monotonic clock is the same clock).
func (c *clock) mono(t time.Time) int64 { return c.baseMono + int64(t.Sub(c.base)) }

// roundUp rounds mono up to the next multiple of step.
func roundUp(mono, step int64) int64 { return (mono + step - 1) / step * step }

// sleep blocks until at, or until ctx ends.
func (c *clock) sleep(ctx context.Context, w *waiter, at time.Time) error {
	if !time.Now().Before(at) {
		return nil
	}
	c.mu.Lock()
	c.drain(w)
	c.add(w, c.mono(at))
	c.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		c.cancel(w)
		return ctx.Err()
	}
}

// schedule (re)arms a coarse timer (period 0), due in d on the grid, or a
// ticker, due at the multiples of its period (on the grid) from d on.
func (c *clock) schedule(w *waiter, d, period time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.idx >= 0 {
		heap.Remove(&c.waiters, w.idx)
	}
	c.drain(w)
	step := int64(Grid)
	if period > 0 {
		w.period = roundUp(int64(period), step)
		step = w.period
	}
	c.add(w, roundUp(c.mono(time.Now())+int64(max(d, 0)), step))
}

// cancel takes w out; nothing of its arming is received after it returns.
func (c *clock) cancel(w *waiter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.idx >= 0 {
		heap.Remove(&c.waiters, w.idx)
	}
	c.drain(w)
	if len(c.waiters) == 0 && c.running {
		c.arm(1) // at once: run sees nobody waits, and ends
	}
}

// drain empties w's channel; c.mu is held (fire sends under it too).
func (c *clock) drain(w *waiter) {
	select {
	case <-w.ch:
	default:
	}
}

// add puts w in the heap at mono and starts run if needed; c.mu is held.
func (c *clock) add(w *waiter, mono int64) {
	w.at = mono
	heap.Push(&c.waiters, w)
	if c.armed == 0 || w.at < c.armed {
		c.arm(w.at)
	}
	if !c.running {
		c.running = true
		go c.run()
	}
}

// arm sets the timerfd to expire at mono (absolute); c.mu is held.
func (c *clock) arm(mono int64) {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(mono)}
	_, _, e := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(c.fd), unix.TFD_TIMER_ABSTIME,
		uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	if e == 0 {
		c.armed = mono
	}
}

// run reads the timerfd's expirations and wakes the due waiters, until
// nobody waits.
func (c *clock) run() {
	var buf [8]byte
	for {
		err := c.rc.Read(func(fd uintptr) bool {
			_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), 8)
			return e != unix.EAGAIN
		})
		now := time.Now()
		if err != nil || !c.fire(now) {
			return
		}
	}
}

// fire wakes every waiter due by now, pushes tickers back by their period
// and arms the timerfd for the next; it reports whether anyone still
// waits (if not, run ends).
func (c *clock) fire(now time.Time) bool {
	mono := c.mono(now)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = 0
	for len(c.waiters) > 0 && c.waiters[0].at <= mono {
		w := c.waiters[0]
		select {
		case w.ch <- now:
		default:
		}
		if w.period > 0 {
			w.at = max(w.at+w.period, roundUp(mono+1, w.period))
			heap.Fix(&c.waiters, 0)
			continue
		}
		heap.Pop(&c.waiters)
	}
	if len(c.waiters) == 0 {
		c.running = false
		return false
	}
	c.arm(c.waiters[0].at)
	return true
}
