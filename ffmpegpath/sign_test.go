package ffmpegpath

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/fmsim/fmsimtest"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/rtmp"
	"github.com/fmspush/fmspush/signurl"
)

const signKey = "ffS1gnKeyOfTheTest"

// signaturesBetween are the values of every signature auth makes for raw
// in the whole seconds from (a second before) to (a second after): those a
// run made in that time are among them.
func signaturesBetween(t *testing.T, auth *signurl.Auth, raw string, from, to time.Time) []string {
	t.Helper()
	var out []string
	for at := from.Add(-time.Second); !at.After(to.Add(time.Second)); at = at.Add(time.Second) {
		signed, err := auth.Sign(raw, at)
		require.NoError(t, err)
		out = append(out, testpeer.SignatureValues(t, signed)...)
	}
	return out
}

// emulatorSessionAfter waits for the first session after id that published
// and took video, failing when it ended first.
func emulatorSessionAfter(t *testing.T, srv *fmsim.Server, id int) fmsim.SessionInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := srv.WaitSession(ctx, func(s fmsim.SessionInfo) bool {
		return s.ID > id && (s.VideoFrames >= 10 || s.Ended)
	})
	require.NoError(t, err, "no session after %d: %+v", id, srv.Sessions())
	require.False(t, info.Ended, "the emulator ended the session: %+v", info.Verdict)
	return info
}

// signedRunsAfterExpiry: with Sign set and a 2 s ttl a run publishes, and a
// run started after its signature expired (the emulator refuses that
// signature by then) publishes too, on a fresh one. Neither run's
// signature shows in the path's log.
func signedRunsAfterExpiry(t *testing.T, mk driverFor) {
	for _, sc := range testpeer.SignSchemes {
		t.Run(sc.Scheme, func(t *testing.T) {
			srv := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileLenient, Rules: []string{sc.Rule + "=" + signKey}})
			target := srv.URL("live", "cam")
			auth := &signurl.Auth{Scheme: sc.Scheme, Key: signKey, TTL: 2 * time.Second}
			set := sampleSettings(t, target)
			log, logs := testLogger(t)
			set.Logger, set.Sign = log, auth
			d := mk(t, set)
			began := time.Now()
			var first string
			for run := 0; run < 2; run++ {
				last := len(srv.Sessions())
				r := startRun(t, d, 0)
				r.waitLive(t, 30*time.Second)
				info := emulatorSessionAfter(t, srv, last)
				require.Equal(t, "cam", info.StreamName)
				r.cancel()
				require.NoError(t, r.wait(t, 10*time.Second))
				if run == 0 {
					// Signed after the run's own signature, so expiring no sooner.
					var err error
					first, err = auth.Sign(target, time.Now())
					require.NoError(t, err)
					testpeer.Eventually(t, 10*time.Second, "the first run's signature expired", func() bool {
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						defer cancel()
						pub, err := rtmp.Dial(ctx, first, rtmp.PublishOptions{})
						if err == nil {
							pub.Close()
							return false
						}
						return strings.Contains(err.Error(), "expired")
					})
				}
			}
			text := logs.String()
			// The exec driver published through the tap relay (ffmpeg given its
			// local URL with the signed name, the relay the real server).
			require.NotContains(t, text, "publishing without the tap relay")
			// The log shows the signed URL, masked.
			require.Contains(t, text, auth.Params()[0]+"=***", "the log shows no signed URL")
			for _, v := range signaturesBetween(t, auth, target, began, time.Now()) {
				require.NotContains(t, text, v, "a signature in the log")
			}
		})
	}
}

// expiredSignatureRefused: a target pasted with an expired signature (no
// Sign) ends the run with an L3 verdict that names the expiry and shows
// none of the signature's values, nor does the log.
func expiredSignatureRefused(t *testing.T, mk driverFor) {
	for _, sc := range testpeer.SignSchemes {
		t.Run(sc.Scheme, func(t *testing.T) {
			srv := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileLenient, Rules: []string{sc.Rule + "=" + signKey}})
			expired, err := signurl.Auth{Scheme: sc.Scheme, Key: signKey, TTL: time.Minute}.Sign(srv.URL("live", "cam"), time.Now().Add(-time.Hour))
			require.NoError(t, err)
			set := sampleSettings(t, expired)
			log, logs := testLogger(t)
			set.Logger = log
			v := driverVerdict(t, mk(t, set))
			require.Equal(t, health.LayerPublish, v.Layer, "verdict %v", v)
			require.Contains(t, v.Error(), "expired", "the verdict does not name the expiry: %v", v)
			info := lastSession(t, srv)
			require.Equal(t, sc.Rule, info.Verdict.Rule)
			require.Equal(t, "auth_expired", info.Verdict.Cause)
			for _, s := range testpeer.SignatureValues(t, expired) {
				require.NotContains(t, v.Error(), s)
				require.NotContains(t, logs.String(), s)
			}
		})
	}
}

func TestSignedTargetFreshOnEveryRun(t *testing.T) { signedRunsAfterExpiry(t, execFor) }
func TestExpiredSignatureRefusedAtL3(t *testing.T) { expiredSignatureRefused(t, execFor) }

func TestSignedTargetSettings(t *testing.T) {
	s := Settings{Source: "x.flv", Target: "rtmp://127.0.0.1:1/live/cam?vhost=v",
		Sign: &signurl.Auth{Scheme: signurl.SchemeAliyun, Key: "k"}}.withDefaults()
	require.NoError(t, s.validate())
	signed, err := s.signed(time.Unix(1767225600, 0))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(signed.Target, "rtmp://127.0.0.1:1/live/cam?vhost=v&auth_key=1767312000-0-0-"), signed.Target)
	require.Equal(t, "rtmp://127.0.0.1:1/live/cam?vhost=v", s.Target, "signing changed the settings")

	bad := s
	bad.Target = "rtmp://127.0.0.1:1/live"
	require.ErrorIs(t, bad.validate(), signurl.ErrNoStream)
	bad = s
	bad.RTMPPlayPath = "other"
	require.Error(t, bad.validate())
	v := verdictOf(t, (&Exec{Settings: bad}).Run(context.Background(), 0, health.NewSignals()))
	require.Equal(t, "bad_settings", v.Cause)
}
