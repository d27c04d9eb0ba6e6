package delivery

import "time"

// DefaultStallTimeout is the StallTimeout a Meter uses when its field is zero.
const DefaultStallTimeout = 3 * time.Second

// Reading is a Meter's judgement of a connection at one sample.
type Reading struct {
	Taken      uint64        // bytes the server application has read: Acked less Backlog
	Backlog    uint64        // acknowledged by the server's kernel but not yet read by the server application
	Pending    uint64        // Sent - Taken: written, not yet taken
	StalledFor time.Duration // how long Taken has not advanced while newer data waited
	Stalled    bool          // StalledFor >= StallTimeout
	// Lag is the media written but not yet acknowledged by the server's TCP:
	// the last marked ts minus the ts at Acked (0 without marks). It is
	// measured against Acked, not Taken: a receiver with a large buffer makes
	// Backlog overstate what its application has not read (the package
	// documentation), and the lag bounds what sits in our own queue and on
	// the path, which is what a slow uplink fills.
	Lag time.Duration
	// Throughput is bits per second acknowledged, over about the last 2 s:
	// what the uplink delivers.
	Throughput float64
	// DrainRate is bits per second acknowledged per second that TCP was
	// busy (had data waiting or unacknowledged), over the same window: the
	// rate the path drains a queue at, which the times the writer had
	// nothing to send do not lower (Throughput does: a writer that was
	// itself held up looks like a slow uplink). 0 when unknown: no busy
	// time reported, or nothing acknowledged in the window.
	DrainRate float64
}

// Meter judges delivery from successive Samples of one connection (see the package
// documentation for the judgement). The zero value is ready to use. It is not safe for
// concurrent use: one owner calls Observe and Mark.
type Meter struct {
	StallTimeout time.Duration // default 3s (DefaultStallTimeout) when zero

	started  bool
	prev     Sample // the previous sample
	maxWnd   uint32 // the largest peer window seen
	taken    uint64 // the largest Taken computed
	clock    stallClock
	marks    markLog
	takenLog takenRing
}

// stallClock tracks how long Taken has not advanced while newer data waited.
type stallClock struct {
	sentAtAdvance uint64    // Sent at the sample where Taken last advanced
	since         time.Time // the last sample at which the peer was not behind
	active        time.Time // the latest sample since then that showed the writer active
}

// Observe folds in one sample and returns the judgement at s.At. Samples should come in
// time order; an earlier one never yields a negative StalledFor.
func (m *Meter) Observe(s Sample) Reading {
	backlog := m.backlog(s.PeerWindow)
	advanced := m.advance(s.Acked, backlog)
	sent := s.Sent()
	pending := sent - min(m.taken, sent)
	m.tick(s, advanced, pending)
	m.takenLog.add(s)
	m.marks.settle(s.Acked)
	m.prev, m.started = s, true
	stalledFor := max(m.clock.active.Sub(m.clock.since), 0)
	return Reading{
		Taken:      m.taken,
		Backlog:    backlog,
		Pending:    pending,
		StalledFor: stalledFor,
		Stalled:    stalledFor >= m.timeout(),
		Lag:        m.marks.lag(),
		Throughput: m.takenLog.rate(s),
		DrainRate:  m.takenLog.drainRate(s),
	}
}

// Mark records that media with timestamp ts ends at byte offset sent (Sample coordinates), for
// Lag. Offsets should not decrease; a mark below the previous one replaces the marks above it.
func (m *Meter) Mark(sent uint64, ts time.Duration) {
	m.marks.add(mark{off: sent, ts: ts})
	m.marks.settle(m.prev.Acked)
}

// Restart starts the stall clock and the throughput window again at at,
// keeping what was taken, the peer's window and the marks: for a gap in the
// samples that says nothing about the peer (this process did not run, see
// internal/pause). A stall is then judged from at; the throughput from the
// samples after it.
func (m *Meter) Restart(at time.Time) {
	m.clock.since, m.clock.active = at, at
	m.takenLog = takenRing{}
}

// timeout is StallTimeout or its default.
func (m *Meter) timeout() time.Duration {
	if m.StallTimeout > 0 {
		return m.StallTimeout
	}
	return DefaultStallTimeout
}

// backlog folds in the peer's window and returns the bytes it acknowledged but has not read.
func (m *Meter) backlog(wnd uint32) uint64 {
	m.maxWnd = max(m.maxWnd, wnd)
	return uint64(m.maxWnd - wnd)
}

// advance raises Taken to Acked - backlog if that is larger and reports whether it did.
func (m *Meter) advance(acked, backlog uint64) bool {
	if acked < backlog {
		return false
	}
	t := acked - backlog
	if t <= m.taken && m.started {
		return false
	}
	m.taken = max(m.taken, t)
	return true
}

// tick runs the stall clock for sample s.
func (m *Meter) tick(s Sample, advanced bool, pending uint64) {
	c := &m.clock
	sent := s.Sent()
	if advanced {
		c.sentAtAdvance = sent
	}
	if advanced || pending == 0 || sent <= c.sentAtAdvance {
		c.since, c.active = s.At, s.At // not behind
		return
	}
	if s.Queued > 0 || sent > m.prev.Sent() {
		c.active = s.At // the writer is active: newer data keeps arriving or waits in TCP
	}
}
