//go:build linux

package delivery

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReadConnUnwrapsTLS(t *testing.T) {
	ln := listen(t, 0)
	startReader(t, ln)
	c, err := net.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(make([]byte, 1000))
	require.NoError(t, err)
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) // never handshakes
	var s Sample
	poll(t, 5*time.Second, "the write acknowledged", func() bool {
		s, err = ReadConn(tc)
		require.NoError(t, err)
		return s.Queued == 0 && s.Acked >= 1000
	})
	require.Equal(t, uint64(1001), s.Sent(), "1000 bytes and the SYN")
	require.NotZero(t, s.PeerWindow)
	require.False(t, s.At.IsZero())
}

// TCP's busy time runs while bytes wait: a peer that never reads keeps a
// 4 MB write waiting, and Busy grows.
func TestReadConnBusyTime(t *testing.T) {
	ln := listen(t, 0)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	c, err := net.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	peer := <-accepted
	require.NotNil(t, peer)
	defer peer.Close()
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(200*time.Millisecond)))
	_, _ = c.Write(make([]byte, 4<<20)) // fills both buffers, then times out
	first, err := ReadConn(c)
	require.NoError(t, err)
	require.True(t, first.HasBusy)
	require.NotZero(t, first.Queued)
	poll(t, 5*time.Second, "busy time growing", func() bool {
		s, err := ReadConn(c)
		require.NoError(t, err)
		return s.Busy > first.Busy
	})
}

func TestReadConnRejectsOtherConns(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	_, err := ReadConn(a)
	require.ErrorIs(t, err, errNotTCP)
	_, err = ReadConn(nil)
	require.ErrorIs(t, err, errNotTCP)
	_, err = ReadConn(tls.Client(a, &tls.Config{}))
	require.ErrorIs(t, err, errNotTCP)
}

func TestParseSocketLink(t *testing.T) {
	for link, want := range map[string]uint32{"socket:[12345]": 12345, "socket:[4294967297]": 1} {
		got, ok := parseSocketLink(link)
		require.True(t, ok, link)
		require.Equal(t, want, got, link)
	}
	for _, link := range []string{"pipe:[1]", "socket:[]", "socket:[x]", "socket:[1", "/dev/null", "anon_inode:[eventfd]"} {
		_, ok := parseSocketLink(link)
		require.False(t, ok, link)
	}
}
