package ffmpegpath

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/fmsim/fmsimtest"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/rtmp"
)

// authPassword is the emulator's password in the publish-auth tests: long
// enough (redact.MinSecret) to be masked as a literal wherever it shows.
const authPassword = "Sup3r-s3cret"

// The real ffmpeg answers the emulator's adobe_auth and llnw_auth: the
// right password publishes (after need auth and the challenge), a wrong one
// is L3 auth_failed as on the native path, and the password shows in no
// verdict and no log line (ffmpeg's stderr at trace level, the emulator's).
func TestPublishAuthFFmpeg(t *testing.T) {
	for _, mod := range []string{rtmp.AuthAdobe, rtmp.AuthLLNW} {
		t.Run(mod, func(t *testing.T) {
			simLog, simLogs := testLogger(t)
			srv := fmsimtest.StartEmulator(t, &fmsim.Server{Rules: []string{mod + "_auth=alice:" + authPassword}, Logger: simLog})
			target := func(pw string) string { return "rtmp://alice:" + pw + "@" + srv.Addr() + "/live/authkey" }

			set := sampleSettings(t, target(authPassword))
			log, logs := testLogger(t)
			set.Logger = log
			began := time.Now()
			r := startRun(t, &Exec{Settings: set}, 0)
			r.waitLive(t, 20*time.Second)
			t.Logf("live after %v", time.Since(began).Round(time.Millisecond))
			r.cancel()
			require.NoError(t, r.wait(t, 10*time.Second))
			ss := srv.Sessions()
			require.GreaterOrEqual(t, len(ss), 3, "need auth, challenge, response")
			require.Equal(t, "auth_needed", ss[0].Verdict.Cause)
			require.Equal(t, "auth_challenge", ss[1].Verdict.Cause)
			require.True(t, ss[2].Published() && ss[2].VideoFrames > 0, "the third connect publishes: %+v", ss[2])
			require.NotContains(t, logs.String(), authPassword)

			set = sampleSettings(t, target("Wr0ng-pass"))
			log, logs = testLogger(t)
			set.Logger = log
			began = time.Now()
			v := runToVerdict(t, set)
			t.Logf("verdict after %v", time.Since(began).Round(time.Millisecond))
			require.Equal(t, health.LayerPublish, v.Layer, "verdict %v", v)
			require.Equal(t, rtmp.CauseAuthFailed, v.Cause, "verdict %v", v)
			require.Contains(t, v.ServerWords, "authmod="+mod)
			for _, pw := range []string{authPassword, "Wr0ng-pass"} {
				require.NotContains(t, v.Error()+v.Detail+v.ServerWords, pw)
				require.NotContains(t, logs.String(), pw)
			}

			require.Contains(t, simLogs.String(), "auth_failed")
			for _, pw := range []string{authPassword, "Wr0ng-pass"} {
				require.NotContains(t, simLogs.String(), pw, "the emulator's log")
			}

			v = runToVerdict(t, sampleSettings(t, srv.URL("live", "authkey")))
			require.True(t, v.Layer == health.LayerPublish && v.Cause == rtmp.CauseAuthRequired, "no credentials: %v", v)
		})
	}
}
