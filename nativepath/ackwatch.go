package nativepath

import (
	"time"

	"github.com/fmspush/fmspush/rtmp"
)

// DefaultAckWindow is the Window Acknowledgement Size the native path asks
// the server for: an RTMP Acknowledgement every 16 KiB the server's
// application reads (4 a second at 0.5 Mbit/s), 16 bytes each.
const DefaultAckWindow = 16 << 10

// ackWatch judges delivery from the server's RTMP Acknowledgements, where
// the server sends them: each says how much its application has read, so a
// server that stops reading stops acknowledging at once, whatever its
// kernel still buffers. It learns the server's real spacing of acks (a
// server may ignore the window asked for and use its own, 2.5 MB at FMS)
// and only counts silence once more than two such spacings were written.
type ackWatch struct {
	n       int64     // acks seen
	seq     uint32    // the last ack's sequence number
	spacing uint64    // the largest spacing seen between acks, bytes
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
		gap := uint64(seq - a.seq) // 32-bit sequence numbers wrap
		a.spacing = max(a.spacing, gap, uint64(asked))
		a.n, a.seq, a.at, a.written = n, seq, c.LastAckAt(), c.BytesWritten()
		return 0
	}
	if c.BytesWritten()-a.written <= 2*a.spacing {
		return 0
	}
	return now.Sub(a.at)
}

// ackSource is what ackWatch reads of a connection (*rtmp.Conn).
type ackSource interface {
	AcksReceived() int64
	LastAck() uint32
	LastAckAt() time.Time
	BytesWritten() uint64
}

var _ ackSource = (*rtmp.Conn)(nil)
