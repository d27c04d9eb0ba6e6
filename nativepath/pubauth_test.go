package nativepath

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/fmsim/fmsimtest"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/rtmp"
)

// The native path answers the emulator's adobe_auth and llnw_auth as
// ffmpeg does: the right password publishes, a wrong one is L3 auth_failed
// (the ffmpeg path's layer and cause), and the password shows in no verdict
// and no log line (the path's, the emulator's).
func TestPublishAuthNative(t *testing.T) {
	const pass = "Sup3r-s3cret"
	for _, mod := range []string{rtmp.AuthAdobe, rtmp.AuthLLNW} {
		t.Run(mod, func(t *testing.T) {
			// The path's log and the emulator's, in one buffer.
			logs := &testpeer.LogBuffer{}
			log := hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Trace, Output: logs})
			srv := fmsimtest.StartEmulator(t, &fmsim.Server{Rules: []string{mod + "_auth=alice:" + pass}, Logger: log.Named("fmsim")})
			target := func(pw string) string { return "rtmp://alice:" + pw + "@" + srv.Addr() + "/live/authkey" }

			began := time.Now()
			r := start(t, mustNew(t, Settings{Source: "builtin:sample", Target: target(pass), Logger: log}), 0)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			info, err := srv.WaitSession(ctx, func(s fmsim.SessionInfo) bool { return s.VideoFrames >= 25 || s.Ended && s.Published() })
			require.NoError(t, err)
			require.True(t, info.VideoFrames >= 25 && info.App == "live", "the authenticated session: %+v", info)
			testpeer.Eventually(t, 10*time.Second, "live", r.sig.IsLive)
			t.Logf("live after %v", time.Since(began).Round(time.Millisecond))
			require.NoError(t, r.stop(t))
			var ss []fmsim.SessionInfo
			testpeer.Eventually(t, 5*time.Second, "the refused sessions ended", func() bool {
				ss = srv.Sessions()
				return len(ss) >= 2 && ss[0].Verdict != nil && ss[1].Verdict != nil
			})
			require.True(t, len(ss) >= 3 && ss[0].Verdict.Cause == "auth_needed" && ss[1].Verdict.Cause == "auth_challenge",
				"need auth, challenge, response: %+v", ss)

			began = time.Now()
			r = start(t, mustNew(t, Settings{Source: "builtin:sample", Target: target("Wr0ng-pass"), Logger: log}), 0)
			var v *health.Verdict
			select {
			case err := <-r.done:
				r.done <- err
				v = health.AsVerdict(err)
			case <-time.After(15 * time.Second):
				require.FailNow(t, "no verdict")
			}
			t.Logf("verdict after %v: %v", time.Since(began).Round(time.Millisecond), v)
			require.NotNil(t, v)
			require.Equal(t, health.LayerPublish, v.Layer, "verdict %v", v)
			require.Equal(t, rtmp.CauseAuthFailed, v.Cause, "verdict %v", v)
			require.Equal(t, "native", v.Path)
			require.Contains(t, v.ServerWords, "authmod="+mod)
			require.NotEmpty(t, logs.String())
			for _, pw := range []string{pass, "Wr0ng-pass"} {
				require.NotContains(t, v.Error()+v.Detail+v.ServerWords, pw)
				require.NotContains(t, logs.String(), pw)
			}
		})
	}
}
