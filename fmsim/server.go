package fmsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// Server is the emulator: an RTMP server enforcing Rules. Set the exported
// fields, then Start (or Run). Rules can be changed while it runs with
// SetRules or UpdateRules; sessions already running follow the change.
type Server struct {
	// Listen is the TCP address ("127.0.0.1:0" in tests; default 127.0.0.1:1935).
	Listen string
	// Profile is "lenient" (default), "cloud" or "companion".
	Profile string
	// Rules are "name=value" overrides applied on top of the profile.
	Rules []string
	// TranscriptDir, when set, gets one JSON-lines transcript per session.
	TranscriptDir string
	// Logger gets one line per session event (redacted); nil means silent.
	Logger hclog.Logger
	// MaxSessions bounds the session history kept for Sessions and Streams
	// (0: keep every session, as tests want); the oldest ended ones go first.
	MaxSessions int
	// MaxSegment, when positive, caps the TCP segment size the emulator's
	// connections announce (TCP_MAXSEG). Loopback's 64 KiB segments make a
	// receiver's window move in 64 KiB steps; 1448 (an Ethernet path) makes
	// the emulator's TCP behave as a real ingest's does.
	MaxSegment int

	rules    atomic.Pointer[Rules]
	ln       net.Listener
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	nextID   atomic.Int64
	rejected atomic.Int64 // connects rejected by reject_sessions since the rules were set
	nonces   nonces       // the publish-auth challenges issued (adobe_auth, llnw_auth)

	mu           sync.Mutex
	live         map[int]*session // running sessions, for Reset
	publishers   map[string]int   // bare stream name -> the session publishing it (single_publisher)
	sessions     []SessionInfo    // ids dropped+1, dropped+2, ...
	dropped      int              // sessions forgotten by MaxSessions
	changed      chan struct{}
	rulesChanged chan struct{}
}

// Start validates the settings, listens and accepts sessions in the background.
func (s *Server) Start() error {
	r, err := Profile(s.Profile)
	if err != nil {
		return err
	}
	if err := r.Apply(s.Rules...); err != nil {
		return err
	}
	if s.Logger == nil {
		s.Logger = hclog.NewNullLogger()
	}
	addr := s.Listen
	if addr == "" {
		addr = "127.0.0.1:1935"
	}
	lc := net.ListenConfig{Control: maxSegment(s.MaxSegment)}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return fmt.Errorf("fmsim: listen: %w", err)
	}
	s.rules.Store(&r)
	s.ln = ln
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.acceptLoop()
	s.Logger.Info("fmsim listening", "addr", ln.Addr().String(), "profile", s.profileName(), "rules", r.String())
	return nil
}

func (s *Server) profileName() string {
	if s.Profile == "" {
		return ProfileLenient
	}
	return s.Profile
}

// Addr is the address the server listens on (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns rtmp://ADDR/app/name.
func (s *Server) URL(app, name string) string { return "rtmp://" + s.Addr() + "/" + app + "/" + name }

// Close stops accepting, ends every session (verdict server_closed) and waits
// for all goroutines.
func (s *Server) Close() error {
	if s.ln == nil {
		return nil
	}
	s.cancel()
	err := s.ln.Close()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Run starts the server and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

// CurrentRules returns the rules in force (the zero Rules before Start).
func (s *Server) CurrentRules() Rules {
	if r := s.rules.Load(); r != nil {
		return *r
	}
	return Rules{}
}

// SetRules replaces the rules of a started server. Running sessions re-arm
// their fault timers from the new rules (a fault whose time has passed fires
// at once); the reject_sessions counter starts again.
func (s *Server) SetRules(r Rules) {
	if s.Logger == nil {
		s.Logger = hclog.NewNullLogger()
	}
	s.rules.Store(&r)
	s.rejected.Store(0)
	s.mu.Lock()
	if s.rulesChanged != nil {
		close(s.rulesChanged)
		s.rulesChanged = nil
	}
	s.mu.Unlock()
	s.Logger.Info("fmsim rules changed", "rules", r.String())
}

// UpdateRules applies "name=value" specs to the current rules.
func (s *Server) UpdateRules(specs ...string) error {
	r := s.CurrentRules()
	if err := r.Apply(specs...); err != nil {
		return err
	}
	s.SetRules(r)
	return nil
}

// rulesChangedCh is closed at the next SetRules.
func (s *Server) rulesChangedCh() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rulesChanged == nil {
		s.rulesChanged = make(chan struct{})
	}
	return s.rulesChanged
}

// takeRejection reports whether this connect must be rejected by reject_sessions.
func (s *Server) takeRejection(limit int) bool {
	for {
		n := s.rejected.Load()
		if n >= int64(limit) {
			return false
		}
		if s.rejected.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				s.Logger.Error("accept", "error", err)
			}
			return
		}
		id := int(s.nextID.Add(1))
		sess := newSession(s, id, nc)
		s.track(sess, true)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.track(sess, false)
			sess.run(s.ctx)
		}()
	}
}

func (s *Server) track(sess *session, running bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		s.live = map[int]*session{}
	}
	if running {
		s.live[sess.info.ID] = sess
	} else {
		delete(s.live, sess.info.ID)
	}
}

// Reset sends a TCP RST, now, to every running session whose latest snapshot
// satisfies pred (nil: all), and returns how many it asked. Their verdict
// names the rule "reset" and the layer they were at.
func (s *Server) Reset(pred func(SessionInfo) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, sess := range s.live {
		info, ok := s.sessionLocked(id)
		if ok && (pred == nil || pred(info)) {
			select {
			case sess.kick <- struct{}{}:
			default:
			}
			n++
		}
	}
	return n
}

// claimName registers session id as the publisher of the bare stream name.
// When another running session already holds the name, it returns that
// session's id and, if exclusive (single_publisher), false: the publish is
// refused. Without exclusive the publish goes ahead and the first holder keeps
// the name.
func (s *Server) claimName(name string, id int, exclusive bool) (holder int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, held := s.publishers[name]; held && h != id {
		return h, !exclusive
	}
	if s.publishers == nil {
		s.publishers = map[string]int{}
	}
	s.publishers[name] = id
	return id, true
}

// releaseName frees a stream name held by session id.
func (s *Server) releaseName(name string, id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, held := s.publishers[name]; held && h == id {
		delete(s.publishers, name)
	}
}
