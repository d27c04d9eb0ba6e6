package interop_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/ffmpegpath"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/nativepath"
	"github.com/fmspush/fmspush/rtmp"
	"github.com/fmspush/fmspush/supervisor"
)

// tlsServerName is the name the test certificates are issued for: the
// targets are rtmps://127.0.0.1:PORT, so the name checked is the
// configured one (rtmp.tls.server_name), never the address.
const tlsServerName = "rtmp.test"

// tlsPlay is how long TestRTMPS plays a verified publish back.
const tlsPlay = 6 * time.Second

// sampleGOP is the builtin sample's keyframe interval: nginx-rtmp starts a
// new player's video at the next keyframe (its audio at once), so a
// capture of d holds at least d less one GOP of video.
const sampleGOP = 2 * time.Second

// tlsPath returns the named path publishing the builtin sample to an
// rtmps:// target, verifying its certificate against caFile for
// serverName, as the wiring passes a stream's rtmp.tls block.
func tlsPath(t *testing.T, kind, target, caFile, serverName string, log hclog.Logger) supervisor.Path {
	t.Helper()
	switch kind {
	case "native":
		cfg, err := rtmp.TLSConfig(caFile, serverName)
		require.NoError(t, err)
		p, err := nativepath.New(nativepath.Settings{Source: "builtin:sample", Target: target, Logger: log,
			Publish: rtmp.PublishOptions{TLSConfig: cfg}})
		require.NoError(t, err)
		return p
	case "ffmpeg":
		testpeer.Need(t, "ffmpeg", "ffprobe")
		d, err := ffmpegpath.New(ffmpegpath.Settings{Driver: ffmpegpath.DriverExec, Source: ffmpegpath.SampleSource,
			SampleFile: testpeer.SamplePath(t), Target: target, Logger: log,
			ExtraArgs: ffmpegpath.TLSArgs(caFile, serverName)})
		require.NoError(t, err)
		return d
	}
	require.Failf(t, "unknown path", "unknown path %q", kind)
	return nil
}

// TestRTMPS publishes over TLS through stunnel (Debian's stunnel4, a real
// TLS terminator) in front of nginx-rtmp, on both paths, with certificate
// verification on and a test CA made at test time (testpeer.NewTestCA):
//   - verified: the certificate for rtmp.test, signed by the CA the path
//     trusts (ca_file) and checked for server_name rtmp.test: the stream
//     plays back from nginx-rtmp (H.264 640x360 + AAC);
//   - wrong host name: the same certificate checked for other.test: L0
//     tls_hostname_mismatch, the verdict names both names;
//   - untrusted: a certificate for rtmp.test from another CA: L0
//     tls_untrusted_certificate.
func TestRTMPS(t *testing.T) {
	t.Parallel()
	ngx := testpeer.StartNginxServer(t)
	ca := testpeer.NewTestCA(t, "fmspush test CA")
	cert, key := ca.Issue(t, tlsServerName)
	good := testpeer.StartStunnel(t, ngx.Addr(), cert, key)
	stranger := testpeer.NewTestCA(t, "untrusted test CA")
	cert2, key2 := stranger.Issue(t, tlsServerName)
	untrusted := testpeer.StartStunnel(t, ngx.Addr(), cert2, key2)

	cases := []struct {
		name       string
		tunnel     *testpeer.Server
		serverName string
		cause      string   // "" when the publish must be accepted
		words      []string // what the verdict must say
	}{
		{name: "verified", tunnel: good, serverName: tlsServerName},
		{name: "wronghost", tunnel: good, serverName: "other.test", cause: rtmp.CauseTLSHostname, words: []string{"other.test"}},
		{name: "untrusted", tunnel: untrusted, serverName: tlsServerName, cause: rtmp.CauseTLSUntrusted},
	}
	for _, kind := range paths {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					name := kind + "-" + c.name
					what := kind + " path, " + c.name + ", " + c.tunnel.Name + " in front of " + ngx.Name
					target := c.tunnel.PublishURL(name)
					p := tlsPath(t, kind, target, ca.CertFile, c.serverName, newLog(t, name))
					if c.cause == "" {
						r := startRun(t, p, what)
						pr := ngx.Capture(t, name, tlsPlay)
						v, a := pr.Video(), pr.Audio()
						require.NotNil(t, v, "%s: no video played back", what)
						require.NotNil(t, a, "%s: no audio played back", what)
						require.Equal(t, "h264", v.CodecName, what)
						require.Equal(t, [2]int{640, 360}, [2]int{v.Width, v.Height}, what)
						require.Equal(t, "aac", a.CodecName, what)
						require.GreaterOrEqual(t, v.FrameCount(), int(0.9*videoFPS*(tlsPlay-sampleGOP).Seconds()), "%s: video frames played back", what)
						t.Logf("%s: played back from nginx-rtmp %d video frames (h264 %dx%d) and %d aac frames in %v",
							what, v.FrameCount(), v.Width, v.Height, a.FrameCount(), tlsPlay)
						r.running(t, what)
						r.stop(t, what)
						return
					}
					v := runToVerdict(t, p, what)
					require.Equal(t, health.LayerNetwork, v.Layer, "%s: %v", what, v)
					require.Equal(t, c.cause, v.Cause, "%s: %v", what, v)
					for _, w := range c.words {
						require.Contains(t, v.Error(), w, what)
					}
					require.True(t, strings.Contains(strings.ToLower(v.Detail), "certificate"), "%s: the verdict does not name the certificate: %v", what, v)
				})
			}
		})
	}
}
