package rtmp

import (
	"errors"

	"github.com/fmspush/fmspush/delivery"
)

// Delivery samples TCP's accounting of the session's socket (what the
// server's TCP acknowledged, what waits, the server's window). The first
// call also anchors Sent to TCP's byte count, so make it before the first
// media write; only the owner calls it.
func (p *Publisher) Delivery() (delivery.Sample, error) {
	if p.tcp == nil {
		return delivery.Sample{}, errors.New("rtmp: no TCP socket to sample")
	}
	s, err := delivery.ReadConn(p.tcp)
	if err != nil {
		return s, err
	}
	if !p.calibrated {
		p.sentBase = s.Sent() - p.conn.BytesWritten()
		p.calibrated = true
	}
	return s, nil
}

// Sent is how many bytes the session handed to TCP, in TCP's own count
// (delivery.Sample coordinates): the offset a frame written now ends at.
// Valid after the first Delivery call.
func (p *Publisher) Sent() uint64 { return p.sentBase + p.conn.BytesWritten() }
