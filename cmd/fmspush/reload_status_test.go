package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// lingerRelay forwards TCP connections to an upstream server. When a client
// half-closes (a native session ends its unpublish with a FIN and then waits
// for the server to close), the relay passes the FIN on but holds the
// client's side open for linger: a server slow to finish an unpublish.
type lingerRelay struct {
	ln        net.Listener
	upstream  string
	linger    time.Duration
	lingering atomic.Int32 // clients half-closed and not yet let go
	closed    chan struct{}
	wg        sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// startLingerRelay listens on loopback; t.Cleanup closes it and every
// connection it holds.
func startLingerRelay(t *testing.T, upstream string, linger time.Duration) *lingerRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &lingerRelay{ln: ln, upstream: upstream, linger: linger, closed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.acceptLoop()
	t.Cleanup(r.close)
	return r
}

// URL is the rtmp:// URL of app/name through the relay.
func (r *lingerRelay) URL(app, name string) string {
	return fmt.Sprintf("rtmp://%s/%s/%s", r.ln.Addr(), app, name)
}

func (r *lingerRelay) acceptLoop() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.wg.Add(1)
		go r.serve(c.(*net.TCPConn))
	}
}

// track adds c to the set close ends; false when the relay is closed.
func (r *lingerRelay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

// serve relays one connection; a server's close reaches the client at once
// unless the client half-closed first.
func (r *lingerRelay) serve(c *net.TCPConn) {
	defer r.wg.Done()
	defer c.Close()
	u, err := net.Dial("tcp", r.upstream)
	if err != nil || !r.track(c) || !r.track(u) {
		return
	}
	defer u.Close()
	var clientFIN atomic.Bool
	down := make(chan struct{})
	go func() {
		defer close(down)
		_, _ = io.Copy(c, u)
		if !clientFIN.Load() {
			c.Close()
		}
	}()
	_, err = io.Copy(u, c)
	clientFIN.Store(err == nil)
	_ = u.(*net.TCPConn).CloseWrite()
	if err == nil {
		r.hold()
	}
	c.Close()
	u.Close()
	<-down
}

// hold waits linger (or the relay's close) with the client's side open.
func (r *lingerRelay) hold() {
	r.lingering.Add(1)
	defer r.lingering.Add(-1)
	t := time.NewTimer(r.linger)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.closed:
	}
}

func (r *lingerRelay) close() {
	close(r.closed)
	r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.wg.Wait()
}

// quietLiveStream is a native stream of the builtin sample to target; no standby
// probe runs during the test.
func quietLiveStream(name, target string) string {
	return fmt.Sprintf(`stream %q {
  source = "builtin:sample"
  target = %q
  prefer = "native"
  failover {
    probe_interval      = "1h"
    attempts_per_minute = 60
  }
}
`, name, target)
}

// timedGet GETs path and returns how long the answer took.
func (r *running) timedGet(c *http.Client, path string) time.Duration {
	r.t.Helper()
	start := time.Now()
	resp, err := c.Get("http://" + r.http + path)
	require.NoError(r.t, err, path)
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.NoError(r.t, err, path)
	return time.Since(start)
}

// The status API reads a snapshot: while a reload stops five live streams,
// each unpublish held up for a second by the server, every /healthz and
// /v1/streams answers within 50 ms.
func TestStatusAnswersWhileAReloadStopsFiveStreams(t *testing.T) {
	const n, linger, bound = 5, time.Second, 50 * time.Millisecond
	sim := &fmsim.Server{Listen: "127.0.0.1:0", Profile: fmsim.ProfileLenient}
	require.NoError(t, sim.Start())
	t.Cleanup(func() { sim.Close() })
	relay := startLingerRelay(t, sim.Addr(), linger)
	var streams []string
	for i := range n {
		streams = append(streams, quietLiveStream(fmt.Sprintf("s%d", i), relay.URL("live", fmt.Sprintf("s%d", i))))
	}
	r := startService(t, withStreams(streams...))
	testpeer.Eventually(t, 30*time.Second, "five streams live", func() bool { return countLive(r.status()) == n })

	r.writeInPlace(withStreams(idleStream("after", "emulator://live/after")))
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	var polls, during int // during: polls while all five unpublishes were under way
	var slowest time.Duration
	deadline := time.Now().Add(20 * time.Second)
	for len(r.streams()) != 1 {
		require.True(t, time.Now().Before(deadline), "the reload did not finish within 20s")
		unpublishing := relay.lingering.Load() >= n
		for _, path := range []string{"/healthz", "/v1/streams"} {
			took := r.timedGet(client, path)
			require.Less(t, took, bound, "GET %s took %v during the reload", path, took)
			slowest = max(slowest, took)
		}
		polls++
		if unpublishing {
			during++
		}
	}
	t.Logf("%d polls, %d while the five streams unpublished; slowest answer %v", polls, during, slowest)
	require.GreaterOrEqual(t, during, 3, "too few polls while the five streams unpublished")
}

// countLive counts the streams that are live.
func countLive(st health.ServiceStatus) int {
	live := 0
	for _, s := range st.Streams {
		if s.State == health.StateLive {
			live++
		}
	}
	return live
}
