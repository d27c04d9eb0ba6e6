package delivery

import (
	"errors"
	"fmt"
	"time"
)

// Sample is TCP's accounting of one socket at one moment. Acked and Sent count in the
// kernel's coordinates: on a socket that opened the connection (a client) they include 1 for
// the SYN, so Mark offsets should come from Samples, not from a count of bytes written.
type Sample struct {
	At         time.Time
	Acked      uint64        // tcpi_bytes_acked: bytes the peer's TCP acknowledged
	Queued     uint64        // bytes handed to TCP, not yet acknowledged (unacked + not yet sent)
	PeerWindow uint32        // tcpi_snd_wnd: the peer's advertised receive window after scaling, bytes
	RTT        time.Duration // smoothed round trip (tcpi_rtt)
	// Busy is tcpi_busy_time: how long, since the connection began, TCP
	// had data to send or awaiting acknowledgement. HasBusy says the
	// kernel reported it (Linux 4.10 on, sockets of this process).
	Busy    time.Duration
	HasBusy bool
}

// Sent is Acked + Queued: every byte handed to TCP so far, in the same coordinates as Acked.
func (s Sample) Sent() uint64 { return s.Acked + s.Queued }

// ErrNoSocket means the process has no established TCP socket to that remote address.
var ErrNoSocket = errors.New("delivery: no such socket")

// errNotTCP is returned by ReadConn for a connection that does not unwrap to a socket.
var errNotTCP = errors.New("delivery: not a TCP connection")

// BytesText renders a byte count as people read it: "412 KB", "3.9 MB",
// "512 bytes"; verdicts and logs of both paths use it.
func BytesText(n uint64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
