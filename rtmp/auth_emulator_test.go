package rtmp_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/fmsim/fmsimtest"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/rtmp"
)

// The client's side of both schemes against the emulator's: the right
// password publishes after three connects, a wrong one is L3 auth_failed
// naming the server's words, without the password anywhere; the emulator's
// transcripts never hold the password nor the response.
func TestPublishAuthAgainstEmulator(t *testing.T) {
	const pass = "Sup3r-s3cret"
	for _, mod := range []string{rtmp.AuthAdobe, rtmp.AuthLLNW} {
		t.Run(mod, func(t *testing.T) {
			dir := t.TempDir()
			srv := fmsimtest.StartEmulator(t, &fmsim.Server{Rules: []string{mod + "_auth=alice:" + pass}, TranscriptDir: dir})
			url := func(user, pw string) string {
				return "rtmp://" + user + ":" + pw + "@" + srv.Addr() + "/live/authkey"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			p, err := rtmp.Dial(ctx, url("alice", pass), rtmp.PublishOptions{})
			require.NoError(t, err)
			require.NoError(t, p.Close())
			// The refused sessions record their verdicts as they end,
			// which may come after the third one published.
			var ss []fmsim.SessionInfo
			testpeer.Eventually(t, 5*time.Second, "the refused sessions ended", func() bool {
				ss = srv.Sessions()
				return len(ss) >= 2 && ss[0].Verdict != nil && ss[1].Verdict != nil
			})
			require.Len(t, ss, 3, "need auth, challenge, response")
			require.Equal(t, "auth_needed", ss[0].Verdict.Cause)
			require.Equal(t, "auth_challenge", ss[1].Verdict.Cause)
			require.True(t, ss[2].Published() && ss[2].App == "live", "the third connect publishes: %+v", ss[2])

			for _, wrong := range []string{url("alice", "Wr0ng-pass"), url("mallory", pass)} {
				_, err = rtmp.Dial(ctx, wrong, rtmp.PublishOptions{})
				re := &rtmp.Error{}
				require.ErrorAs(t, err, &re)
				v := re.Verdict()
				t.Logf("verdict: %v", v)
				require.Equal(t, health.LayerPublish, v.Layer)
				require.Equal(t, rtmp.CauseAuthFailed, v.Cause)
				require.Contains(t, v.ServerWords, "authmod="+mod)
				require.NotContains(t, v.Error()+v.Detail+v.ServerWords, pass)
				require.NotContains(t, v.Error()+v.Detail+v.ServerWords, "Wr0ng-pass")
			}

			_, err = rtmp.Dial(ctx, srv.URL("live", "authkey"), rtmp.PublishOptions{})
			v := health.AsVerdict(err)
			require.True(t, v != nil && v.Layer == health.LayerPublish && v.Cause == rtmp.CauseAuthRequired, "no credentials: %v", err)

			srv.Close() // flushes the transcripts
			files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
			require.NoError(t, err)
			require.NotEmpty(t, files)
			for _, f := range files {
				b, err := os.ReadFile(f)
				require.NoError(t, err)
				require.NotContains(t, string(b), pass, f)
				require.NotContains(t, string(b), "Wr0ng-pass", f)
				require.False(t, strings.Contains(string(b), "response=") && !strings.Contains(string(b), "response=***"),
					"a response shows in %s", f)
			}
		})
	}
}
