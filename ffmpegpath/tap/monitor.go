package tap

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/fmspush/fmspush/delivery"
)

// The evidence a judgement rests on (Reading.Evidence, StallError.Evidence).
const (
	// EvidenceAck: the server's RTMP Acknowledgements (what its application read).
	EvidenceAck = "rtmp_ack"
	// EvidenceTCP: TCP's accounting of the relay's own socket to the
	// server (delivery.Meter), for servers that send no acknowledgements.
	EvidenceTCP = "tcp"
)

// Reading is the relay's judgement of delivery at one sample, for status
// and metrics.
type Reading struct {
	// At is when the reading was taken.
	At time.Time
	// Forwarded is the bytes relayed to the server after the handshake,
	// the injected Window Acknowledgement Size included.
	Forwarded uint64
	// Acked is the bytes the server's application read, from its last
	// Acknowledgement (32-bit sequence numbers unwrapped).
	Acked uint64
	// Acks counts the Acknowledgements received; AckSeen is Acks > 0: the
	// judgement then rests on them.
	Acks    int64
	AckSeen bool
	// LastAckAt is when the last Acknowledgement arrived.
	LastAckAt time.Time
	// AckSpacing is the server's usual spacing of acknowledgements, bytes.
	AckSpacing uint64
	// Injected reports whether the Window Acknowledgement Size went out.
	Injected bool
	// Queued is what was forwarded and not yet taken: Forwarded - Acked
	// with acknowledgements, TCP's Pending without.
	Queued uint64
	// StalledFor is how long the server has taken nothing while data
	// waited; Stalled is StalledFor >= StallTimeout.
	StalledFor time.Duration
	Stalled    bool
	// Evidence is EvidenceAck or EvidenceTCP.
	Evidence string
	// TCP is delivery.Meter's reading of the relay's socket to the server:
	// Lag (media written but not acknowledged by the server's TCP, from the
	// timestamps of the media messages relayed), Throughput, Taken, Pending.
	TCP delivery.Reading
}

// StallError is what a Relay ends with when the server stopped taking the
// stream: nothing was acknowledged for For while Queued bytes waited.
type StallError struct {
	// At is when the stall was judged.
	At time.Time
	// For is how long the server acknowledged nothing (with RTMP acks: since
	// the last one) or took nothing (TCP's evidence).
	For time.Duration
	// Queued is the bytes forwarded and not acknowledged.
	Queued uint64
	// Evidence is EvidenceAck or EvidenceTCP.
	Evidence string
}

// Error says how long and how much.
func (e *StallError) Error() string {
	return fmt.Sprintf("tap: stalled: the server took nothing for %.1f s; %s queued (%s)",
		e.For.Seconds(), delivery.BytesText(e.Queued), e.Evidence)
}

// tcpEvidence is the delivery.Meter of the server socket: the monitor
// observes, the up direction marks media.
type tcpEvidence struct {
	mu    sync.Mutex
	meter delivery.Meter
	last  delivery.Reading
}

// mark records that media with timestamp ts ends at byte offset off.
func (e *tcpEvidence) mark(off uint64, ts time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.meter.Mark(off, ts)
}

// observe samples c and returns the Meter's reading (the last one when c
// cannot be sampled: it is closing).
func (e *tcpEvidence) observe(c net.Conn) delivery.Reading {
	smp, err := delivery.ReadConn(c)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		e.last = e.meter.Observe(smp)
	}
	return e.last
}

// restart starts the Meter's stall clock again at now (after a pause).
func (e *tcpEvidence) restart(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.meter.Restart(now)
	e.last.StalledFor, e.last.Stalled = 0, false
}

// lastReading is the Meter's last reading.
func (e *tcpEvidence) lastReading() delivery.Reading {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// monitor judges delivery every interval until ffmpeg's side ends or the
// server stalls; on a stall it resets the server connection.
func (s *session) monitor() {
	t := time.NewTicker(s.cfg.interval)
	defer t.Stop()
	for {
		select {
		case <-s.upEnded:
			return
		case <-t.C:
			// A tick's value is when it was due, also after a pause: read the clock.
			now := time.Now()
			if s.restartAfterPause(now) {
				continue
			}
			if e := s.judge(now); e != nil {
				s.stalled(e)
				return
			}
		}
	}
}

// restartAfterPause restarts the stall clocks at now, and reports it, when
// this process was paused since the last judgement (settings.paused).
func (s *session) restartAfterPause(now time.Time) bool {
	if s.cfg.paused == nil || !s.cfg.paused(now) {
		return false
	}
	s.ledger.restartAt(now)
	s.tcp.restart(now)
	s.cfg.log.Debug("tap: stall clocks restarted after a pause of this process")
	return true
}

// judge takes one reading and returns a stall, if it is one.
func (s *session) judge(now time.Time) *StallError {
	tcp := s.tcp.observe(s.raw)
	a := s.ledger.look()
	r := compose(a, tcp, now, s.cfg.stall)
	r.Injected = s.injected.Load()
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if !r.Stalled || closing {
		return nil
	}
	e := &StallError{At: now, For: r.StalledFor, Queued: r.Queued, Evidence: r.Evidence}
	if r.Evidence == EvidenceAck {
		e.For = now.Sub(later(a.LastAck, a.Restarted))
	}
	return e
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// stalled records the stall and ends the session with a reset.
func (s *session) stalled(e *StallError) {
	s.mu.Lock()
	s.stallErr = e
	s.mu.Unlock()
	s.cfg.log.Warn("tap: the server stopped taking the stream; resetting the connection",
		"for", e.For.Round(time.Millisecond), "queued", e.Queued, "evidence", e.Evidence)
	s.resetServer()
}

// current returns a reading now: the acks as they stand, TCP's evidence
// as of the last sample.
func (s *session) current() Reading {
	r := compose(s.ledger.look(), s.tcp.lastReading(), time.Now(), s.cfg.stall)
	r.Injected = s.injected.Load()
	return r
}

// compose judges from both kinds of evidence. Acknowledgements, where the
// server sends them, are its application's own word: a stall is more than
// two spacings forwarded beyond the last one and an ack owed for timeout.
// TCP's judgement (which errs late, never early: delivery's documentation)
// counts only while no ack came for timeout: for servers that never ack,
// or that ack at a window far larger than asked.
func compose(a ackState, tcp delivery.Reading, now time.Time, timeout time.Duration) Reading {
	r := Reading{At: now, Forwarded: a.Written, Acked: a.Acked, Acks: a.Acks, AckSeen: a.Acks > 0,
		LastAckAt: a.LastAck, AckSpacing: a.Spacing, TCP: tcp, Evidence: EvidenceTCP, Queued: tcp.Pending}
	ackFor := a.StalledFor(now)
	fresh := a.Acks > 0 && now.Sub(later(a.LastAck, a.Restarted)) < timeout
	tcpFor := tcp.StalledFor
	if fresh {
		tcpFor = 0
	}
	if r.AckSeen {
		r.Evidence, r.Queued = EvidenceAck, a.Queued()
	}
	r.StalledFor = max(ackFor, tcpFor)
	switch {
	case ackFor >= timeout:
		r.Stalled, r.StalledFor = true, ackFor
	case tcpFor >= timeout && tcp.Stalled:
		r.Stalled, r.StalledFor, r.Evidence, r.Queued = true, tcpFor, EvidenceTCP, tcp.Pending
	}
	return r
}
