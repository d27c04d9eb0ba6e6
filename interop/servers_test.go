package interop_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/ffmpegpath"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/nativepath"
	"github.com/fmspush/fmspush/supervisor"
)

// path is what both push paths offer to these tests.
type path interface {
	Run(ctx context.Context, base time.Duration, sig *health.Signals) error
}

// pathFor returns the named path publishing the builtin sample to target,
// logging to t.
func pathFor(t *testing.T, kind, target string) path {
	t.Helper()
	log := hclog.New(&hclog.LoggerOptions{Name: kind, Level: hclog.Info, Output: testWriter{t}})
	return newPath(t, kind, target, source{}, log)
}

// testWriter sends a path's log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// paths are the two push paths every server is tried with.
var paths = []string{"native", "ffmpeg"}

// source is what a path publishes: the builtin sample (H.264 + AAC), or
// videoOnly, an FLV file with the sample's video and no audio, published
// with audio = "silent_if_missing".
type source struct {
	videoOnly string
}

// nativeMaxDelay is the native path's max_delay here (default 2 s). On
// loopback a delivery lag is the test machine's CPU starved by other work
// (a server that does not read), not the network: past 3/4 of the default
// the path drops video until a keyframe, which the playback checks would
// report as gaps in the server's stream. The congestion policy has its own
// tests (nativepath); the ffmpeg path never drops.
const nativeMaxDelay = 10 * time.Second

// newPath returns the named path (native, or ffmpeg's exec driver)
// publishing src to target.
func newPath(t *testing.T, kind, target string, src source, log hclog.Logger) supervisor.Path {
	t.Helper()
	switch kind {
	case "native":
		s := nativepath.Settings{Source: "builtin:sample", Target: target, MaxDelay: nativeMaxDelay, Logger: log}
		if src.videoOnly != "" {
			s.Source, s.Audio = "file:"+src.videoOnly, media.AudioSilentIfMissing
		}
		p, err := nativepath.New(s)
		require.NoError(t, err)
		return p
	case "ffmpeg":
		testpeer.Need(t, "ffmpeg", "ffprobe")
		s := ffmpegpath.Settings{Driver: ffmpegpath.DriverExec, Source: ffmpegpath.SampleSource,
			SampleFile: testpeer.SamplePath(t), Target: target, Logger: log}
		if src.videoOnly != "" {
			s.Source, s.Audio = src.videoOnly, media.AudioSilentIfMissing
		}
		d, err := ffmpegpath.New(s)
		require.NoError(t, err)
		return d
	}
	require.Failf(t, "unknown path", "unknown path %q", kind)
	return nil
}

// videoOnlyFile writes the sample's video track, without audio, to an FLV
// file in dir (ffmpeg -an -c:v copy): a camera without a microphone.
func videoOnlyFile(t *testing.T, dir string) string {
	t.Helper()
	testpeer.Need(t, "ffmpeg")
	out := filepath.Join(dir, "video-only.flv")
	b, err := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
		"-i", testpeer.SamplePath(t), "-an", "-c:v", "copy", "-y", out).CombinedOutput()
	require.NoError(t, err, "ffmpeg: %s", b)
	pr := testpeer.FFprobe(t, out)
	require.NotNil(t, pr.Video())
	require.Nil(t, pr.Audio(), "the video-only file has audio")
	return out
}

// server is one kind of RTMP server these tests publish to.
type server struct {
	name string
	// start starts a server that can hold the streams names at once.
	start func(t testing.TB, names ...string) *testpeer.Server
	// checks is what its playback is allowed.
	checks checks
}

// servers are the four servers of the compatibility matrix.
var servers = []server{
	{name: "nginx", start: func(t testing.TB, _ ...string) *testpeer.Server { return testpeer.StartNginxServer(t) }},
	{name: "lal", start: func(t testing.TB, _ ...string) *testpeer.Server { return testpeer.StartLal(t) }},
	{name: "go2rtc", start: testpeer.StartGo2RTCStreams, checks: checks{audioRepeats: true, rebases: true, playable: go2rtcPlayable}},
	{name: "nms", start: func(t testing.TB, _ ...string) *testpeer.Server { return testpeer.StartNMS(t) }},
}

// newLog returns a logger into a buffer that is printed (its last 60
// lines) only when t fails: many streams run at once, for a minute each.
func newLog(t *testing.T, name string) hclog.Logger {
	t.Helper()
	var buf testpeer.LogBuffer
	t.Cleanup(func() {
		if t.Failed() {
			load, _ := os.ReadFile("/proc/loadavg")
			t.Logf("%s log (last lines):\n%s\nload average now (1, 5, 15 min; 2 cores in CI): %s", name, tail(buf.String(), 60), load)
		}
	})
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Info, Output: &buf})
}

// run is one path's Run in its own goroutine.
type run struct {
	sig    *health.Signals
	cancel context.CancelFunc
	done   chan error
	began  time.Time
}

// running requires that the run has not ended.
func (r *run) running(t *testing.T, what string) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		require.Failf(t, "the run ended", "%s ended: %v", what, err)
	default:
	}
}

// startRun runs p from base 0 and waits until it is live (within 30 s); the
// run is stopped by t.Cleanup if the test does not stop it.
func startRun(t *testing.T, p path, what string) *run {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{sig: health.NewSignals(), cancel: cancel, done: make(chan error, 1), began: time.Now()}
	go func() { r.done <- p.Run(ctx, 0, r.sig) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			r.done <- err
		case <-time.After(15 * time.Second):
			require.Failf(t, "Run did not return", "%s: Run did not return within 15s of cancel", what)
		}
	})
	select {
	case <-r.sig.Live():
	case err := <-r.done:
		r.done <- err
		require.Failf(t, "the run ended before going live", "%s ended before going live: %v", what, err)
	case <-time.After(30 * time.Second):
		require.Failf(t, "not live", "%s not live within 30s", what)
	}
	return r
}

// stop cancels the run and requires that it ends without a verdict (a clean
// unpublish) within 15 s.
func (r *run) stop(t *testing.T, what string) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		require.NoError(t, err, "%s, stopped", what)
	case <-time.After(15 * time.Second):
		require.Failf(t, "Run did not return", "%s: Run did not return within 15s of cancel", what)
	}
}

// supervise runs p under a supervisor.Stream with no fallback path (as a
// stream whose other path is disabled): the supervisor reconnects it after
// a failure, continuing the target's timeline. It is stopped by t.Cleanup.
func supervise(t *testing.T, name string, p supervisor.Path, log hclog.Logger) *supervisor.Stream {
	t.Helper()
	st := &supervisor.Stream{Name: name, Enabled: true, Source: "builtin:sample", Target: "(test server)",
		Preferred: supervisor.PathSpec{Path: p}, Logger: log}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "%s: supervisor", name)
		case <-time.After(20 * time.Second):
			require.Failf(t, "the supervisor did not return", "%s: the supervisor did not return within 20s of cancel", name)
		}
	})
	return st
}

// scenarioDuration is how long each scenario publishes and plays back.
func scenarioDuration(t *testing.T) time.Duration {
	t.Helper()
	if v := os.Getenv(durationEnv); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "%s", durationEnv)
		require.GreaterOrEqual(t, d, 5*time.Second, "%s below 5s", durationEnv)
		return d
	}
	return ScenarioDuration
}
