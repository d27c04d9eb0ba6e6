//go:build linux

package source

import (
	"context"
	"io"
	"net"
	"syscall"

	"github.com/fmspush/fmspush/internal/rawio"
)

// dialRaw dials a TCP connection whose reads are raw read(2) calls on the
// non-blocking socket, waiting in the netpoller (deadlines included). None
// blocks the thread, and unlike runtime-accounted syscalls they do not wake
// the runtime's monitor thread from its idle sleep: an RTSP camera's stream
// is a few hundred reads a second, and those wake-ups cost more than the
// reads on a virtual machine (rtmp's publisher does the same). Writes (the
// requests, a few RTCP reports) stay net.Conn's.
func dialRaw(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c, nil
	}
	return &rawConn{TCPConn: tc, raw: rc}, nil
}

// rawConn is a *net.TCPConn with raw reads.
type rawConn struct {
	*net.TCPConn
	raw syscall.RawConn
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := rawio.Read(c.raw, p, nil)
	if err == nil && n == 0 {
		return 0, io.EOF
	}
	return n, c.opError("read", err)
}

// opError reads as net.Conn's errors do.
func (c *rawConn) opError(op string, err error) error {
	if err == nil {
		return nil
	}
	if o, ok := err.(*net.OpError); ok {
		err = o.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
