package ffmpegpath

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// startCamera starts an RTSP camera (testpeer's gortsplib server fed by
// ffmpeg with the looped sample) and returns its URL.
func startCamera(t *testing.T) string {
	url, _ := startCameraStoppable(t)
	return url
}

// startCameraStoppable is startCamera with a function that takes the camera
// down (feeder and server).
func startCameraStoppable(t *testing.T) (string, func()) {
	t.Helper()
	s := testpeer.StartRTSP(t, "127.0.0.1:0")
	url := "rtsp://" + s.Addr() + "/cam"
	feed := testpeer.FeedRTSP(t, s, url)
	return url, func() {
		feed.Process.Kill()
		s.Close()
	}
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
	require.Equal(t, health.LayerSource, v.Layer, "verdict %v, want a source verdict", v)
}

func TestRTMPSourceToNginx(t *testing.T) {
	ng := testpeer.StartNginx(t)
	feed := startRun(t, &Exec{Settings: sampleSettings(t, ng.AppURL+"/feed")}, 0)
	feed.waitLive(t, 20*time.Second)
	s := sampleSettings(t, ng.AppURL+"/relay")
	s.Source, s.SampleFile = ng.AppURL+"/feed", ""
	checkReceived(t, ng.Recording("relay"), pushAndStop(t, &Exec{Settings: s}), false)
}

func TestRTSPSourceToFFmpegListen(t *testing.T) { rtspToListen(t, execFor) }

func TestRTSPSourceToEmulatorCloud(t *testing.T) {
	pushSourceToEmulator(t, execFor, "cloud", startCamera(t))
}

func TestRTSPSourceToEmulatorCompanion(t *testing.T) {
	pushSourceToEmulator(t, execFor, "companion", startCamera(t))
}

// rtspToListen pushes an RTSP camera to a one-shot `ffmpeg -listen`.
func rtspToListen(t *testing.T, mk driverFor) {
	cam := startCamera(t)
	l := testpeer.StartFFmpegListen(t)
	s := sampleSettings(t, l.URL)
	s.Source, s.SampleFile = cam, ""
	pushed := pushAndStop(t, mk(t, s))
	checkReceived(t, l.Wait(t, 30*time.Second), pushed, false)
}
