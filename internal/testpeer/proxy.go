package testpeer

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/rs/zerolog"
)

// ProxyReadBuffer is the kernel receive buffer (SO_RCVBUF, which Linux
// doubles) of the proxy's sockets, both the client's and the upstream's. It
// is fixed (no autotuning) and bounds how much a frozen proxy or a bandwidth
// cap takes from a sender before the sender's TCP sees a zero window: about
// 290 KiB with 128 KiB (TestProxyFreezeBuffering logs it), whatever the
// connection's history and latency, while leaving room for about 10 Mbit/s
// at 200 ms RTT.
const ProxyReadBuffer = 128 << 10

// gateType is the toxic that Freeze closes; it sits first in both directions.
const gateType = "fmspush_gate"

func init() {
	toxics.Register(gateType, new(gateToxic))
	// The toxics log through zerolog's global logger: keep tests quiet.
	zerolog.SetGlobalLevel(zerolog.ErrorLevel)
}

// Proxy is a TCP proxy between a client and one upstream server, built on
// toxiproxy's links and toxics in-process (no HTTP API): latency, a
// bandwidth cap, freezing (a black hole that keeps every connection open)
// and resets. Its own accept loop sets small socket buffers (ProxyReadBuffer)
// and keeps the connections, so that ResetPeers acts at once.
type Proxy struct {
	t        testing.TB
	upstream string
	ln       net.Listener
	api      *toxiproxy.ApiServer
	tp       *toxiproxy.Proxy
	gate     *gate
	done     chan struct{}

	mu     sync.Mutex // toxic changes
	connMu sync.Mutex // pairs and closed
	pairs  map[*proxyPair]struct{}
	closed bool
}

// proxyPair is one proxied connection: the client's and the upstream's socket.
type proxyPair struct {
	client, upstream *net.TCPConn
	ends             int // links that finished writing
}

// StartProxy starts a TCP proxy on 127.0.0.1:0 to upstream, stopped with t.Cleanup.
func StartProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	lc := net.ListenConfig{Control: setReadBuffer}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := &Proxy{
		t: t, upstream: upstream, ln: ln, api: api,
		tp:    toxiproxy.NewProxy(api, "testpeer", ln.Addr().String(), upstream),
		gate:  newGate(),
		done:  make(chan struct{}),
		pairs: map[*proxyPair]struct{}{},
	}
	for _, dir := range []string{"upstream", "downstream"} {
		w := p.addToxic(gateType, "gate_"+dir, dir, "{}")
		w.Toxic.(*gateToxic).gate = p.gate // before any link runs it
	}
	go p.acceptLoop()
	t.Cleanup(p.stop)
	return p
}

// setReadBuffer sets SO_RCVBUF before listen/connect, so that it applies to
// the window from the handshake on (accepted sockets inherit the listener's).
func setReadBuffer(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, ProxyReadBuffer)
	})
	if err != nil {
		return err
	}
	return serr
}

// Addr is the proxy's listening address (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL returns rawTarget with its host:port replaced by the proxy's
// (rtmp://HOST:PORT/app/key?q keeps its path and query verbatim).
func (p *Proxy) URL(rawTarget string) string {
	u, err := url.Parse(rawTarget)
	if err != nil || u.Host == "" {
		p.t.Fatalf("proxy: %q has no host", rawTarget)
	}
	i := strings.Index(rawTarget, u.Host)
	return rawTarget[:i] + p.Addr() + rawTarget[i+len(u.Host):]
}

func (p *Proxy) acceptLoop() {
	defer close(p.done)
	d := net.Dialer{Control: setReadBuffer, Timeout: 5 * time.Second}
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		client := c.(*net.TCPConn)
		uc, err := d.Dial("tcp", p.upstream)
		if err != nil {
			client.SetLinger(0)
			client.Close()
			continue
		}
		pair := &proxyPair{client: client, upstream: uc.(*net.TCPConn)}
		p.connMu.Lock()
		closed := p.closed
		if !closed {
			p.pairs[pair] = struct{}{}
		}
		p.connMu.Unlock()
		if closed {
			pair.reset()
			return
		}
		name := client.RemoteAddr().String()
		p.tp.Toxics.StartLink(p.api, name+"upstream", client, &linkDest{p: p, pair: pair, c: pair.upstream}, stream.Upstream)
		p.tp.Toxics.StartLink(p.api, name+"downstream", pair.upstream, &linkDest{p: p, pair: pair, c: client}, stream.Downstream)
	}
}

