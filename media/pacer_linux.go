//go:build linux

package media

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

// pacer wakes the paced loopers of the process from one timerfd, read in
// the netpoller: the thread that sleeps in epoll wakes once, on time, for
// every looper due at that instant. A runtime timer would wake it twice
// (the netpoller's wait has millisecond resolution and ends early, then
// waits one more millisecond) and would wake the runtime's monitor thread
// too, which sleeps until the next timer: three thread switches instead of
// one, once a frame per stream, on a machine where a thread switch costs
// more than the frame's write. Its syscalls are raw ones, for the same
// reason (rtmp's socket writes are too).
type pacer struct {
	fd       int
	file     *os.File
	base     time.Time // base and baseMono are the same instant
	baseMono int64     // CLOCK_MONOTONIC, ns

	rc      syscall.RawConn
	mu      sync.Mutex
	waiters waiterHeap
	armed   int64 // the timerfd's expiry (CLOCK_MONOTONIC ns); 0 disarmed
	// running is whether run's goroutine is up: it runs while anyone
	// waits, and ends when nobody does (no goroutine outlives the loopers).
	running bool
}

// waiter is one looper's wait: its channel gets a value at its instant.
type waiter struct {
	at  int64
	ch  chan struct{}
	idx int
}

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
	pacerOnce sync.Once
	thePacer  *pacer // nil when no timerfd could be made: runtime timers then
)

// processPacer returns the process's pacer, started on first use.
func processPacer() *pacer {
	pacerOnce.Do(func() { thePacer = newPacer() })
	return thePacer
}

func newPacer() *pacer {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		unix.Close(fd)
		return nil
	}
	p := &pacer{fd: fd, base: time.Now(), baseMono: ts.Nano(), file: os.NewFile(uintptr(fd), "pacer")}
	rc, err := p.file.SyscallConn()
	if err != nil {
		p.file.Close()
		return nil
	}
	p.rc = rc
	return p
}

// mono is t on CLOCK_MONOTONIC (Go's monotonic clock is the same clock).
func (p *pacer) mono(t time.Time) int64 { return p.baseMono + int64(t.Sub(p.base)) }

// wait blocks until at, or until ctx ends. w is the caller's, reused from
// one wait to the next (its channel has room for one value).
func (p *pacer) wait(ctx context.Context, w *waiter, at time.Time) error {
	w.at = p.mono(at)
	p.mu.Lock()
	heap.Push(&p.waiters, w)
	if p.armed == 0 || w.at < p.armed {
		p.arm(w.at)
	}
	if !p.running {
		p.running = true
		go p.run()
	}
	p.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		if w.idx >= 0 {
			heap.Remove(&p.waiters, w.idx)
		}
		if len(p.waiters) == 0 && p.running {
			p.arm(1) // at once: run sees nobody waits, and ends
		}
		p.mu.Unlock()
		select {
		case <-w.ch: // woken meanwhile
		default:
		}
		return ctx.Err()
	}
}

// arm sets the timerfd to expire at mono (absolute); p.mu is held.
func (p *pacer) arm(mono int64) {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(mono)}
	_, _, e := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(p.fd), unix.TFD_TIMER_ABSTIME,
		uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	if e == 0 {
		p.armed = mono
	}
}

// run reads the timerfd's expirations and wakes the due waiters, until
// nobody waits.
func (p *pacer) run() {
	var buf [8]byte
	for {
		err := p.rc.Read(func(fd uintptr) bool {
			_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), 8)
			return e != unix.EAGAIN
		})
		if err != nil || !p.fire(p.mono(time.Now())) {
			return
		}
	}
}

// fire wakes every waiter due by now and arms the timerfd for the next; it
// reports whether anyone still waits (if not, run ends).
func (p *pacer) fire(now int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = 0
	for len(p.waiters) > 0 && p.waiters[0].at <= now {
		w := heap.Pop(&p.waiters).(*waiter)
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
	if len(p.waiters) == 0 {
		p.running = false
		return false
	}
	p.arm(p.waiters[0].at)
	return true
}
