package source

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
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
	"go.uber.org/goleak"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rtspServer is a real gortsplib server on 127.0.0.1: a publisher (ffmpeg)
// records into it and readers play what it records.
type rtspServer struct {
	// user and pass, when set, are required from readers.
	user, pass string
	srv        *gortsplib.Server
	mu         sync.Mutex
	stream     *gortsplib.ServerStream
	pub        *gortsplib.ServerSession
}

// startRTSPServer listens on addr ("127.0.0.1:0" for a free port).
func startRTSPServer(t *testing.T, addr string) *rtspServer {
	t.Helper()
	return startRTSPServerTLS(t, addr, nil)
}

// startRTSPServerTLS is startRTSPServer speaking rtsps when tc is set.
func startRTSPServerTLS(t *testing.T, addr string, tc *tls.Config) *rtspServer {
	t.Helper()
	s := &rtspServer{}
	s.srv = &gortsplib.Server{Handler: s, RTSPAddress: addr, TLSConfig: tc}
	if err := s.srv.Start(); err != nil {
		t.Fatalf("rtsp server: %v", err)
	}
	t.Cleanup(s.close)
	return s
}

func (s *rtspServer) addr() string { return s.srv.NetListener().Addr().String() }

func (s *rtspServer) close() {
	s.srv.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream != nil {
		s.stream.Close()
		s.stream = nil
	}
}

// serve publishes a fixed description (no publisher needed).
func (s *rtspServer) serve(t *testing.T, desc *description.Session) *gortsplib.ServerStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stream = &gortsplib.ServerStream{Server: s.srv, Desc: desc}
	if err := s.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	return s.stream
}

func (s *rtspServer) hasStream() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream != nil
}

// OnSessionClose drops the stream when its publisher leaves.
func (s *rtspServer) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream != nil && ctx.Session == s.pub {
		s.stream.Close()
		s.stream, s.pub = nil, nil
	}
}

// OnDescribe serves the recorded stream.
func (s *rtspServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if s.user != "" && !ctx.Conn.VerifyCredentials(ctx.Request, s.user, s.pass) {
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
func (s *rtspServer) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
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
func (s *rtspServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	if s.user != "" && !ctx.Conn.VerifyCredentials(ctx.Request, s.user, s.pass) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, s.stream, nil
}

// OnPlay accepts readers.
func (s *rtspServer) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord forwards the publisher's packets to readers.
func (s *rtspServer) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	s.mu.Lock()
	st := s.stream
	s.mu.Unlock()
	ctx.Session.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		_ = st.WritePacketRTP(m, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// feed runs the real ffmpeg publishing the looped sample into url at real
// time, and waits until the server has the stream.
func feed(t *testing.T, s *rtspServer, url string) *exec.Cmd {
	t.Helper()
	return feedArgs(t, s, url, "-re", "-stream_loop", "-1", "-i", testpeer.SamplePath(t), "-c", "copy")
}

// feedArgs runs ffmpeg with input/codec args publishing into url over RTSP.
func feedArgs(t *testing.T, s *rtspServer, url string, args ...string) *exec.Cmd {
	t.Helper()
	testpeer.Need(t, "ffmpeg")
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
	testpeer.Eventually(t, 20*time.Second, "ffmpeg publishing "+url, s.hasStream)
	return cmd
}

// recorder is a Sink that records everything, safe to inspect from tests.
type recorder struct {
	mu       sync.Mutex
	video    []media.VideoParams
	audio    []media.AudioParams
	units    []media.Unit
	restarts int
}

func (r *recorder) SetVideo(p media.VideoParams) {
	r.mu.Lock()
	r.video = append(r.video, p)
	r.mu.Unlock()
}
func (r *recorder) SetAudio(p media.AudioParams) {
	r.mu.Lock()
	r.audio = append(r.audio, p)
	r.mu.Unlock()
}
func (r *recorder) WriteUnit(u media.Unit) { r.mu.Lock(); r.units = append(r.units, u); r.mu.Unlock() }
func (r *recorder) SourceRestarted()       { r.mu.Lock(); r.restarts++; r.mu.Unlock() }

// count returns keyframes and audio units received.
func (r *recorder) count() (keys, audio int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.units {
		switch {
		case u.Codec == media.CodecAAC:
			audio++
		case u.Key:
			keys++
		}
	}
	return keys, audio
}

func (r *recorder) snapshot() ([]media.VideoParams, []media.AudioParams, []media.Unit, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]media.VideoParams(nil), r.video...), append([]media.AudioParams(nil), r.audio...),
		append([]media.Unit(nil), r.units...), r.restarts
}

// runSource runs src in the background; stop cancels it and returns Run's
// result.
func runSource(src Source, sink Sink) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- src.Run(ctx, sink) }()
	return func() error {
		cancel()
		select {
		case err := <-res:
			return err
		case <-time.After(15 * time.Second):
			return fmt.Errorf("Run did not return after cancel")
		}
	}
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