// linkDest is where a link writes. After a write error it discards instead
// of failing: toxiproxy's link stops reading its pipeline when its
// destination fails, which would leave the toxics' goroutines blocked
// forever; discarding lets the pipeline drain until its source ends.
type linkDest struct {
	p      *Proxy
	pair   *proxyPair
	c      *net.TCPConn
	failed bool
}

func (d *linkDest) Write(b []byte) (int, error) {
	if !d.failed {
		if _, err := d.c.Write(b); err != nil {
			d.failed = true
		}
	}
	return len(b), nil
}

// Close closes the destination (toxiproxy closes it, not half-closes, when
// the source ended) and forgets the pair once both directions ended.
func (d *linkDest) Close() error {
	err := d.c.Close()
	d.p.connMu.Lock()
	if d.pair.ends++; d.pair.ends == 2 {
		delete(d.p.pairs, d.pair)
	}
	d.p.connMu.Unlock()
	return err
}

func (pair *proxyPair) reset() {
	for _, c := range []*net.TCPConn{pair.client, pair.upstream} {
		c.SetLinger(0)
		c.Close()
	}
}

// addToxic adds a toxic at the end of a direction's chain; p.mu is held or
// the proxy is not serving yet.
func (p *Proxy) addToxic(typ, name, dir, attrs string) *toxics.ToxicWrapper {
	w, err := p.tp.Toxics.AddToxicJson(strings.NewReader(
		fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"attributes":%s}`, name, typ, dir, attrs)))
	if err != nil {
		p.t.Fatalf("proxy: add toxic %s: %v", name, err)
	}
	return w
}

// removeToxic removes a toxic if present; p.mu is held.
func (p *Proxy) removeToxic(name string) bool {
	return p.tp.Toxics.RemoveToxic(context.Background(), name) == nil
}

// SetLatency delays each direction by oneWay, so that RTT = 2*oneWay
// (millisecond resolution; 0 removes it). Changing it delivers what the old
// latency held at once.
func (p *Proxy) SetLatency(oneWay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, dir := range []string{"upstream", "downstream"} {
		name := "latency_" + dir
		p.removeToxic(name)
		if oneWay > 0 {
			p.addToxic("latency", name, dir, fmt.Sprintf(`{"latency":%d}`, oneWay.Milliseconds()))
		}
	}
}

// SetBandwidth caps the upstream direction (client to server) at
// kbitPerSec (toxiproxy's resolution is 1 kB/s = 8 kbit/s; 0 removes the
// cap). The cap sits before the latency, so the client's TCP feels it (its
// window closes once the proxy's receive buffer is full), as at a real
// bottleneck.
func (p *Proxy) SetBandwidth(kbitPerSec int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	const bw, lat = "bandwidth_upstream", "latency_upstream"
	p.removeToxic(bw)
	if kbitPerSec <= 0 {
		return
	}
	var latency string
	if w := p.tp.Toxics.GetToxic(lat); w != nil {
		latency = fmt.Sprintf(`{"latency":%d}`, w.Toxic.(*toxics.LatencyToxic).Latency)
		p.removeToxic(lat)
	}
	p.addToxic("bandwidth", bw, "upstream", fmt.Sprintf(`{"rate":%d}`, max(1, (kbitPerSec+4)/8)))
	if latency != "" {
		p.addToxic("latency", lat, "upstream", latency)
	}
}

// Freeze stops forwarding in both directions and keeps every connection
// open: nothing is dropped, no FIN or RST is sent or forwarded (a client's
// close waits behind the freeze), as behind a NAT that lost its state. The
// proxy takes at most about 2*ProxyReadBuffer (its socket) plus two pipeline
// chunks of up to 32 KiB from each sender before the sender's window closes
// (TestProxyFreezeBuffering measures it); the sender's own send buffer then
// fills and its writes block. New connections are accepted but frozen too. (toxiproxy's own
// "timeout" toxic with timeout 0 is no black hole: it reads and discards
// everything, so a sender never blocks.)
func (p *Proxy) Freeze() { p.gate.set(true) }

// FreezeExisting freezes the connections open now, as Freeze does, and
// lets new ones through: the old session is lost in a black hole (its
// server never learns it is dead), while a reconnect reaches the server.
func (p *Proxy) FreezeExisting() { p.gate.freezeBelow() }

// Thaw resumes forwarding; what the freeze held is delivered in order.
func (p *Proxy) Thaw() { p.gate.set(false) }

// ResetPeers resets (RST) both sides of every current connection.
func (p *Proxy) ResetPeers() {
	p.connMu.Lock()
	defer p.connMu.Unlock()
	for pair := range p.pairs {
		pair.reset()
	}
}

// stop closes the listener, resets every connection, thaws and removes
// every toxic so that each link's goroutines drain and end.
func (p *Proxy) stop() {
	p.ln.Close()
	<-p.done
	p.connMu.Lock()
	p.closed = true
	for pair := range p.pairs {
		pair.reset()
	}
	p.connMu.Unlock()
	p.gate.set(false)
	p.mu.Lock()
	for _, name := range []string{"bandwidth_upstream", "latency_upstream", "latency_downstream"} {
		p.removeToxic(name)
	}
	p.mu.Unlock()
}

// gate is the freeze switch shared by both directions' gate toxics. Each
// link (one direction of one connection) has an id in creation order;
// links below frozenBelow are frozen too (FreezeExisting).
type gate struct {
	mu          sync.Mutex
	frozen      bool
	frozenBelow uint64
	nextID      uint64
	change      chan struct{} // closed and replaced at every change
}

func newGate() *gate { return &gate{change: make(chan struct{})} }

func (g *gate) get(id uint64) (bool, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.frozen || id < g.frozenBelow, g.change
}

func (g *gate) set(frozen bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.frozen = frozen
	if !frozen {
		g.frozenBelow = 0
	}
	close(g.change)
	g.change = make(chan struct{})
}

func (g *gate) freezeBelow() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.frozenBelow = g.nextID
	close(g.change)
	g.change = make(chan struct{})
}

func (g *gate) newID() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.nextID++
	return g.nextID - 1
}

// linkState is a gate toxic's state for one link: its id.
type linkState struct{ id uint64 }

// NewState implements toxics.StatefulToxic: a fresh id for each link.
func (t *gateToxic) NewState() interface{} { return &linkState{id: t.gate.newID()} }

func linkID(stub *toxics.ToxicStub) uint64 {
	if st, ok := stub.State.(*linkState); ok {
		return st.id
	}
	return 0
}

// gateToxic forwards chunks while its gate is open and, while it is closed,
// neither reads its input nor writes: the pipeline behind it fills and the
// link stops reading its socket.
type gateToxic struct {
	gate *gate
}

// Pipe implements toxics.Toxic.
func (t *gateToxic) Pipe(stub *toxics.ToxicStub) {
	for {
		frozen, change := t.gate.get(linkID(stub))
		if frozen {
			select {
			case <-stub.Interrupt:
				return
			case <-change:
			}
			continue
		}
		select {
		case <-stub.Interrupt:
			return
		case <-change:
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			if !t.forward(stub, c) {
				return
			}
		}
	}
}

// forward passes one chunk on, holding it while the gate is closed; false
// when interrupted (the chunk is then written before returning, as
// toxiproxy's toxics do, so nothing is lost).
func (t *gateToxic) forward(stub *toxics.ToxicStub, c *stream.StreamChunk) bool {
	for {
		frozen, change := t.gate.get(linkID(stub))
		if !frozen {
			break
		}
		select {
		case <-stub.Interrupt:
			stub.Output <- c
			return false
		case <-change:
		}
	}
	select {
	case stub.Output <- c:
		return true
	case <-stub.Interrupt:
		stub.Output <- c
		return false
	}
}
