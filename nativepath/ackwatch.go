package nativepath

import (
	"time"

	"github.com/fmspush/fmspush/rtmp"
)

// DefaultAckWindow is the Window Acknowledgement Size the native path asks
// the server for at connect: an RTMP Acknowledgement every 16 KiB the
// server's application reads (4 a second at 0.5 Mbit/s), 16 bytes each.
const DefaultAckWindow = 16 << 10

// Once the media's rate is known, the session widens the window so that
// acks come about every ackSpacing (never under the configured window, never
// over maxAckWindow): acks closer together than the delivery checks that
// read them (deliveryPeriod) tell nothing more, and each one wakes the
// process (32 a second at 4 Mbit/s with 16 KiB; 5 with this).
const (
	ackSpacing   = 200 * time.Millisecond
	maxAckWindow = 1 << 20
)

// ackWindowFor is the window that spaces acks ackSpacing apart at
// bitsPerSecond, within [floor, maxAckWindow] (floor when the rate is
// unknown).
func ackWindowFor(bitsPerSecond float64, floor uint32) uint32 {
	w := uint32(min(bitsPerSecond/8*ackSpacing.Seconds(), maxAckWindow))
	return max(w, floor)
}

// retuneAckWindow tells whether the window in use is off by more than a
// factor of two from want: the window changes in steps, not with every
// wobble of the rate.
func retuneAckWindow(cur, want uint32) bool {
	return want > 2*cur || 2*want < cur
}

// ackWatch judges delivery from the server's RTMP Acknowledgements, where
// the server sends them: each says how much its application has read, so a
// server that stops reading stops acknowledging at once, whatever its
// kernel still buffers. It learns the server's real spacing of acks (a
// server may ignore the window asked for and use its own, 2.5 MB at FMS;
// nginx-rtmp acks on its reads, a little past the window) as a moving
// average, and only counts silence once more than two such spacings were
// written.
type ackWatch struct {
	n       int64     // acks seen
	seq     uint32    // the last ack's sequence number
	spacing uint64    // the usual spacing between acks, bytes (moving average)
	at      time.Time // when the last new ack arrived
	written uint64    // bytes written by then
}

// observe returns how long the server has acknowledged nothing while it
// should have (0 when acks flow, or the server never sent any).
func (a *ackWatch) observe(c ackSource, asked uint32, now time.Time) time.Duration {
	n := c.AcksReceived()
	if n == 0 {
		return 0
	}
	if n != a.n {
		seq := c.LastAck()
		// Several acks may arrive between two looks: the mean gap of them.
		// 32-bit sequence numbers wrap; the subtraction wraps with them.
		gap := max(int64(seq-a.seq)/(n-a.n), int64(asked))
		if a.n == 0 {
			a.spacing = uint64(gap)
		} else {
			sp := int64(a.spacing)
			a.spacing = uint64(sp + (gap-sp)/8)
		}
		a.n, a.seq, a.at, a.written = n, seq, c.LastAckAt(), c.BytesWritten()
		return 0
	}
	if c.BytesWritten()-a.written <= 2*a.spacing {
		return 0
	}
	return now.Sub(a.at)
}

// restart counts silence from now, and only once more than two spacings
// are written after written: the time before (a pause of this process) says
// nothing about the server.
func (a *ackWatch) restart(now time.Time, written uint64) {
	if a.n > 0 {
		a.at, a.written = now, written
	}
}

// ackSource is what ackWatch reads of a connection (*rtmp.Conn).
type ackSource interface {
	AcksReceived() int64
	LastAck() uint32
	LastAckAt() time.Time
	BytesWritten() uint64
}

var _ ackSource = (*rtmp.Conn)(nil)
