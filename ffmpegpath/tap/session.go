package tap

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fmspush/fmspush/delivery"
)

// handshakeLen is what each side sends before the chunk stream: C0+C1 and
// C2 from the client, S0+S1 and S2 from the server (1 + 1536 + 1536).
const handshakeLen = 1 + 1536 + 1536

// rtmpVersion is C0 of plain RTMP (RTMPE's is 6: encrypted, not parsed).
const rtmpVersion = 3

// Buffer sizes of the two directions: the only buffers a session keeps.
const (
	upBufSize   = 32 << 10
	downBufSize = 16 << 10
)

// session relays one connection: in is ffmpeg's, out the server's (raw is
// out's TCP connection). The up goroutine owns writes to out, the down
// goroutine writes to in, the monitor judges delivery.
type session struct {
	cfg     settings
	in      *net.TCPConn
	out     net.Conn
	raw     *net.TCPConn
	ledger  *ackLedger
	tcp     tcpEvidence
	up      upState
	down    downState
	upEnded chan struct{} // closed when ffmpeg's side ended (nothing more to judge)

	injected atomic.Bool

	mu       sync.Mutex
	stallErr *StallError
	firstErr error
	closing  bool        // teardown began: later I/O errors are its consequence
	drain    *time.Timer // the end of the drain after ffmpeg's close
}

func newSession(cfg settings, in *net.TCPConn, out net.Conn, raw *net.TCPConn) *session {
	return &session{
		cfg: cfg, in: in, out: out, raw: raw,
		ledger:  newAckLedger(cfg.window),
		tcp:     tcpEvidence{meter: delivery.Meter{StallTimeout: cfg.stall}},
		up:      upState{hsLeft: handshakeLen, parser: newChunkParser()},
		down:    downState{hsLeft: handshakeLen, parser: newChunkParser()},
		upEnded: make(chan struct{}),
	}
}

// run relays until both directions ended (or a stall or ctx ended them)
// and returns why it ended.
func (s *session) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, s.teardown)
	defer stop()
	var wg sync.WaitGroup
	monitorDone := make(chan struct{})
	go func() { defer close(monitorDone); s.monitor() }()
	wg.Add(2)
	go func() { defer wg.Done(); s.endUp(s.relayUp()) }()
	go func() { defer wg.Done(); s.endDown(s.relayDown()) }()
	wg.Wait()
	s.teardown()
	<-monitorDone
	return s.result()
}

// result is the session's outcome: the stall, else the first I/O error
// that was not the teardown's doing.
func (s *session) result() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stallErr != nil {
		return s.stallErr
	}
	return s.firstErr
}

// endUp handles the end of the ffmpeg-to-server direction. ffmpeg's end
// (a close, or a reset: it resets when it exits with unread bytes; Linux
// delivers what came before the reset first) is passed on as a half close,
// and the server gets DrainTimeout to finish; a failed write to the server
// ends both directions.
func (s *session) endUp(err error) {
	close(s.upEnded)
	if serverSide(err) {
		s.fail(err)
		return
	}
	if err != nil && !errors.Is(err, io.EOF) && !s.isClosing() {
		s.cfg.log.Debug("tap: ffmpeg's connection ended", "error", err)
	}
	cw, ok := s.out.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		s.teardown()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.drain = time.AfterFunc(s.cfg.drain, s.teardown)
	}
}

// endDown handles the end of the server-to-ffmpeg direction: the server's
// close is passed on as a half close; its error ends both directions. A
// failed write to ffmpeg (gone) ends only this direction: what ffmpeg sent
// before it went is still to be relayed.
func (s *session) endDown(err error) {
	switch {
	case serverSide(err):
		s.fail(err)
	case errors.Is(err, io.EOF):
		if s.in.CloseWrite() != nil {
			s.teardown()
		}
	default:
		s.cfg.log.Debug("tap: ffmpeg's connection ended", "error", err)
	}
}

// serverSide reports whether err is an I/O error on the server's connection.
func serverSide(err error) bool {
	var ie *ioErr
	return errors.As(err, &ie) && ie.server
}

// fail records the first I/O error on the server's connection (unless the
// teardown caused it) and tears down. A reset by the server (ECONNRESET,
// or EPIPE on a write) reaches ffmpeg as a reset too, as it would have
// without the relay: ffmpeg's error then names it ("Connection reset by
// peer"), which tells a reset from a close (*_reset, *_closed verdicts).
func (s *session) fail(err error) {
	s.mu.Lock()
	if !s.closing && s.firstErr == nil {
		s.firstErr = err
	}
	s.mu.Unlock()
	s.close(false, isReset(err))
}

// isReset reports whether err is a connection reset by the peer.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// teardown closes both connections (once). The server's is closed at the
// TCP level: a TLS close_notify could block on a server that reads nothing.
func (s *session) teardown() { s.close(false, false) }

// resetServer aborts the server connection with a TCP reset (SO_LINGER 0,
// then close), so that the server drops the session and frees the stream
// name at once, and closes ffmpeg's connection.
func (s *session) resetServer() { s.close(true, false) }

// close closes both connections once, each with a reset (SO_LINGER 0) if
// asked.
func (s *session) close(resetServer, resetClient bool) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	if s.drain != nil {
		s.drain.Stop()
	}
	s.mu.Unlock()
	if resetServer {
		s.linger0(s.raw)
	}
	if resetClient {
		s.linger0(s.in)
	}
	s.raw.Close()
	s.in.Close()
}

// linger0 makes c's close a reset.
func (s *session) linger0(c *net.TCPConn) {
	if err := c.SetLinger(0); err != nil {
		s.cfg.log.Debug("tap: SO_LINGER 0 failed", "error", err)
	}
}

// isClosing reports whether the teardown began.
func (s *session) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// ioErr is an I/O error of the relay: which socket and which way.
type ioErr struct {
	server bool   // on the server's connection (else ffmpeg's)
	what   string // "read from server", ...
	err    error
}

func (e *ioErr) Error() string { return "tap: " + e.what + ": " + e.err.Error() }
func (e *ioErr) Unwrap() error { return e.err }

// ioError wraps an I/O error on the server's connection (server) or
// ffmpeg's; io.EOF stays itself (an orderly close).
func ioError(server bool, what string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &ioErr{server: server, what: what, err: err}
}
