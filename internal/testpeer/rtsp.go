package testpeer

import (
	"bytes"
	"crypto/tls"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"
)

// RTSPServer is a real gortsplib server on 127.0.0.1: a publisher (ffmpeg)
// records into it and readers play what it records.
type RTSPServer struct {
	// User and Pass, when set, are required from readers.
	User, Pass string
	srv        *gortsplib.Server
	mu         sync.Mutex
	stream     *gortsplib.ServerStream
	pub        *gortsplib.ServerSession
	readers    map[*gortsplib.ServerSession]bool // sessions playing now
	plays      int                               // PLAY requests accepted, ever
}

// Readers is how many reader sessions are playing now; Plays how many PLAY
// requests were accepted since the server started (a camera that allows few
// sessions counts them the same way).
func (s *RTSPServer) Readers() (now, plays int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.readers), s.plays
}

// StartRTSP listens on addr ("127.0.0.1:0" for a free port).
func StartRTSP(t testing.TB, addr string) *RTSPServer {
	t.Helper()
	return StartRTSPTLS(t, addr, nil)
}

// StartRTSPTLS is StartRTSP speaking rtsps when tc is set.
func StartRTSPTLS(t testing.TB, addr string, tc *tls.Config) *RTSPServer {
	t.Helper()
	s := &RTSPServer{}
	s.srv = &gortsplib.Server{Handler: s, RTSPAddress: addr, TLSConfig: tc}
	if err := s.srv.Start(); err != nil {
		t.Fatalf("rtsp server: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Addr is the server's host:port.
func (s *RTSPServer) Addr() string { return s.srv.NetListener().Addr().String() }

// Close stops the server and its stream.
func (s *RTSPServer) Close() {
	s.srv.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream != nil {
		s.stream.Close()
		s.stream = nil
	}
}

// Serve publishes a fixed description (no publisher needed).
func (s *RTSPServer) Serve(t testing.TB, desc *description.Session) *gortsplib.ServerStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stream = &gortsplib.ServerStream{Server: s.srv, Desc: desc}
	if err := s.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	return s.stream
}

// HasStream reports whether a publisher (or Serve) provides the stream.
func (s *RTSPServer) HasStream() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream != nil
}

// OnSessionClose drops the stream when its publisher leaves.
func (s *RTSPServer) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.readers, ctx.Session)
	if s.stream != nil && ctx.Session == s.pub {
		s.stream.Close()
		s.stream, s.pub = nil, nil
	}
}

// OnDescribe serves the recorded stream.
func (s *RTSPServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if s.User != "" && !ctx.Conn.VerifyCredentials(ctx.Request, s.User, s.Pass) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, s.stream, nil
}

// OnAnnounce accepts a publisher.
func (s *RTSPServer) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, nil
	}
	s.stream = &gortsplib.ServerStream{Server: s.srv, Desc: ctx.Description}
	if err := s.stream.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}, err
	}
	s.pub = ctx.Session
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup serves publishers and readers.
func (s *RTSPServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	if s.User != "" && !ctx.Conn.VerifyCredentials(ctx.Request, s.User, s.Pass) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, s.stream, nil
}

// OnPlay accepts readers, and counts them.
func (s *RTSPServer) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readers == nil {
		s.readers = make(map[*gortsplib.ServerSession]bool)
	}
	s.readers[ctx.Session] = true
	s.plays++
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord forwards the publisher's packets to readers.
func (s *RTSPServer) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	s.mu.Lock()
	st := s.stream
	s.mu.Unlock()
	ctx.Session.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		_ = st.WritePacketRTP(m, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// FeedRTSP runs the real ffmpeg publishing the looped sample into url at real
// time, and waits until the server has the stream.
func FeedRTSP(t testing.TB, s *RTSPServer, url string) *exec.Cmd {
	t.Helper()
	return FeedRTSPArgs(t, s, url, "-re", "-stream_loop", "-1", "-i", SamplePath(t), "-c", "copy")
}

// FeedRTSPArgs runs ffmpeg with input/codec args publishing into url over RTSP.
func FeedRTSPArgs(t testing.TB, s *RTSPServer, url string, args ...string) *exec.Cmd {
	t.Helper()
	Need(t, "ffmpeg")
	var stderr bytes.Buffer
	full := append(append([]string{"-nostdin", "-v", "error"}, args...), "-f", "rtsp", "-rtsp_transport", "tcp", url)
	cmd := exec.Command("ffmpeg", full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	Eventually(t, 20*time.Second, "ffmpeg publishing "+url, s.HasStream)
	return cmd
}
