//go:build linux

package delivery

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
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

// tick writes one 10 ms slice and returns the bytes written.
func (p *pacer) tick() int {
	if p.chunk == nil {
		p.chunk = make([]byte, p.rate/100)
	}
	_ = p.c.SetWriteDeadline(time.Now().Add(2 * time.Millisecond))
	n, _ := p.c.Write(p.chunk)
	return n
}

// flow is one paced connection observed by a Meter every sampleEvery.
type flow struct {
	name         string
	rate, rcvbuf int
	stopAfter    time.Duration // when the reader stops reading; 0: never
	run          time.Duration // the longest run
	timeout      time.Duration // the Meter's StallTimeout
	within       time.Duration // the required detection time; 0: only never worse than bytes_acked
}

// result is what a flow observed.
type result struct {
	detect      time.Duration // from the reader stopping to the first Stalled reading; -1: never
	ackedStop   time.Duration // from the reader stopping to Acked no longer advancing; -1: never
	earlyStalls int           // Stalled readings while the reader was reading
	err         error
	samples     []Sample
	readings    []Reading
}

// flowRun is a flow set up and ready to drive.
type flowRun struct {
	flow
	c   net.Conn
	rd  *reader
	res result
}

// startFlow sets up f's listener, reader and connection.
func startFlow(t *testing.T, f flow) *flowRun {
	ln := listen(t, f.rcvbuf)
	rd := startReader(t, ln)
	c, err := net.Dial("tcp4", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &flowRun{flow: f, c: c, rd: rd, res: result{detect: -1, ackedStop: -1}}
}

// drive paces the flow until the Meter reports a stall after the reader stopped, or f.run
// passes. It runs in its own goroutine, so it records errors instead of failing the test.
func (fr *flowRun) drive() {
	p := &pacer{c: fr.c, rate: fr.rate}
	m := &Meter{StallTimeout: fr.timeout}
	var stoppedAt time.Time
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	written := uint64(1) // the SYN: Sample coordinates of a client socket
	for n := 0; time.Since(start) < fr.run && fr.res.detect < 0 && fr.res.err == nil; n++ {
		<-tick.C
		written += uint64(p.tick())
		m.Mark(written, time.Duration(n)*10*time.Millisecond) // 10 ms of media per slice
		if fr.stopAfter > 0 && stoppedAt.IsZero() && time.Since(start) >= fr.stopAfter {
			close(fr.rd.stop)
			stoppedAt = <-fr.rd.stopped
		}
		if n%int(sampleEvery/(10*time.Millisecond)) == 0 {
			fr.res.observe(fr.c, m, stoppedAt)
		}
	}
}

// observe samples c into m and records the judgement.
func (res *result) observe(c net.Conn, m *Meter, stoppedAt time.Time) {
	s, err := ReadConn(c)
	if err != nil {
		res.err = err
		return
	}
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

// Bitrates, receive buffers and timing of the loopback tests.
const (
	lowRate     = 64 << 10 // bytes per second: 0.5 Mbit/s
	highRate    = 4e6 / 8  // 4 Mbit/s
	bigBuf      = 4 << 20  // SO_RCVBUF, doubled by the kernel
	sampleEvery = 100 * time.Millisecond
	stopAfter   = 2 * time.Second
	loopTimeout = time.Second
)

// loopbackFlows are the flows of TestLoopback: readers that stop reading after stopAfter,
// and healthy ones.
func loopbackFlows(short bool) []flow {
	healthy := 10 * time.Second
	if short {
		healthy = 3 * time.Second
	}
	flows := []flow{
		{name: "stop/4Mbps/default-rcvbuf", rate: highRate, within: loopTimeout + 500*time.Millisecond},
		// At 0.5 Mbit/s the default-buffer peer advertises a window capped below its free
		// space (rcv_ssthresh), so unread bytes do not shrink it for about a second, and
		// then only by part of each byte.
		{name: "stop/0.5Mbps/default-rcvbuf", rate: lowRate},
		// With a large buffer the peer's window shrinks by the bytes it receives whether or
		// not its application reads (its right edge stays put), or by only part of them.
		{name: "stop/0.5Mbps/4MB-rcvbuf", rate: lowRate, rcvbuf: bigBuf},
		{name: "stop/4Mbps/4MB-rcvbuf", rate: highRate, rcvbuf: bigBuf},
		{name: "healthy/0.5Mbps/default-rcvbuf", rate: lowRate, run: healthy},
		{name: "healthy/4Mbps/default-rcvbuf", rate: highRate, run: healthy},
		{name: "healthy/0.5Mbps/4MB-rcvbuf", rate: lowRate, rcvbuf: bigBuf, run: healthy},
		{name: "healthy/4Mbps/4MB-rcvbuf", rate: highRate, rcvbuf: bigBuf, run: healthy},
	}
	for i := range flows {
		flows[i].timeout = loopTimeout
		if flows[i].run == 0 {
			flows[i].stopAfter, flows[i].run = stopAfter, stopAfter+6*time.Second
		}
	}
	return flows
}

// TestLoopback drives all flows at once (they mostly wait), then judges each.
func TestLoopback(t *testing.T) {
	t.Parallel()
	var runs []*flowRun
	for _, f := range loopbackFlows(testing.Short()) {
		runs = append(runs, startFlow(t, f))
	}
	var wg sync.WaitGroup
	for _, fr := range runs {
		wg.Go(fr.drive)
	}
	wg.Wait()
	for _, fr := range runs {
		t.Run(fr.name, func(t *testing.T) { judgeFlow(t, fr) })
	}
}

// judgeFlow checks what one flow observed.
func judgeFlow(t *testing.T, fr *flowRun) {
	res := fr.res
	require.NoError(t, res.err)
	require.Zero(t, res.earlyStalls, "stalled while the reader was reading")
	if fr.stopAfter == 0 {
		last := res.readings[len(res.readings)-1]
		t.Logf("%s: no stall; throughput %.0f bit/s, lag %v, pending %d, backlog %d",
			fr.name, last.Throughput, last.Lag, last.Pending, last.Backlog)
		if fr.rcvbuf == 0 { // see the package documentation for the large buffer
			require.InDelta(t, float64(fr.rate*8), last.Throughput, float64(fr.rate*8)/4)
			require.Less(t, last.Lag, 500*time.Millisecond)
		}
		return
	}
	last := res.readings[len(res.readings)-1]
	t.Logf("%s: Stalled %v after the reader stopped; bytes_acked stopped after %v (-1: not within %v); "+
		"last: throughput %.0f bit/s, lag %v, backlog %d", fr.name, roundMs(res.detect), roundMs(res.ackedStop),
		fr.run-fr.stopAfter, last.Throughput, last.Lag, last.Backlog)
	if res.detect >= 0 {
		require.GreaterOrEqual(t, res.detect, fr.timeout)
	}
	if fr.within > 0 {
		if res.detect < 0 || res.detect > fr.within {
			logFlow(t, res)
		}
		require.GreaterOrEqual(t, res.detect, time.Duration(0), "never stalled")
		require.LessOrEqual(t, res.detect, fr.within)
	}
	if res.ackedStop >= 0 { // never later than bytes_acked alone would tell
		require.GreaterOrEqual(t, res.detect, time.Duration(0), "never stalled")
		require.LessOrEqual(t, res.detect, res.ackedStop+fr.timeout+2*sampleEvery)
	}
}

// roundMs rounds d to milliseconds, keeping -1 (never) as it is.
func roundMs(d time.Duration) time.Duration {
	if d < 0 {
		return d
	}
	return d.Round(time.Millisecond)
}
