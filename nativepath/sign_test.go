package nativepath

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/rtmp"
	"github.com/fmspush/fmspush/signurl"
)

const signKey = "s1gnKeyOfTheTest"

// sessionAfter waits for the first emulator session after id that has
// accepted frames video frames, failing when it ends first.
func sessionAfter(t *testing.T, srv *fmsim.Server, id, frames int, within time.Duration) fmsim.SessionInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	info, err := srv.WaitSession(ctx, func(s fmsim.SessionInfo) bool {
		return s.ID > id && (s.VideoFrames >= frames || s.Ended)
	})
	require.NoError(t, err, "no session after %d accepted %d frames: %+v", id, frames, srv.Sessions())
	require.False(t, info.Ended, "the emulator ended the session: %+v", info.Verdict)
	return info
}

// waitExpired dials signed (a URL signed earlier) until the emulator
// refuses it as expired: the wall clock has passed its expiry.
func waitExpired(t *testing.T, srv *fmsim.Server, signed string, within time.Duration) {
	t.Helper()
	testpeer.Eventually(t, within, "the first signature expired", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pub, err := rtmp.Dial(ctx, signed, rtmp.PublishOptions{})
		if err == nil {
			pub.Close()
			return false
		}
		n := len(srv.Sessions())
		info, werr := srv.WaitSession(ctx, func(s fmsim.SessionInfo) bool { return s.ID == n && s.Ended })
		return werr == nil && info.Verdict != nil && info.Verdict.Cause == "auth_expired"
	})
}

// TestSignedTargetFreshOnEveryRun: with Sign set and a 2 s ttl, a run
// publishes, and a second run made after the first signature expired
// publishes too: the emulator, which refuses the first run's URL by then,
// accepts the fresh signature.
func TestSignedTargetFreshOnEveryRun(t *testing.T) {
	for _, sc := range testpeer.SignSchemes {
		t.Run(sc.Scheme, func(t *testing.T) {
			srv := startEmulator(t, "lenient", sc.Rule+"="+signKey)
			logs := &testpeer.LogBuffer{}
			auth := &signurl.Auth{Scheme: sc.Scheme, Key: signKey, TTL: 2 * time.Second}
			p := mustNew(t, Settings{Source: "builtin:sample", Target: srv.URL("live", "cam"), Sign: auth,
				Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})})

			r := start(t, p, 0)
			info := sessionAfter(t, srv, 0, 25, 20*time.Second)
			require.Equal(t, "cam", info.StreamName)
			require.NoError(t, r.stop(t))
			// Signed after the run's own signature, so expiring no sooner.
			first, err := auth.Sign(p.Target, time.Now())
			require.NoError(t, err)

			waitExpired(t, srv, first, 10*time.Second)
			last := len(srv.Sessions())
			r = start(t, p, 0)
			info = sessionAfter(t, srv, last, 25, 20*time.Second)
			require.Equal(t, "cam", info.StreamName)
			require.NoError(t, r.stop(t))
			for _, v := range testpeer.SignatureValues(t, first) {
				require.NotContains(t, logs.String(), v)
			}
		})
	}
}

// TestExpiredSignatureRefusedAtL3: a target pasted with a signature that
// has expired (no Sign) is refused at L3, the verdict naming the expired
// auth and none of the signature's values.
func TestExpiredSignatureRefusedAtL3(t *testing.T) {
	for _, sc := range testpeer.SignSchemes {
		t.Run(sc.Scheme, func(t *testing.T) {
			srv := startEmulator(t, "lenient", sc.Rule+"="+signKey)
			logs := &testpeer.LogBuffer{}
			auth := signurl.Auth{Scheme: sc.Scheme, Key: signKey, TTL: time.Minute}
			expired, err := auth.Sign(srv.URL("live", "cam"), time.Now().Add(-time.Hour))
			require.NoError(t, err)
			p := mustNew(t, Settings{Source: "builtin:sample", Target: expired,
				Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			v := health.AsVerdict(p.Run(ctx, 0, health.NewSignals()))
			require.NotNil(t, v)
			t.Logf("verdict: %v", v)
			require.Equal(t, health.LayerPublish, v.Layer, "verdict %v", v)
			require.Contains(t, v.Error(), "expired", "the verdict does not name the expiry: %v", v)
			// The emulator records its verdict as it answers: the client
			// may read the answer first.
			wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer wcancel()
			info, err := srv.WaitSession(wctx, func(s fmsim.SessionInfo) bool { return s.Verdict != nil })
			require.NoError(t, err, "no verdict at the emulator")
			require.Equal(t, sc.Rule, info.Verdict.Rule)
			require.Equal(t, "auth_expired", info.Verdict.Cause)
			for _, s := range testpeer.SignatureValues(t, expired) {
				require.NotContains(t, v.Error(), s)
				require.NotContains(t, logs.String(), s)
			}
		})
	}
}

func TestSignRefusedByNew(t *testing.T) {
	_, err := New(Settings{Source: "builtin:sample", Target: "rtmp://127.0.0.1:1/live",
		Sign: &signurl.Auth{Scheme: signurl.SchemeTencent, Key: "k"}})
	require.ErrorIs(t, err, signurl.ErrNoStream)
	_, err = New(Settings{Source: "builtin:sample", Target: "rtmp://127.0.0.1:1/live/x",
		Sign: &signurl.Auth{Scheme: "akamai", Key: "k"}})
	require.ErrorIs(t, err, signurl.ErrScheme)
}
