package interop_test

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/ffmpegpath"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/nativepath"
)

// path is what both push paths offer to these tests.
type path interface {
	Run(ctx context.Context, base time.Duration, sig *health.Signals) error
}

// pathFor returns the named path publishing the builtin sample to target.
func pathFor(t *testing.T, kind, target string) path {
	t.Helper()
	log := hclog.New(&hclog.LoggerOptions{Name: kind, Level: hclog.Info, Output: testWriter{t}})
	switch kind {
	case "native":
		p, err := nativepath.New(nativepath.Settings{Source: "builtin:sample", Target: target, Logger: log})
		require.NoError(t, err)
		return p
	case "ffmpeg":
		testpeer.Need(t, "ffmpeg", "ffprobe")
		d, err := ffmpegpath.New(ffmpegpath.Settings{Driver: ffmpegpath.DriverExec, Source: ffmpegpath.SampleSource,
			SampleFile: testpeer.SamplePath(t), Target: target, Logger: log})
		require.NoError(t, err)
		return d
	}
	t.Fatalf("unknown path %q", kind)
	return nil
}

// testWriter sends a path's log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// publishSample publishes the sample through each path to a fresh server,
// plays 3 s back from the server and checks H.264 640x360 + AAC arrived;
// then stops the path, which must end without a verdict.
func publishSample(t *testing.T, start func(testing.TB) *testpeer.Server) {
	for _, kind := range []string{"native", "ffmpeg"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			srv := start(t)
			p := pathFor(t, kind, srv.AppURL+"/"+kind)
			ctx, cancel := context.WithCancel(context.Background())
			sig := health.NewSignals()
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx, 0, sig) }()
			t.Cleanup(func() {
				cancel()
				select {
				case <-done:
				case <-time.After(15 * time.Second):
					t.Error("Run did not return within 15s of cancel")
				}
			})
			select {
			case <-sig.Live():
			case err := <-done:
				done <- err
				t.Fatalf("%s path to %s ended before going live: %v", kind, srv.Name, err)
			case <-time.After(20 * time.Second):
				t.Fatalf("%s path to %s not live within 20s", kind, srv.Name)
			}

			probe := srv.Capture(t, kind, 3*time.Second)
			// Whether the server honours the native path's Window
			// Acknowledgement Size (its acks make stall detection exact).
			t.Logf("%s path to %s: %d RTMP acks from the server after %d bytes", kind, srv.Name, sig.AcksReceived.Load(), sig.BytesSent.Load())
			v, a := probe.Video(), probe.Audio()
			require.NotNil(t, v, "no video played back from %s", srv.Name)
			require.Equal(t, "h264", v.CodecName)
			require.Equal(t, 640, v.Width)
			require.Equal(t, 360, v.Height)
			require.Greater(t, v.FrameCount(), 25, "video frames in 3 s played back from %s", srv.Name)
			require.NotNil(t, a, "no audio played back from %s", srv.Name)
			require.Equal(t, "aac", a.CodecName)
			require.Greater(t, a.FrameCount(), 40, "audio frames in 3 s played back from %s", srv.Name)

			cancel()
			select {
			case err := <-done:
				done <- err
				require.NoError(t, err, "a stopped %s path to %s", kind, srv.Name)
			case <-time.After(15 * time.Second):
				t.Fatalf("Run did not return within 15s of cancel")
			}
		})
	}
}

func TestSampleToLal(t *testing.T)    { t.Parallel(); publishSample(t, testpeer.StartLal) }
func TestSampleToGo2RTC(t *testing.T) { t.Parallel(); publishSample(t, testpeer.StartGo2RTC) }
func TestSampleToNMS(t *testing.T)    { t.Parallel(); publishSample(t, testpeer.StartNMS) }
