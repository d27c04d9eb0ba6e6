package ffmpegpath

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// loopPair is a loopback TCP connection: the client side and the server's.
func loopPair(t *testing.T) (client, server net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server, err = ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// readErr is the server side's read result once the client side ended.
func readErr(t *testing.T, server net.Conn) error {
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(server)
	return err
}

func TestFindSocketOfThisProcess(t *testing.T) {
	client, _ := loopPair(t)
	s, err := findSocket(os.Getpid(), client.RemoteAddr().String())
	require.NoError(t, err)
	require.Equal(t, client.LocalAddr().String(), s.local.String())
	_, err = findSocket(os.Getpid(), "127.0.0.1:1")
	require.ErrorIs(t, err, errNoSocket)
}

func TestTargetAddrs(t *testing.T) {
	got, err := targetAddrs(context.Background(), "rtmp://127.0.0.1/live/k")
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:1935"}, got)
	got, err = targetAddrs(context.Background(), "rtmps://[::1]/live/k")
	require.NoError(t, err)
	require.Equal(t, []string{"[::1]:443"}, got)
	got, err = targetAddrs(context.Background(), "rtmp://localhost:19350/live/k")
	require.NoError(t, err)
	require.Contains(t, got, "127.0.0.1:19350")
}

// A held duplicate with linger 0 resets the connection when it is the last
// one closed, even though its owner closed its own descriptor in order.
func TestResetByDuplicateWithLinger0(t *testing.T) {
	client, server := loopPair(t)
	s, err := findSocket(os.Getpid(), client.RemoteAddr().String())
	require.NoError(t, err)
	rs := armReset(os.Getpid(), s)
	require.Equal(t, resetDup, rs.how)
	client.Close() // the owner lets go: no FIN yet, the duplicate holds the socket
	how, err := rs.release()
	require.NoError(t, err)
	require.Equal(t, resetDup, how)
	err = readErr(t, server)
	require.Truef(t, errors.Is(err, syscall.ECONNRESET), "the peer read %v, want ECONNRESET", err)
}

// SOCK_DESTROY (the fallback, CAP_NET_ADMIN) resets a connection by its
// addresses.
func TestResetBySockDestroy(t *testing.T) {
	client, server := loopPair(t)
	s, err := findSocket(os.Getpid(), client.RemoteAddr().String())
	require.NoError(t, err)
	if err := destroySocket(s.local, s.remote); err != nil {
		t.Skipf("SOCK_DESTROY is not available here: %v", err)
	}
	err = readErr(t, server)
	require.Truef(t, errors.Is(err, syscall.ECONNRESET), "the peer read %v, want ECONNRESET", err)
}
