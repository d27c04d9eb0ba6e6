package interop_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/rtmp"
)

// authPlay is how long TestPublishAuth plays an accepted publish back.
const authPlay = 6 * time.Second

// authServer is a server with publish authentication on, and how a
// publish URL of it is signed.
type authServer struct {
	name  string
	start func(t testing.TB) *testpeer.Server
	// query is the auth query of name: right, wrong (a bad signature) and,
	// where the server has expiries, expired (a right signature past its
	// expiry); "" when the server has no such case.
	query func(name, kind string) string
	// secrets are what must never show in a verdict or a log.
	secrets func(name string) []string
}

// authServers are the two real servers with signed publish URLs.
var authServers = []authServer{
	{
		// lal v0.37.4's simple_auth: lal_secret=md5(key+name), no expiry.
		name:  "lal",
		start: testpeer.StartLalAuth,
		query: func(name, kind string) string {
			switch kind {
			case "right":
				return "?lal_secret=" + testpeer.LalSecret(testpeer.LalAuthKey, name)
			case "wrong":
				return "?lal_secret=" + testpeer.LalSecret("not-the-key", name)
			}
			return ""
		},
		secrets: func(name string) []string {
			return []string{testpeer.LalAuthKey, testpeer.LalSecret(testpeer.LalAuthKey, name), testpeer.LalSecret("not-the-key", name)}
		},
	},
	{
		// node-media-server 4.4.3: sign=EXPIRY-md5("/live/NAME-EXPIRY-SECRET").
		name:  "nms",
		start: testpeer.StartNMSAuth,
		query: func(name, kind string) string {
			switch kind {
			case "right":
				return "?sign=" + testpeer.NMSSign("live", name, testpeer.NMSAuthSecret, time.Now().Add(time.Hour))
			case "wrong":
				return "?sign=" + testpeer.NMSSign("live", name, "not-the-secret", time.Now().Add(time.Hour))
			case "expired":
				return "?sign=" + testpeer.NMSSign("live", name, testpeer.NMSAuthSecret, time.Now().Add(-time.Minute))
			}
			return ""
		},
		secrets: func(name string) []string {
			s := []string{testpeer.NMSAuthSecret}
			for _, d := range []time.Duration{time.Hour, -time.Minute} {
				sign := testpeer.NMSSign("live", name, testpeer.NMSAuthSecret, time.Now().Add(d))
				s = append(s, sign[strings.IndexByte(sign, '-')+1:])
			}
			return s
		},
	},
}

// TestPublishAuth publishes to lal (simple_auth) and node-media-server
// (signed URLs) with publish authentication on, on both paths: a right
// signature is accepted and the stream plays back from the server (H.264
// 640x360 + AAC); a wrong signature, and on node-media-server an expired
// one, end the push with an L3 publish_refused verdict that names
// authentication (both servers answer NetStream.Publish.Start, then close).
// No signature, key or secret shows in a verdict or in the path's log.
// lal v0.37.4's simple_auth has no expiry, so it has no expired case.
// Like TestServerBehaviours it runs before the 60 s scenarios, not beside
// them: a refusal is told from an L5 reset by its timing (the server closes
// at once after NetStream.Publish.Start, not ~100 ms after the first
// frame), which a starved two-core machine blurs.
func TestPublishAuth(t *testing.T) {
	for _, as := range authServers {
		t.Run(as.name, func(t *testing.T) {
			t.Parallel()
			s := as.start(t)
			for _, kind := range paths {
				t.Run(kind, func(t *testing.T) {
					t.Parallel()
					for _, c := range []string{"right", "wrong", "expired"} {
						t.Run(c, func(t *testing.T) {
							name := kind + "-" + c
							q := as.query(name, c)
							if q == "" {
								t.Skipf("%s has no %s signature (lal v0.37.4's simple_auth has no expiry)", s.Name, c)
							}
							t.Parallel()
							what := kind + " path, " + c + " signature, " + s.Name
							var log testpeer.LogBuffer
							p := newPath(t, kind, s.PublishURL(name)+q, source{},
								hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Debug, Output: &log}))
							t.Cleanup(func() {
								if t.Failed() {
									t.Logf("%s log (last lines):\n%s", name, tail(log.String(), 40))
								}
							})
							if c == "right" {
								authAccepted(t, s, p, name, what)
							} else {
								authRefused(t, p, what, as.secrets(name))
							}
							for _, sec := range as.secrets(name) {
								require.NotContains(t, log.String(), sec, "%s: a secret in the path's log", what)
							}
						})
					}
				})
			}
		})
	}
}

// authAccepted requires that p goes live, that name plays back from s
// (H.264 640x360 and AAC, most of authPlay's frames) and that p stops
// without a verdict.
func authAccepted(t *testing.T, s *testpeer.Server, p path, name, what string) {
	t.Helper()
	r := startRun(t, p, what)
	pr := s.Capture(t, name, authPlay)
	v, a := pr.Video(), pr.Audio()
	require.NotNil(t, v, "%s: no video played back", what)
	require.NotNil(t, a, "%s: no audio played back", what)
	require.Equal(t, "h264", v.CodecName, what)
	require.Equal(t, [2]int{640, 360}, [2]int{v.Width, v.Height}, what)
	require.Equal(t, "aac", a.CodecName, what)
	require.GreaterOrEqual(t, v.FrameCount(), int(0.8*videoFPS*authPlay.Seconds()), "%s: video frames played back", what)
	t.Logf("%s: played back %d video frames of h264 %dx%d and %d aac frames in %v", what,
		v.FrameCount(), v.Width, v.Height, a.FrameCount(), authPlay)
	r.running(t, what)
	r.stop(t, what)
}

// runToVerdict runs p until it ends, within 30 s, and returns its verdict
// (logged with the run's time); the run must end with one.
func runToVerdict(t *testing.T, p path, what string) *health.Verdict {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	err := p.Run(ctx, 0, health.NewSignals())
	require.Error(t, err, "%s: the push was not refused", what)
	v := health.AsVerdict(err)
	t.Logf("%s: after %v: %v", what, time.Since(began).Round(time.Millisecond), v)
	return v
}

// authRefused requires that p's run ends, within 30 s, with an L3
// publish_refused verdict whose text names authentication and none of
// secrets.
func authRefused(t *testing.T, p path, what string, secrets []string) {
	t.Helper()
	v := runToVerdict(t, p, what)
	require.Equal(t, health.LayerPublish, v.Layer, "%s: %v", what, v)
	require.Equal(t, rtmp.CausePublishRefused, v.Cause, "%s: %v", what, v)
	require.Contains(t, v.Error(), "authentication", what)
	for _, sec := range secrets {
		require.NotContains(t, v.Error(), sec, "%s: a secret in the verdict", what)
	}
}
