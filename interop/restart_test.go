package interop_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/supervisor"
)

// beforeRestart is how many frames (video and audio) each stream sends
// before the server is restarted: about 3 s of the sample.
const beforeRestart = 200

// TestServerRestart stops each server mid-stream and starts it again on the
// same port, with both paths publishing to it, each under a supervisor with
// no fallback path (so the supervisor reconnects the same path). Each path
// must be live again (a new session, state live) within 30 s of the server
// listening again, the frames it sends must grow, and ffprobe must play
// half a ScenarioDuration back from the restarted server with the checks of
// TestScenarios (timestamps increasing, frames against real time). Where
// the server passes the publisher's timestamps through (all but go2rtc),
// the playback after the restart starts past what was sent before it: the
// target's timeline never goes back.
func TestServerRestart(t *testing.T) {
	t.Parallel()
	d := scenarioDuration(t) / 2
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			names := map[string]string{}
			for _, kind := range paths {
				names[kind] = kind + "-restart"
			}
			s := srv.start(t, names["native"], names["ffmpeg"])
			streams := map[string]*supervisor.Stream{}
			began := time.Now()
			for _, kind := range paths {
				log := newLog(t, names[kind])
				streams[kind] = supervise(t, names[kind], newPath(t, kind, s.PublishURL(names[kind]), source{}, log), log)
			}
			status := func(kind string) health.StreamStatus { return streams[kind].Status() }
			liveAt := map[string]time.Time{}
			for _, kind := range paths {
				testpeer.Eventually(t, 30*time.Second, kind+" path live on "+s.Name, func() bool {
					st := status(kind)
					if _, ok := liveAt[kind]; !ok && st.State == health.StateLive {
						liveAt[kind] = time.Now()
					}
					return st.State == health.StateLive && st.Counters.FramesSent >= beforeRestart
				})
			}

			restartAt := time.Now()
			away := s.Restart(t)
			up := time.Now()
			// One loop watches both streams, so that each one's recovery is
			// timed from the same instant.
			recovered := map[string]time.Duration{}
			testpeer.Eventually(t, 30*time.Second, "both paths live again on "+s.Name, func() bool {
				for _, kind := range paths {
					st := status(kind)
					if _, ok := recovered[kind]; !ok && st.State == health.StateLive && st.Counters.Reconnects >= 1 {
						recovered[kind] = time.Since(up)
					}
				}
				return len(recovered) == len(paths)
			})

			for _, kind := range paths {
				t.Run(kind, func(t *testing.T) {
					t.Parallel()
					what := kind + " path, restart, " + s.Name
					before := status(kind)
					t.Logf("%s: server away %v, %s path live again %v after the server listened again (%v after the stop began); "+
						"attempts %d, reconnects %d, last verdict: %s", what, away.Round(time.Millisecond), kind,
						recovered[kind].Round(time.Millisecond), (away + recovered[kind]).Round(time.Millisecond),
						before.Counters.Attempts, before.Counters.Reconnects, before.LastError)
					span := playSpan(t, d, began, srv.checks)
					pb := play(t, s, names[kind], span)
					pb.check(t, what, span, srv.checks)
					if !srv.checks.rebases {
						// The supervisor continues the target's timeline from the
						// last timestamp sent (plus the time away): the new session's
						// first frame comes after everything sent before the restart.
						sent := restartAt.Sub(liveAt[kind])
						t.Logf("%s: first DTS played after the restart %v; about %v was sent before it", what,
							pb.video[0].dts, sent.Round(time.Millisecond))
						require.GreaterOrEqual(t, pb.video[0].dts, sent-time.Second, "%s: the timeline went back across the restart", what)
					}
					after := status(kind)
					require.Equal(t, health.StateLive, after.State, "%s: %s", what, after.Reason)
					require.Equal(t, before.Counters.Attempts, after.Counters.Attempts, "%s: the path reconnected again during the playback", what)
					require.Greater(t, after.Counters.FramesSent, before.Counters.FramesSent+int64(videoFPS*span.Seconds()*minRealTime),
						"%s: frames sent during the playback", what)
				})
			}
		})
	}
}
