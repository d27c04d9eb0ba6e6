package delivery

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
	"golang.org/x/sys/unix"
)

// listen opens a loopback listener; rcvbuf > 0 sets SO_RCVBUF on it (inherited by accepted
// sockets, and set before the handshake so that the window scale fits it).
func listen(t *testing.T, rcvbuf int) net.Listener {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		if rcvbuf == 0 {
			return nil
		}
		var err error
		if cerr := c.Control(func(fd uintptr) {
			err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln
}

// reader accepts one connection and reads it until stop closes, then keeps it open without
// reading until the test ends.
type reader struct {
	stop    chan struct{}
	stopped chan time.Time // when the reader stopped reading
	done    chan struct{}
}

// startReader serves one connection of ln.
func startReader(t *testing.T, ln net.Listener) *reader {
	r := &reader{stop: make(chan struct{}), stopped: make(chan time.Time, 1), done: make(chan struct{})}
	quit := make(chan struct{})
	go r.serve(ln, quit)
	t.Cleanup(func() {
		close(quit)
		ln.Close()
		<-r.done
	})
	return r
}

// serve reads in 16 KiB reads with short deadlines so that it notices stop promptly.
func (r *reader) serve(ln net.Listener, quit chan struct{}) {
	defer close(r.done)
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	buf := make([]byte, 16<<10)
	for {
		select {
		case <-r.stop:
			r.stopped <- time.Now()
			<-quit
			return
		case <-quit:
			return
		default:
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		if _, err := c.Read(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			if err != io.EOF {
				<-quit
			}
			return
		}
	}
}

// pacer writes bytesPerSec to c in 10 ms slices without ever blocking for long: a slice the
// send buffer cannot take within its deadline is dropped, as a live source would.
type pacer struct {
	c     net.Conn
	rate  int // bytes per second
	chunk []byte
}

// tick writes one 10 ms slice.
func (p *pacer) tick() {
	if p.chunk == nil {
		p.chunk = make([]byte, p.rate/100)
	}
	_ = p.c.SetWriteDeadline(time.Now().Add(2 * time.Millisecond))
	_, _ = p.c.Write(p.chunk)
}

// flow is one paced connection observed by a Meter every 100 ms.
type flow struct {
	rate, rcvbuf int
	stopAfter    time.Duration // when the reader stops reading; 0: never
	run          time.Duration // the longest run
	timeout      time.Duration // the Meter's StallTimeout
}

// result is what a flow observed.
type result struct {
	detect      time.Duration // from the reader stopping to the first Stalled reading; -1: never
	ackedStop   time.Duration // from the reader stopping to Acked no longer advancing; -1: never
	earlyStalls int           // Stalled readings while the reader was reading
	samples     []Sample
	readings    []Reading
}

// runFlow drives f until the Meter reports a stall after the reader stopped, or f.run passes.
func runFlow(t *testing.T, f flow) result {
	ln := listen(t, f.rcvbuf)
	rd := startReader(t, ln)
	c, err := net.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	p := &pacer{c: c, rate: f.rate}
	m := &Meter{StallTimeout: f.timeout}
	res := result{detect: -1, ackedStop: -1}
	var stoppedAt time.Time
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for n := 0; time.Since(start) < f.run && res.detect < 0; n++ {
		<-tick.C
		p.tick()
		if f.stopAfter > 0 && stoppedAt.IsZero() && time.Since(start) >= f.stopAfter {
			close(rd.stop)
			stoppedAt = <-rd.stopped
		}
		if n%int(sampleEvery/(10*time.Millisecond)) == 0 {
			res.observe(t, c, m, stoppedAt)
		}
	}
	return res
}

// observe samples c into m and records the judgement.
func (res *result) observe(t *testing.T, c net.Conn, m *Meter, stoppedAt time.Time) {
	s, err := ReadConn(c)
	require.NoError(t, err)
	r := m.Observe(s)
	if n := len(res.samples); n > 0 && !stoppedAt.IsZero() && res.ackedStop < 0 &&
		s.Acked == res.samples[n-1].Acked && s.Queued > 0 {
		res.ackedStop = res.samples[n-1].At.Sub(stoppedAt)
	}
	res.samples, res.readings = append(res.samples, s), append(res.readings, r)
	switch {
	case r.Stalled && stoppedAt.IsZero():
		res.earlyStalls++
	case r.Stalled && res.detect < 0:
		res.detect = s.At.Sub(stoppedAt)
	}
}

// logFlow logs the samples and readings of res.
func logFlow(t *testing.T, res result) {
	for i, s := range res.samples {
		r := res.readings[i]
		t.Logf("%3d acked %9d queued %7d wnd %8d | taken %9d backlog %8d pending %8d stalledFor %v",
			i, s.Acked, s.Queued, s.PeerWindow, r.Taken, r.Backlog, r.Pending, r.StalledFor.Round(time.Millisecond))
	}
}

// Bitrates and receive buffers of the loopback tests.
const (
	lowRate  = 64 << 10 // bytes per second: 0.5 Mbit/s
	highRate = 4e6 / 8  // 4 Mbit/s
	bigBuf   = 4 << 20  // SO_RCVBUF, doubled by the kernel
)

// sampleEvery is how often the loopback tests observe.
const sampleEvery = 100 * time.Millisecond

func TestLoopbackStallDetection(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	for _, tc := range []struct {
		name         string
		rate, rcvbuf int
		within       time.Duration // the required detection time; 0: only never worse than bytes_acked
	}{
		{"4Mbps/default-rcvbuf", highRate, 0, timeout + 500*time.Millisecond},
		// At 0.5 Mbit/s the default-buffer peer advertises a window capped below its free
		// space (rcv_ssthresh), so unread bytes do not shrink it for about a second.
		{"0.5Mbps/default-rcvbuf", lowRate, 0, 0},
		// With a large buffer the peer's window shrinks by the bytes it receives whether or
		// not its application reads (its right edge stays put), or by only part of them.
		{"0.5Mbps/4MB-rcvbuf", lowRate, bigBuf, 0},
		{"4Mbps/4MB-rcvbuf", highRate, bigBuf, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const run = 2*time.Second + 6*time.Second
			res := runFlow(t, flow{rate: tc.rate, rcvbuf: tc.rcvbuf, stopAfter: 2 * time.Second, run: run, timeout: timeout})
			t.Logf("%s: Stalled %v after the reader stopped; bytes_acked stopped after %v (-1: not within %v)",
				tc.name, roundMs(res.detect), roundMs(res.ackedStop), run-2*time.Second)
			require.Zero(t, res.earlyStalls, "stalled while the reader was reading")
			if res.detect >= 0 {
				require.GreaterOrEqual(t, res.detect, timeout)
			}
			if tc.within > 0 {
				if res.detect < 0 || res.detect > tc.within {
					logFlow(t, res)
				}
				require.GreaterOrEqual(t, res.detect, time.Duration(0), "never stalled")
				require.LessOrEqual(t, res.detect, tc.within)
			}
			if res.ackedStop >= 0 { // never later than bytes_acked alone would tell
				require.GreaterOrEqual(t, res.detect, time.Duration(0), "never stalled")
				require.LessOrEqual(t, res.detect, res.ackedStop+timeout+2*sampleEvery)
			}
		})
	}
}

func TestLoopbackHealthyNeverStalls(t *testing.T) {
	t.Parallel()
	run := 10 * time.Second
	if testing.Short() {
		run = 3 * time.Second
	}
	for _, tc := range []struct {
		name         string
		rate, rcvbuf int
	}{
		{"0.5Mbps/default-rcvbuf", lowRate, 0},
		{"4Mbps/default-rcvbuf", highRate, 0},
		{"0.5Mbps/4MB-rcvbuf", lowRate, bigBuf},
		{"4Mbps/4MB-rcvbuf", highRate, bigBuf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := runFlow(t, flow{rate: tc.rate, rcvbuf: tc.rcvbuf, run: run, timeout: time.Second})
			require.Zero(t, res.earlyStalls)
			last := res.readings[len(res.readings)-1]
			t.Logf("%s: throughput %.0f bit/s, pending %d, backlog %d", tc.name, last.Throughput, last.Pending, last.Backlog)
		})
	}
}

// roundMs rounds d to milliseconds, keeping -1 (never) as it is.
func roundMs(d time.Duration) time.Duration {
	if d < 0 {
		return d
	}
	return d.Round(time.Millisecond)
}
