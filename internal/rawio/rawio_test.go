//go:build linux

package rawio

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pair is a connected loopback TCP pair: the raw side and the peer.
func pair(t *testing.T) (syscall.RawConn, *net.TCPConn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	peer, err := l.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); peer.Close() })
	tc := c.(*net.TCPConn)
	rc, err := tc.SyscallConn()
	require.NoError(t, err)
	return rc, tc, peer
}

// Write puts every byte on the wire, beyond the send buffer (it waits in
// the netpoller while the peer reads); Read returns what came, waits for
// data, honours the deadline, and reports the end of the stream as 0, nil.
func TestReadWrite(t *testing.T) {
	rc, tc, peer := pair(t)
	big := make([]byte, 16<<20)
	for i := range big {
		big[i] = byte(i)
	}
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 0, len(big))
		buf := make([]byte, 64<<10)
		for len(b) < len(big) {
			n, err := peer.Read(buf)
			if err != nil {
				break
			}
			b = append(b, buf[:n]...)
		}
		got <- b
	}()
	n, err := Write(rc, big)
	require.NoError(t, err)
	require.Equal(t, len(big), n)
	require.Equal(t, big, <-got)

	calls := 0
	_, err = peer.Write([]byte("hello"))
	require.NoError(t, err)
	p := make([]byte, 16)
	n, err = Read(rc, p, func(uintptr) { calls++ })
	require.NoError(t, err)
	require.Equal(t, "hello", string(p[:n]))
	require.Positive(t, calls, "before not called")

	require.NoError(t, tc.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, err = Read(rc, p, nil)
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)

	require.NoError(t, tc.SetReadDeadline(time.Time{}))
	require.NoError(t, peer.Close())
	n, err = Read(rc, p, nil)
	require.NoError(t, err)
	require.Zero(t, n, "end of stream")
}

// A Conn reads as a net.Conn does: the data, a deadline as a *net.OpError
// "read" wrapping os.ErrDeadlineExceeded, the end of the stream as io.EOF;
// WriteRaw writes every byte.
func TestConnReadsAsNetConn(t *testing.T) {
	_, tc, peer := pair(t)
	c := NewConn(tc)
	require.NotNil(t, c)
	n, err := c.WriteRaw([]byte("ping"))
	require.NoError(t, err)
	require.Equal(t, 4, n)
	p := make([]byte, 16)
	n, err = peer.Read(p)
	require.NoError(t, err)
	require.Equal(t, "ping", string(p[:n]))

	_, err = peer.Write([]byte("pong"))
	require.NoError(t, err)
	n, err = c.Read(p)
	require.NoError(t, err)
	require.Equal(t, "pong", string(p[:n]))

	require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, err = c.Read(p)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	require.Equal(t, "read", op.Op)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)

	require.NoError(t, c.SetReadDeadline(time.Time{}))
	require.NoError(t, peer.Close())
	_, err = c.Read(p)
	require.ErrorIs(t, err, io.EOF)
}
