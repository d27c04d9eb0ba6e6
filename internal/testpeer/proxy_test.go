package testpeer

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// tcpServer is an upstream for the proxy tests: it echoes, or counts what it
// reads (sink), and keeps its accepted connections.
type tcpServer struct {
	ln    net.Listener
	echo  bool
	bytes atomic.Int64
	first atomic.Int64          // unix ns of the first byte read
	last  atomic.Int64          // unix ns of the last byte read
	err   atomic.Pointer[error] // the last connection's read error

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startTCPServer(t *testing.T, echo bool) *tcpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &tcpServer{ln: ln, echo: echo}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *tcpServer) serve(c net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			now := time.Now().UnixNano()
			s.first.CompareAndSwap(0, now)
			s.last.Store(now)
			s.bytes.Add(int64(n))
			if s.echo {
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}
		if err != nil {
			s.err.Store(&err)
			return
		}
	}
}

// conn returns the i-th accepted connection.
func (s *tcpServer) conn(t *testing.T, i int) net.Conn {
	t.Helper()
	var c net.Conn
	Eventually(t, 5*time.Second, "the upstream accepted the proxied connection", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.conns) > i {
			c = s.conns[i]
		}
		return c != nil
	})
	return c
}

func dialProxy(t *testing.T, p *Proxy) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip sends one byte through an echo and waits for it.
func roundTrip(t *testing.T, c net.Conn) time.Duration {
	t.Helper()
	start := time.Now()
	_, err := c.Write([]byte{1})
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadFull(c, make([]byte, 1))
	require.NoError(t, err)
	return time.Since(start)
}

func TestProxyURL(t *testing.T) {
	up := startTCPServer(t, true)
	p := StartProxy(t, up.ln.Addr().String())
	require.Equal(t, "rtmp://"+p.Addr()+"/live/key?wsSecret=a&b=c", p.URL("rtmp://10.0.0.1:1935/live/key?wsSecret=a&b=c"))
	require.Equal(t, "rtmps://"+p.Addr()+"/app/k", p.URL("rtmps://ingest.example.com/app/k"))
}

func TestProxyLatency(t *testing.T) {
	up := startTCPServer(t, true)
	p := StartProxy(t, up.ln.Addr().String())
	c := dialProxy(t, p)
	base := roundTrip(t, c)
	const oneWay = 60 * time.Millisecond
	p.SetLatency(oneWay)
	var rtts []time.Duration
	for i := 0; i < 5; i++ {
		rtts = append(rtts, roundTrip(t, c))
	}
	t.Logf("round trip: %v without latency, %v with %v each way", base, rtts, oneWay)
	for _, rtt := range rtts {
		require.GreaterOrEqual(t, rtt, 2*oneWay)
		require.Less(t, rtt, 2*oneWay+100*time.Millisecond)
	}
	p.SetLatency(0)
	require.Less(t, roundTrip(t, c), oneWay, "latency removed")
}

