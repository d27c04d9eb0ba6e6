package interop_test

import (
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
)

// ScenarioDuration is how long each scenario of TestScenarios publishes and
// plays back from the server (TestServerRestart plays half of it after the
// restart). The environment variable FMSPUSH_INTEROP_DURATION (a Go
// duration, at least 5s) shortens it for local runs.
const ScenarioDuration = 60 * time.Second

// durationEnv overrides ScenarioDuration.
const durationEnv = "FMSPUSH_INTEROP_DURATION"

// authQuery is the auth query of the auth scenario: none of the servers
// checks it here (their publish auth is off), each must accept a publish
// name that carries it and serve the stream under the bare name.
const authQuery = "?token=interop-test-token&expire=4102444800"

// scenario is one thing every server is tried with, on both paths.
type scenario struct {
	name string
	// videoOnly publishes the sample's video without audio, with
	// audio = "silent_if_missing".
	videoOnly bool
	// query is appended to the publish URL (not to the play URL).
	query string
}

var scenarios = []scenario{
	{name: "sample"},
	{name: "videoonly", videoOnly: true},
	{name: "auth", query: authQuery},
}

// TestScenarios runs every scenario on every server, both paths, at once:
// one server instance per kind holds the six streams (distinct names). Each
// stream publishes for ScenarioDuration while ffprobe plays it back from the
// server's RTMP play URL: H.264 640x360 + AAC (silent AAC added for the
// video-only source), frames against real time, DTS increasing on each
// track across the sample's loop seams; then the path stops without a
// verdict. The auth scenario publishes NAME?token=… and plays NAME. On
// go2rtc, whose playback timestamps break 42-48 s into a publish, playback
// covers the first go2rtcPlayable of the publish, which goes on for
// ScenarioDuration.
func TestScenarios(t *testing.T) {
	t.Parallel()
	d := scenarioDuration(t)
	videoOnly := videoOnlyFile(t, t.TempDir())
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			var names []string
			for _, kind := range paths {
				for _, sc := range scenarios {
					names = append(names, kind+"-"+sc.name)
				}
			}
			s := srv.start(t, names...)
			for _, kind := range paths {
				t.Run(kind, func(t *testing.T) {
					t.Parallel()
					for _, sc := range scenarios {
						t.Run(sc.name, func(t *testing.T) {
							t.Parallel()
							name := kind + "-" + sc.name
							what := kind + " path, " + sc.name + ", " + s.Name
							var src source
							if sc.videoOnly {
								src.videoOnly = videoOnly
							}
							p := newPath(t, kind, s.PublishURL(name)+sc.query, src, newLog(t, name))
							r := startRun(t, p, what)
							span := playSpan(t, d, r.began, srv.checks)
							pb := play(t, s, name, span)
							// The publish lasts d, however long the server's playback
							// could be trusted: the path's own count of video frames.
							testpeer.Eventually(t, d+30*time.Second, what+": d of video sent", func() bool {
								return r.sig.VideoFrames.Load() >= int64(videoFPS*d.Seconds())
							})
							r.running(t, what)
							t.Logf("%s: %d video frames dropped by the path; %d RTMP acks from the server after %d bytes", what,
								r.sig.DroppedFrames.Load(), r.sig.AcksReceived.Load(), r.sig.BytesSent.Load())
							r.stop(t, what)
							if rec := s.Recording(name); rec != "" {
								checkRecording(t, what, rec, d)
							}
							pb.check(t, what, span, srv.checks)
						})
					}
				})
			}
		})
	}
}
