package tap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/delivery"
)

// Defaults of the Relay's settings.
const (
	// DefaultAckWindow is the Window Acknowledgement Size the relay asks
	// the server for: an RTMP Acknowledgement every 16 KiB its application
	// reads (4 a second at 0.5 Mbit/s), as the native path does.
	DefaultAckWindow = 16 << 10
	// DefaultSampleInterval is how often the relay judges delivery.
	DefaultSampleInterval = 100 * time.Millisecond
	// DefaultDialTimeout bounds the connection to the server (TCP and TLS).
	DefaultDialTimeout = 10 * time.Second
	// DefaultDrainTimeout is how long the relay keeps reading the server
	// after ffmpeg closed its side, before it closes both.
	DefaultDrainTimeout = 2 * time.Second
)

// ErrStarted is returned by Start on a Relay that was started before.
var ErrStarted = errors.New("tap: relay already started")

// Relay is a TCP relay between one ffmpeg RTMP publisher and the real
// server, on 127.0.0.1. It forwards the bytes both ways, adds one Window
// Acknowledgement Size message after ffmpeg's connect so that the server
// acknowledges what its application reads (and keeps those acknowledgements
// from ffmpeg), and judges from them (or from TCP's accounting of its own
// socket where the server sends none) whether the server still takes the
// stream. See the package documentation.
//
// Set the fields, then Start (or Run). A Relay relays one connection and is
// not reused.
type Relay struct {
	// Target is the server's address, host:port.
	Target string
	// TLS, when not nil, makes the connection to the server TLS (rtmps);
	// an empty ServerName is taken from Target's host.
	TLS *tls.Config
	// StallTimeout is how long the server may take nothing while data
	// waits before the relay judges it stalled (delivery.DefaultStallTimeout
	// when zero).
	StallTimeout time.Duration
	// AckWindow is the Window Acknowledgement Size asked of the server
	// (DefaultAckWindow when zero).
	AckWindow uint32
	// SampleInterval is how often delivery is judged (DefaultSampleInterval
	// when zero).
	SampleInterval time.Duration
	// DialTimeout bounds the connection to the server (DefaultDialTimeout
	// when zero).
	DialTimeout time.Duration
	// DrainTimeout bounds the relaying of the server's last words after
	// ffmpeg closed its side (DefaultDrainTimeout when zero).
	DrainTimeout time.Duration
	// Logger receives the relay's few messages (nil: none). Nothing the
	// relay logs carries a stream key: it never decodes commands.
	Logger hclog.Logger
	// Paused, when not nil, is asked at every judgement, with the current
	// time, whether this process was paused since the last one (see
	// internal/pause: SIGSTOP, a frozen VM, a starved CPU). The relay then
	// restarts its stall clocks (the acknowledgements' and TCP's) at that
	// time instead of judging: the gap was this process's own, not the
	// server's. Only the relay's judging goroutine calls it.
	Paused func(now time.Time) bool

	mu      sync.Mutex
	ln      net.Listener
	cancel  context.CancelFunc
	done    chan struct{}
	err     error
	sess    *session
	started bool
}

// Start listens on 127.0.0.1 (an ephemeral port, see Addr) and relays the
// first connection in the background: it then dials Target and relays
// until either side ends, ctx ends, Close is called, or the server stalls.
// Done is closed when the relay has ended and Err says why.
func (r *Relay) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return ErrStarted
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("tap: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	r.ln, r.cancel, r.done, r.started = ln, cancel, make(chan struct{}), true
	go r.run(ctx, ln)
	return nil
}

// Run is Start then Wait.
func (r *Relay) Run(ctx context.Context) error {
	if err := r.Start(ctx); err != nil {
		return err
	}
	return r.Wait()
}

// Addr is the address ffmpeg connects to (127.0.0.1:PORT); "" before Start.
func (r *Relay) Addr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln == nil {
		return ""
	}
	return r.ln.Addr().String()
}

// Done is closed when the relay has ended (nil before Start).
func (r *Relay) Done() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

// Err is why the relay ended: a *StallError when the server stalled, a
// *DialError when it could not connect to the server, or the I/O error on the server's connection that ended it
// (wrapping the syscall error: a reset by the server is ECONNRESET). It is
// nil when both sides closed, when ffmpeg's connection ended (whatever
// way: ffmpeg's exit says more), when ctx ended or Close was called, and
// while the relay runs.
func (r *Relay) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Wait blocks until the relay has ended and returns Err.
func (r *Relay) Wait() error {
	if d := r.Done(); d != nil {
		<-d
	}
	return r.Err()
}

// Close ends the relay (closing both connections) and waits for it.
func (r *Relay) Close() error {
	r.mu.Lock()
	cancel := r.cancel
	r.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	r.Wait()
	return nil
}

