package delivery

import "time"

// ring is a bounded FIFO: adding to a full ring drops the oldest element.
type ring[T any] struct {
	buf  []T
	head int // index of the oldest element
	n    int
}

// newRing returns a ring holding at most size elements.
func newRing[T any](size int) ring[T] { return ring[T]{buf: make([]T, size)} }

// push appends v, dropping the oldest element when full.
func (r *ring[T]) push(v T) {
	if r.n == len(r.buf) {
		r.pop()
	}
	r.buf[(r.head+r.n)%len(r.buf)] = v
	r.n++
}

// pop drops the oldest element; the ring must not be empty.
func (r *ring[T]) pop() {
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

// at returns the i-th oldest element.
func (r *ring[T]) at(i int) T { return r.buf[(r.head+i)%len(r.buf)] }

// last returns the newest element; the ring must not be empty.
func (r *ring[T]) last() T { return r.at(r.n - 1) }

// truncate keeps the n oldest elements.
func (r *ring[T]) truncate(n int) { r.n = min(r.n, n) }

// maxMarks bounds the marks a Meter keeps.
const maxMarks = 4096

// mark says that media with timestamp ts ends at byte offset off.
type mark struct {
	off uint64
	ts  time.Duration
}

// markLog keeps the newest taken mark and a bounded ring of marks not yet taken.
//
// When more than maxMarks marks wait, the oldest waiting ones are dropped: Lag is then
// overestimated by at most the media between the dropped marks, until Taken passes them.
type markLog struct {
	pending ring[mark]
	taken   mark // the newest mark whose offset is at or below Taken
	hasTkn  bool
	newest  mark // the last mark added
	hasNew  bool
}

// add appends a mark; marks above its offset are dropped first.
func (l *markLog) add(k mark) {
	if l.pending.buf == nil {
		l.pending = newRing[mark](maxMarks)
	}
	i := l.pending.n
	for i > 0 && l.pending.at(i-1).off > k.off {
		i--
	}
	l.pending.truncate(i)
	l.pending.push(k)
	l.newest, l.hasNew = k, true
}

// settle moves the marks at or below taken out of the pending ring, keeping the newest.
func (l *markLog) settle(taken uint64) {
	for l.pending.n > 0 && l.pending.at(0).off <= taken {
		l.taken, l.hasTkn = l.pending.at(0), true
		l.pending.pop()
	}
}

// lag is the last marked timestamp less the timestamp at Taken. Before any mark is taken it
// is the span of the waiting marks (last less first): a lower bound, since the media before
// the first mark is not known. Without marks it is 0.
func (l *markLog) lag() time.Duration {
	if !l.hasNew {
		return 0
	}
	base := l.newest
	switch {
	case l.hasTkn:
		base = l.taken
	case l.pending.n > 0:
		base = l.pending.at(0)
	}
	return max(l.newest.ts-base.ts, 0)
}

// Throughput is measured over rateWindow, from at most rateSlots points spaced at least
// rateWindow/rateSlots apart, whatever the sampling rate.
const (
	rateWindow = 2 * time.Second
	rateSlots  = 64
)

// point is Acked, and TCP's busy time, at one moment.
type point struct {
	at    time.Time
	acked uint64
	busy  time.Duration
}

// minBusy stands for a busy time too short for the kernel's clock (a
// jiffy): the bytes were acknowledged about as soon as they were written.
const minBusy = time.Millisecond

// takenRing keeps Acked over the last rateWindow for Throughput and
// DrainRate.
type takenRing struct{ pts ring[point] }

// add records s, keeping one point older than the window as its base.
func (t *takenRing) add(s Sample) {
	if t.pts.buf == nil {
		t.pts = newRing[point](rateSlots)
	}
	if t.pts.n > 0 && s.At.Sub(t.pts.last().at) < rateWindow/rateSlots {
		return
	}
	t.pts.push(point{s.At, s.Acked, s.Busy})
	for t.pts.n > 1 && !t.pts.at(1).at.After(s.At.Add(-rateWindow)) {
		t.pts.pop()
	}
}

// rate is the bits per second acknowledged from the window's base point
// to s.
func (t *takenRing) rate(s Sample) float64 {
	if t.pts.n == 0 {
		return 0
	}
	base := t.pts.at(0)
	d := s.At.Sub(base.at).Seconds()
	if d <= 0 || s.Acked < base.acked {
		return 0
	}
	return float64(s.Acked-base.acked) * 8 / d
}

// drainRate is the bits acknowledged from the window's base point to s
// per second of TCP's busy time between them (0: unknown).
func (t *takenRing) drainRate(s Sample) float64 {
	if t.pts.n == 0 || !s.HasBusy {
		return 0
	}
	base := t.pts.at(0)
	if s.Acked <= base.acked || s.Busy < base.busy {
		return 0
	}
	busy := max(s.Busy-base.busy, minBusy)
	return float64(s.Acked-base.acked) * 8 / busy.Seconds()
}
