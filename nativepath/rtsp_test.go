package nativepath

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/rtmp"
	"github.com/stretchr/testify/require"
)

// camera starts an RTSP camera (a gortsplib server fed by the real ffmpeg)
// and returns its URL; args are ffmpeg's input and codec arguments.
func camera(t *testing.T, args ...string) (*testpeer.RTSPServer, string) {
	t.Helper()
	testpeer.Need(t, "ffmpeg")
	s := testpeer.StartRTSP(t, "127.0.0.1:0")
	url := "rtsp://" + s.Addr() + "/cam"
	if len(args) == 0 {
		testpeer.FeedRTSP(t, s, url)
	} else {
		testpeer.FeedRTSPArgs(t, s, url, args...)
	}
	return s, url
}

func TestRTSPCameraToNginx(t *testing.T) {
	_, cam := camera(t)
	n := testpeer.StartNginx(t)
	p := mustNew(t, Settings{Source: cam, Target: n.AppURL + "/cam"})
	r := start(t, p, 0)
	testpeer.Eventually(t, 30*time.Second, "3 s of video sent", func() bool { return r.sig.VideoFrames.Load() >= 75 })
	require.NoError(t, r.stop(t))
	pr := testpeer.FFprobe(t, n.Recording("cam"))
	v, a := pr.Video(), pr.Audio()
	require.True(t, v != nil && v.CodecName == "h264" && v.Width == 640 && v.Height == 360 && a != nil && a.CodecName == "aac",
		"recording: %+v", pr.Streams)
}

func TestRTSPCameraHolds30sOnStrictCompanion(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s of real-time media")
	}
	_, cam := camera(t)
	srv := startEmulator(t, "companion")
	p := mustNew(t, Settings{Source: cam, Target: srv.URL("live", "cam")})
	r := start(t, p, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	info, err := srv.WaitSession(ctx, func(s fmsim.SessionInfo) bool {
		return s.Ended || (s.FirstFrameAt.After(time.Time{}) && time.Since(s.FirstFrameAt) >= 30*time.Second)
	})
	require.NoError(t, err)
	require.True(t, !info.Ended && info.Violation == nil, "reset within 30 s: %+v %+v", info.Verdict, info.Violation)
	sent := r.sig.VideoFrames.Load()
	require.True(t, info.VideoFrames >= 30*25*95/100 && int64(info.VideoFrames) <= sent && sent-int64(info.VideoFrames) <= 2,
		"emulator accepted %d video frames of %d sent", info.VideoFrames, sent)
	require.Zero(t, info.VideoTSRegressions+info.AudioTSRegressions, "timestamps went backwards: %+v", info)
}

func TestCameraWithoutAudioGetsDecodableSilence(t *testing.T) {
	_, cam := camera(t, "-re", "-stream_loop", "-1", "-i", testpeer.SamplePath(t), "-an", "-c:v", "copy")
	n := testpeer.StartNginx(t)
	p := mustNew(t, Settings{Source: cam, Target: n.AppURL + "/mute", Audio: media.AudioSilentIfMissing})
	r := start(t, p, 0)
	testpeer.Eventually(t, 30*time.Second, "3 s of video sent", func() bool { return r.sig.VideoFrames.Load() >= 75 })
	require.GreaterOrEqual(t, r.sig.AudioFrames.Load(), int64(100), "only %d silent audio frames for %d video frames", r.sig.AudioFrames.Load(), r.sig.VideoFrames.Load())
	require.NoError(t, r.stop(t))
	rec := n.Recording("mute")
	a := testpeer.FFprobe(t, rec).Audio()
	require.True(t, a != nil && a.CodecName == "aac" && a.FrameCount() >= 100, "no decodable aac track in the recording: %+v", a)
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", rec, "-map", "0:a", "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "ffmpeg decoding the silent track: %s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "ffmpeg decoding the silent track")
}

func TestSourceRestartKeepsThePublishAndTheTimeline(t *testing.T) {
	s, cam := camera(t)
	dir := t.TempDir()
	srv := &fmsim.Server{Listen: "127.0.0.1:0", Profile: "companion", TranscriptDir: dir}
	require.NoError(t, srv.Start())
	defer srv.Close()
	p := mustNew(t, Settings{Source: cam, Target: srv.URL("live", "cam")})
	r := start(t, p, 0)
	testpeer.Eventually(t, 30*time.Second, "2 s of video", func() bool { return r.sig.VideoFrames.Load() >= 50 })

	addr := s.Addr()
	down := time.Now()
	s.Close() // the camera goes away (its ffmpeg feeder dies with it)
	s2 := testpeer.StartRTSP(t, addr)
	testpeer.FeedRTSP(t, s2, "rtsp://"+addr+"/cam")
	before := r.sig.VideoFrames.Load()
	testpeer.Eventually(t, 30*time.Second, "video after the restart", func() bool { return r.sig.VideoFrames.Load() >= before+50 })
	outage := time.Since(down)
	require.NoError(t, r.stop(t))
	sessions := srv.Sessions()
	require.True(t, len(sessions) == 1 && (sessions[0].Verdict == nil || !sessions[0].Verdict.ByServer()),
		"the publish session dropped: %d sessions, %+v", len(sessions), sessions[len(sessions)-1].Verdict)
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	entries, err := fmsim.ReadTranscript(files[0])
	require.NoError(t, err)
	var last uint32
	var maxGap time.Duration
	seen := false
	for _, e := range entries {
		if e.Dir != "in" || e.Type != rtmp.TypeVideo || strings.HasSuffix(e.Kind, "seq") {
			continue
		}
		if seen {
			require.Greater(t, e.Timestamp, last, "video timestamp %d after %d", e.Timestamp, last)
		}
		if seen {
			maxGap = max(maxGap, time.Duration(e.Timestamp-last)*time.Millisecond)
		}
		last, seen = e.Timestamp, true
	}
	gop := 2 * time.Second
	require.LessOrEqual(t, maxGap, outage+gop, "largest video timestamp gap %v exceeds the outage %v plus one GOP", maxGap, outage)
	t.Logf("outage %v, largest video timestamp gap %v", outage.Round(time.Millisecond), maxGap)
}

func TestH265CameraBothCarriages(t *testing.T) {
	_, cam := camera(t, "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i",
		"sine=frequency=440:sample_rate=44100", "-c:v", "libx265", "-preset", "ultrafast",
		"-x265-params", "keyint=25:log-level=error", "-c:a", "aac")
	for _, mode := range []media.HEVCMode{media.HEVCEnhanced, media.HEVCLegacy} {
		srv := startEmulator(t, "companion")
		p := mustNew(t, Settings{Source: cam, Target: srv.URL("live", "hevc"), Publish: rtmp.PublishOptions{H265: mode}})
		r := start(t, p, 0)
		info := acceptedFrames(t, srv, 50, 30*time.Second)
		require.True(t, info.VideoCodec == "hevc" && info.Width == 320 && info.Height == 240,
			"mode %d: emulator saw %s %dx%d, verdict %+v", mode, info.VideoCodec, info.Width, info.Height, info.Verdict)
		r.stop(t)
	}
}
