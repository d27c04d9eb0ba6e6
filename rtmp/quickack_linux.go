//go:build linux

package rtmp

import (
	"net"
	"syscall"
)

// quickAckConn re-arms TCP_QUICKACK before every read, so that a server
// whose small writes wait for our ACK (Nagle) is not held up by our delayed
// ACK (40 ms on Linux). RTMP's setup is a chain of small request/answer
// exchanges: without it, a loopback connect to nginx-rtmp takes ~45 ms.
type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
}

func withQuickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &quickAckConn{Conn: c, raw: raw}
}

func (q *quickAckConn) Read(p []byte) (int, error) {
	q.raw.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
	return q.Conn.Read(p)
}

// CloseWrite half-closes the TCP connection.
func (q *quickAckConn) CloseWrite() error { return q.Conn.(*net.TCPConn).CloseWrite() }
