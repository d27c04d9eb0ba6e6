package rtmp

import (
	"errors"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/fmspush/fmspush/delivery"
)

// stallLooks is how many times per write timeout a blocked write looks at
// TCP's count of acknowledged bytes: a stall is found at most
// timeout/stallLooks after the timeout.
const stallLooks = 10

// countingWriter counts a Conn's bytes and socket writes and bounds a
// blocked write by the server's progress, not by the write's duration.
type countingWriter struct {
	w       net.Conn
	n       *atomic.Uint64
	writes  *atomic.Uint64
	timeout time.Duration
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.write(p)
	c.n.Add(uint64(n))
	c.writes.Add(1)
	return n, err
}

// write writes all of p. With a timeout, it fails on the deadline only once
// the server's TCP acknowledged nothing for the timeout while the write
// waited. A write that waits for room in a large send buffer can wait for
// seconds while the server reads at its link's rate: Linux signals room
// only once a third of a full buffer has drained. Where TCP's count cannot
// be read (not a TCP socket), the deadline is the timeout from the call.
// The count is read only while a write waits: a write that does not wait
// costs no syscall more.
func (c countingWriter) write(p []byte) (int, error) {
	if c.timeout <= 0 {
		return c.w.Write(p)
	}
	w := stallWatch{conn: c.w, timeout: c.timeout, since: time.Now()}
	done := 0
	for {
		_ = c.w.SetWriteDeadline(w.deadline())
		n, err := c.w.Write(p[done:])
		done += n
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || w.stalled() {
			return done, err
		}
	}
}

// stallWatch follows the bytes the server's TCP acknowledged during one
// blocked write, looking every timeout/stallLooks.
type stallWatch struct {
	conn    net.Conn
	timeout time.Duration
	since   time.Time // the write's start, or the look that saw the count move
	acked   uint64    // the count at the last look
	looked  bool      // acked was read
}

// deadline is the next look at the count, or the stall's instant.
func (w *stallWatch) deadline() time.Time {
	end := w.since.Add(w.timeout)
	if look := time.Now().Add(w.timeout / stallLooks); look.Before(end) {
		return look
	}
	return end
}

// stalled looks at the count: true once it has not moved for the timeout
// (since the write began, if it cannot be read).
func (w *stallWatch) stalled() bool {
	now := time.Now()
	a, ok := ackedBytes(w.conn)
	if ok && w.looked && a != w.acked {
		w.since = now
	}
	w.acked, w.looked = a, ok
	return now.Sub(w.since) >= w.timeout
}

// ackedBytes is TCP's count of bytes the peer acknowledged on c.
func ackedBytes(c net.Conn) (uint64, bool) {
	s, err := delivery.ReadConn(c)
	return s.Acked, err == nil
}