// Abort ends the relay as Close does, but resets the server connection
// (SO_LINGER 0, then close) if it was made: for a push given up (ffmpeg
// killed), so that no half-dead connection keeps the stream name at the
// server.
func (r *Relay) Abort() error {
	r.mu.Lock()
	s := r.sess
	r.mu.Unlock()
	if s != nil {
		s.resetServer()
	}
	return r.Close()
}

// Reading is the relay's current judgement of delivery (the zero Reading
// before the server is connected).
func (r *Relay) Reading() Reading {
	r.mu.Lock()
	s := r.sess
	r.mu.Unlock()
	if s == nil {
		return Reading{}
	}
	return s.current()
}

// run accepts one connection, dials the server and relays.
func (r *Relay) run(ctx context.Context, ln net.Listener) {
	defer close(r.done)
	defer r.cancel()
	in, err := acceptOne(ctx, ln)
	if errors.Is(err, errNoClient) {
		return // closed before ffmpeg connected: nothing failed
	}
	if err != nil {
		r.finish(err)
		return
	}
	out, raw, err := r.dial(ctx)
	if err != nil {
		in.Close()
		r.finish(err)
		return
	}
	s := newSession(r.settings(), in, out, raw)
	r.mu.Lock()
	r.sess = s
	r.mu.Unlock()
	r.finish(s.run(ctx))
}

// finish records why the relay ended.
func (r *Relay) finish(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// acceptOne accepts the first connection on ln and closes ln. The end of
// ctx ends the wait (nil error: nobody connected, nothing failed).
func acceptOne(ctx context.Context, ln net.Listener) (*net.TCPConn, error) {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	c, err := ln.Accept()
	ln.Close()
	if err != nil {
		if ctx.Err() != nil {
			return nil, errNoClient
		}
		return nil, fmt.Errorf("tap: accept: %w", err)
	}
	return c.(*net.TCPConn), nil
}

// errNoClient ends a relay that was closed before ffmpeg connected; Err
// reports it as nil.
var errNoClient = errors.New("tap: closed before a client connected")

// DialError is why a Relay could not connect to the server: the TCP dial
// failed (TLS false: refused, timed out, no route, the name did not
// resolve) or the TLS handshake did (TLS true: the certificate's name, its
// authority, its validity). ffmpeg then sees only its local connection
// closed: this error is the evidence of the failure.
type DialError struct {
	// Addr is the server's address (Relay.Target).
	Addr string
	// TLS reports that the TCP connection was made and the TLS handshake failed.
	TLS bool
	// At is when the attempt failed.
	At time.Time
	// Err is the dialer's or the TLS handshake's error (net.OpError,
	// x509.HostnameError, ...; context.Canceled when the relay was closed
	// while it dialed).
	Err error
}

// Error says which step failed and why.
func (e *DialError) Error() string {
	if e.TLS {
		return fmt.Sprintf("tap: TLS handshake with %s: %v", e.Addr, e.Err)
	}
	return fmt.Sprintf("tap: dial %s: %v", e.Addr, e.Err)
}

// Unwrap returns Err.
func (e *DialError) Unwrap() error { return e.Err }

// dial connects to Target: the connection to relay through and its TCP
// connection (the same for plain RTMP).
func (r *Relay) dial(ctx context.Context) (net.Conn, *net.TCPConn, error) {
	d := &net.Dialer{Timeout: orDefault(r.DialTimeout, DefaultDialTimeout)}
	c, err := d.DialContext(ctx, "tcp", r.Target)
	if err != nil {
		return nil, nil, &DialError{Addr: r.Target, At: time.Now(), Err: err}
	}
	raw := c.(*net.TCPConn)
	if r.TLS == nil {
		return raw, raw, nil
	}
	tc := tls.Client(raw, tlsConfig(r.TLS, r.Target))
	hctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, nil, &DialError{Addr: r.Target, TLS: true, At: time.Now(), Err: err}
	}
	return tc, raw, nil
}

// tlsConfig is c with ServerName taken from target when empty.
func tlsConfig(c *tls.Config, target string) *tls.Config {
	if c.ServerName != "" {
		return c
	}
	c = c.Clone()
	if host, _, err := net.SplitHostPort(target); err == nil {
		c.ServerName = host
	}
	return c
}

// settings resolves the relay's settings with their defaults.
func (r *Relay) settings() settings {
	log := r.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return settings{
		stall:    orDefault(r.StallTimeout, delivery.DefaultStallTimeout),
		window:   orDefault(r.AckWindow, DefaultAckWindow),
		interval: orDefault(r.SampleInterval, DefaultSampleInterval),
		drain:    orDefault(r.DrainTimeout, DefaultDrainTimeout),
		log:      log,
		paused:   r.Paused,
	}
}

// settings are a session's resolved settings.
type settings struct {
	stall, interval, drain time.Duration
	window                 uint32
	log                    hclog.Logger
	paused                 func(time.Time) bool
}

func orDefault[T time.Duration | uint32](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