func TestProxyBandwidth(t *testing.T) {
	sink := startTCPServer(t, false)
	p := StartProxy(t, sink.ln.Addr().String())
	const kbit = 800 // 100 kB/s
	p.SetBandwidth(kbit)
	c := dialProxy(t, p)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a sender as fast as the proxy takes it
		defer wg.Done()
		buf := make([]byte, 8<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := c.Write(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	// Measure the rate at the receiver between 0.5 s and 3 s after the first byte.
	Eventually(t, 5*time.Second, "the first byte", func() bool { return sink.first.Load() != 0 })
	first := time.Unix(0, sink.first.Load())
	Eventually(t, 5*time.Second, "0.5 s of transfer", func() bool { return time.Since(first) >= 500*time.Millisecond })
	b0, t0 := sink.bytes.Load(), time.Now()
	Eventually(t, 10*time.Second, "3 s of transfer", func() bool { return time.Since(first) >= 3*time.Second })
	b1, t1 := sink.bytes.Load(), time.Now()
	rate := float64(b1-b0) * 8 / 1000 / t1.Sub(t0).Seconds()
	t.Logf("bandwidth cap %d kbit/s: measured %.0f kbit/s (%.1f%%)", kbit, rate, 100*(rate-kbit)/kbit)
	require.InEpsilon(t, kbit, rate, 0.2)

	p.SetBandwidth(0)
	b2, t2 := sink.bytes.Load(), time.Now()
	Eventually(t, 5*time.Second, "uncapped transfer", func() bool { return sink.bytes.Load()-b2 > 5<<20 })
	t.Logf("uncapped: 5 MiB in %v", time.Since(t2).Round(time.Millisecond))
}

// TestProxyFreeze: nothing passes either way while frozen, both connections
// stay open (no FIN, no RST), and a thaw delivers what was held, in order.
func TestProxyFreeze(t *testing.T) {
	up := startTCPServer(t, true)
	p := StartProxy(t, up.ln.Addr().String())
	c := dialProxy(t, p)
	roundTrip(t, c)
	server := up.conn(t, 0)

	p.Freeze()
	before := up.bytes.Load()
	msg := []byte("while frozen")
	_, err := c.Write(msg)
	require.NoError(t, err)
	require.Never(t, func() bool { return up.bytes.Load() != before }, 300*time.Millisecond, 20*time.Millisecond,
		"bytes passed a frozen proxy")
	// The client's connection is open: a read times out, no EOF, no reset.
	require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	// Downstream is frozen too.
	_, err = server.Write([]byte("down"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)

	p.Thaw()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	got := make([]byte, len("down")+len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, "down"+string(msg), string(got), "held bytes delivered in order after the thaw")
	roundTrip(t, c)
}

// FreezeExisting black-holes the connections open now; a new one passes.
func TestProxyFreezeExisting(t *testing.T) {
	up := startTCPServer(t, true)
	p := StartProxy(t, up.ln.Addr().String())
	old := dialProxy(t, p)
	roundTrip(t, old)

	p.FreezeExisting()
	_, err := old.Write([]byte{1})
	require.NoError(t, err)
	require.NoError(t, old.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
	_, err = old.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "the old connection is frozen")
	roundTrip(t, dialProxy(t, p))

	p.Thaw()
	require.NoError(t, old.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadFull(old, make([]byte, 1))
	require.NoError(t, err, "the held byte comes back after the thaw")
}

// TestProxyFreezeBuffering measures how much a frozen proxy takes from a
// sender before the sender's TCP sees a zero window: the bytes the proxy
// acknowledged (TCP_INFO bytes_acked on the client socket) and the bytes
// the client's writes accepted (those plus the client's send buffer).
func TestProxyFreezeBuffering(t *testing.T) {
	sink := startTCPServer(t, false)
	p := StartProxy(t, sink.ln.Addr().String())
	c := dialProxy(t, p)
	_, err := c.Write([]byte{0})
	require.NoError(t, err)
	Eventually(t, 5*time.Second, "the first byte through", func() bool { return sink.bytes.Load() == 1 })
	p.Freeze()
	accepted := 0
	buf := make([]byte, 16<<10)
	for {
		require.NoError(t, c.SetWriteDeadline(time.Now().Add(300*time.Millisecond)))
		n, err := c.Write(buf)
		accepted += n
		if err != nil {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			break
		}
	}
	var acked uint64
	var lastAcked uint64
	Eventually(t, 5*time.Second, "bytes_acked settles", func() bool {
		info := tcpInfo(t, c)
		settled := info.Bytes_acked == lastAcked && info.Snd_wnd == 0
		lastAcked, acked = info.Bytes_acked, info.Bytes_acked
		return settled
	})
	sndbuf, _ := syscall.GetsockoptInt(sockFD(t, c), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	t.Logf("frozen proxy: it acked %d bytes (%.0f KiB) before a zero window; the client's writes took %d bytes (%.0f KiB; client SO_SNDBUF %d); ProxyReadBuffer %d",
		acked-1, float64(acked-1)/1024, accepted, float64(accepted)/1024, sndbuf, ProxyReadBuffer)
	require.Equal(t, int64(1), sink.bytes.Load(), "nothing passed the freeze")
	require.Less(t, acked, uint64(1<<20), "a freeze is a black hole, not a big buffer")
	p.Thaw()
	Eventually(t, 10*time.Second, "everything delivered after the thaw", func() bool {
		return sink.bytes.Load() == int64(accepted)+1
	})
}

func sockFD(t *testing.T, c *net.TCPConn) int {
	rc, err := c.SyscallConn()
	require.NoError(t, err)
	var fd int
	require.NoError(t, rc.Control(func(f uintptr) { fd = int(f) }))
	return fd
}

func tcpInfo(t *testing.T, c *net.TCPConn) *unix.TCPInfo {
	t.Helper()
	rc, err := c.SyscallConn()
	require.NoError(t, err)
	var info *unix.TCPInfo
	var gerr error
	require.NoError(t, rc.Control(func(fd uintptr) { info, gerr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }))
	require.NoError(t, gerr)
	return info
}

// TestProxyResetPeers: both sides of a connection see a RST.
func TestProxyResetPeers(t *testing.T) {
	up := startTCPServer(t, true)
	p := StartProxy(t, up.ln.Addr().String())
	c := dialProxy(t, p)
	roundTrip(t, c)
	up.conn(t, 0)
	p.Freeze() // a reset also ends a frozen connection
	p.ResetPeers()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err := c.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNRESET)
	Eventually(t, 5*time.Second, "the upstream sees the reset", func() bool {
		e := up.err.Load()
		return e != nil && errors.Is(*e, syscall.ECONNRESET)
	})
	p.Thaw()
	c2 := dialProxy(t, p)
	roundTrip(t, c2) // new connections still work
}
