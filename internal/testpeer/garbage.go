package testpeer

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// GarbageServer accepts TCP connections on 127.0.0.1, answers each with
// garbage (an RTMP S0 of version 0xFF and noise, 1537 bytes) and closes
// it, recording when each connection came: a hostile RTMP camera or
// server whose every reconnect a test can count.
type GarbageServer struct {
	ln net.Listener
	mu sync.Mutex
	at []time.Time
	wg sync.WaitGroup
}

// StartGarbageServer starts a GarbageServer on a free loopback port;
// t.Cleanup stops it.
func StartGarbageServer(t testing.TB) *GarbageServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	g := &GarbageServer{ln: ln}
	g.wg.Add(1)
	go g.serve()
	t.Cleanup(func() { ln.Close(); g.wg.Wait() })
	return g
}

func (g *GarbageServer) serve() {
	defer g.wg.Done()
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		g.at = append(g.at, time.Now())
		g.mu.Unlock()
		_, _ = c.Write(bytes.Repeat([]byte{0xFF}, 1537))
		c.Close()
	}
}

// Addr is the server's host:port.
func (g *GarbageServer) Addr() string { return g.ln.Addr().String() }

// Connections are when each connection was accepted, in order.
func (g *GarbageServer) Connections() []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Time(nil), g.at...)
}

// MostWithin is the largest number of the times at (in order) that fall
// within any window: how a sliding-window rate limit is checked from
// outside.
func MostWithin(at []time.Time, window time.Duration) int {
	most := 0
	for i := range at {
		n := 0
		for _, t := range at[i:] {
			if t.Sub(at[i]) < window {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}
