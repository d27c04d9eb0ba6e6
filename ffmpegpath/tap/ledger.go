package tap

import (
	"sync"
	"time"
)

// ackLedger keeps the RTMP evidence of one relayed session: the bytes
// forwarded to the server (after the handshake) and what the server's
// Acknowledgements say its application read. The writer of the server's
// socket calls wrote, the reader of it calls ack, the monitor calls look.
//
// It learns the server's real spacing of acks (at least the window asked
// for: a server may use a larger one of its own, and nginx-rtmp acks on its
// reads, a little past the window) as a moving average of the gaps. The
// server owes an ack once more than a spacing was forwarded beyond its last
// one: the stall clock runs from that moment (due) and a stall needs more
// than two spacings unacknowledged (the slack for a server that acks late).
type ackLedger struct {
	mu      sync.Mutex
	asked   uint64    // the window asked for
	written uint64    // bytes forwarded to the server after the handshake
	acked   uint64    // the last ack's sequence number, unwrapped to 64 bits
	seq     uint32    // the last ack's sequence number as sent
	acks    int64     // acks seen
	spacing uint64    // the usual gap between acks, bytes
	lastAck time.Time // when the last ack arrived
	due     time.Time // when more than a spacing beyond the last ack was forwarded; zero when not owed
	restart time.Time // when the clocks were last restarted after a pause (zero: never)
}

// ackState is a snapshot of an ackLedger.
type ackState struct {
	Written, Acked, Spacing uint64
	Acks                    int64
	LastAck                 time.Time
	Due                     time.Time
	// Restarted is when the clocks were last restarted after a pause.
	Restarted time.Time
}

func newAckLedger(asked uint32) *ackLedger { return &ackLedger{asked: uint64(asked)} }

// wrote records n bytes forwarded to the server at now.
func (l *ackLedger) wrote(n int, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.written += uint64(n)
	l.checkDue(now)
}

// checkDue starts the stall clock when an ack is owed; l.mu held.
func (l *ackLedger) checkDue(now time.Time) {
	if l.acks > 0 && l.due.IsZero() && l.written > l.acked+l.spacing {
		l.due = now
	}
}

// ack records an Acknowledgement with sequence number seq received at now.
// Sequence numbers wrap at 4 GiB; after the first, one that repeats the
// last or goes backwards (a step of more than half the space) is ignored.
func (l *ackLedger) ack(seq uint32, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	gap := uint64(seq - l.seq)
	if l.acks > 0 && (gap == 0 || gap > 1<<31) {
		return
	}
	l.acked += gap
	l.seq = seq
	l.learn(max(gap, l.asked))
	l.acks++
	l.lastAck, l.due = now, time.Time{}
	l.checkDue(now)
}

// learn folds one gap between acks into the spacing; l.mu held.
func (l *ackLedger) learn(gap uint64) {
	if l.acks == 0 {
		l.spacing = gap
		return
	}
	sp := int64(l.spacing)
	l.spacing = uint64(sp + (int64(gap)-sp)/8)
}

// restartAt starts the stall clock again at now, after a pause of this
// process: an ack owed since before it is owed from now (the server's acks
// may wait unread in the socket), and the acks count as fresh from now.
func (l *ackLedger) restartAt(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.restart = now
	if !l.due.IsZero() {
		l.due = now
	}
}

// look returns a snapshot.
func (l *ackLedger) look() ackState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return ackState{Written: l.written, Acked: l.acked, Spacing: l.spacing, Acks: l.acks, LastAck: l.lastAck, Due: l.due,
		Restarted: l.restart}
}

// Queued is what was forwarded beyond the last ack (0 if the server
// counts more than was forwarded: some count the handshake).
func (s ackState) Queued() uint64 { return s.Written - min(s.Acked, s.Written) }

// StalledFor is how long the server has owed an ack while more than two
// spacings waited: 0 when acks flow or the server never sent one.
func (s ackState) StalledFor(now time.Time) time.Duration {
	if s.Acks == 0 || s.Due.IsZero() || s.Queued() <= 2*s.Spacing {
		return 0
	}
	return max(now.Sub(s.Due), 0)
}
