package ffmpegpath

import (
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
	"github.com/pion/rtp"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/rtmp"
)

// camera is an in-process RTSP server relaying one published stream to its
// readers, like an IP camera or a media server.
type camera struct {
	srv       *gortsplib.Server
	mu        sync.Mutex
	stream    *gortsplib.ServerStream
	publisher *gortsplib.ServerSession
}

func (c *camera) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != nil && ctx.Session == c.publisher {
		c.stream.Close()
		c.stream, c.publisher = nil, nil
	}
}

func (c *camera) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, fmt.Errorf("someone is already publishing")
	}
	st := &gortsplib.ServerStream{Server: c.srv, Desc: ctx.Description}
	if err := st.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}, err
	}
	c.stream, c.publisher = st, ctx.Session
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (c *camera) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

func (c *camera) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

func (c *camera) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (c *camera) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	ctx.Session.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		c.mu.Lock()
		st := c.stream
		c.mu.Unlock()
		if st != nil {
			st.WritePacketRTP(m, pkt)
		}
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (c *camera) publishing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stream != nil
}

// startCamera starts the RTSP server on a free loopback port and an ffmpeg
// feeding it the sample in a loop; it returns the camera URL.
func startCamera(t *testing.T) string {
	url, _ := startCameraStoppable(t)
	return url
}

// startCameraStoppable is startCamera with a function that takes the camera
// down (feeder and server).
func startCameraStoppable(t *testing.T) (string, func()) {
	t.Helper()
	testpeer.Need(t, "ffmpeg")
	c := &camera{}
	c.srv = &gortsplib.Server{Handler: c, RTSPAddress: "127.0.0.1:0"}
	if err := c.srv.Start(); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("rtsp://127.0.0.1:%d/cam", c.srv.NetListener().Addr().(*net.TCPAddr).Port)
	feed := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1",
		"-i", testpeer.SamplePath(t), "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", url)
	feed.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := feed.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	down := func() {
		once.Do(func() {
			feed.Process.Kill()
			feed.Wait()
			c.srv.Close()
		})
	}
	t.Cleanup(down)
	testpeer.Eventually(t, 10*time.Second, "the feed to publish", c.publishing)
	return url, down
}

func TestRTSPSourceToNginx(t *testing.T) {
	cam := startCamera(t)
	ng := testpeer.StartNginx(t)
	s := sampleSettings(t, ng.AppURL+"/rtsp")
	s.Source, s.SampleFile = cam, ""
	// A live source: ffmpeg first sends the frames it buffered while
	// probing, so the wall time is not compared.
	checkReceived(t, ng.Recording("rtsp"), pushAndStop(t, &Exec{Settings: s}), false)
}

func TestRTSPCameraDownIsSourceVerdict(t *testing.T) {
	cam, down := startCameraStoppable(t)
	ng := testpeer.StartNginx(t)
	s := sampleSettings(t, ng.AppURL+"/camdown")
	s.Source, s.SampleFile = cam, ""
	r := startRun(t, &Exec{Settings: s}, 0)
	r.waitLive(t, 20*time.Second)
	down()
	v := verdictOf(t, r.wait(t, 15*time.Second))
	t.Logf("camera down: %v", v)
	if v.Layer != rtmp.LayerSource {
		t.Fatalf("verdict %v, want a source verdict", v)
	}
}

func TestRTMPSourceToNginx(t *testing.T) {
	ng := testpeer.StartNginx(t)
	feed := startRun(t, &Exec{Settings: sampleSettings(t, ng.AppURL+"/feed")}, 0)
	feed.waitLive(t, 20*time.Second)
	s := sampleSettings(t, ng.AppURL+"/relay")
	s.Source, s.SampleFile = ng.AppURL+"/feed", ""
	checkReceived(t, ng.Recording("relay"), pushAndStop(t, &Exec{Settings: s}), false)
}
