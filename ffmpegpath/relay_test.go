package ffmpegpath

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/ffmpegpath/tap"
	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/fmsim/fmsimtest"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/pause"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/rtmp"
)

// Through the relay ffmpeg publishes to the relay's local URL with the
// real tcUrl, without the tls options the relay applies itself (ffmpeg's
// plain hop refuses them), and the logged command line shows no secret.
func TestRelayedArgs(t *testing.T) {
	const key, token = "k3yZZ81", "t0kQQ5"
	ca := testpeer.NewTestCA(t, "args test CA")
	s := Settings{Source: "rtsp://cam/1", Target: "rtmps://ingest.example.com/live/" + key + "?token=" + token,
		ExtraArgs: append(TLSArgs(ca.CertFile, "rtmp.test"), "-g", "50", "-tls_verify", "0")}
	s = s.withDefaults()
	plan, err := planRelay(s)
	require.NoError(t, err)
	require.Equal(t, "ingest.example.com:443", plan.target.Addr)
	require.Equal(t, "rtmps://ingest.example.com:443/live", plan.target.TCURL)
	local := plan.target.LocalURL("127.0.0.1:5555")
	require.Equal(t, "rtmp://127.0.0.1:5555/live/"+key+"?token="+token, local)

	args := buildArgs(s, SourceInfo{}, 0, output{url: local, tcURL: plan.target.TCURL, relayed: true}, false)
	require.Equal(t, []string{"-rtmp_tcurl", plan.target.TCURL, "-g", "50", local}, args[len(args)-5:])
	for _, o := range []string{"-tls_verify", "-ca_file", "-verifyhost"} {
		require.NotContains(t, args, o)
	}
	logged := NewRedactor(s.Source, s.Target, s.RTMPPlayPath).Text(strings.Join(args, " "))
	require.NotContains(t, logged, key)
	require.NotContains(t, logged, token)
	require.Contains(t, logged, "rtmp://127.0.0.1:5555/live/***")

	direct := BuildArgs(s, SourceInfo{}, 0)
	require.Equal(t, s.Target, direct[len(direct)-1])
	require.Contains(t, direct, "-ca_file")
}

// What the relay can take, and what it cannot (the run then pushes
// directly and watches ffmpeg's socket).
func TestPlanRelay(t *testing.T) {
	base := Settings{Source: "/s.flv", Target: "rtmp://h/live/key"}
	_, err := planRelay(base)
	require.NoError(t, err)

	creds := base
	creds.Target = "rtmp://user:pw@h/live/key"
	_, err = planRelay(creds)
	require.ErrorIs(t, err, tap.ErrCredentials)
	require.NotContains(t, err.Error(), "pw")

	cert := base
	cert.Target, cert.ExtraArgs = "rtmps://h/live/key", []string{"-cert_file", "/c.pem"}
	_, err = planRelay(cert)
	require.ErrorIs(t, err, errClientCert)

	bili := base
	bili.Target = "rtmp://h/live-bvc/?streamname=live_1&key=abc"
	p, err := planRelay(bili)
	require.NoError(t, err)
	require.Equal(t, "rtmp://h:1935/live-bvc", p.target.TCURL)
	bili.ExtraArgs = []string{"-rtmp_app", "other"}
	p, err = planRelay(bili)
	require.NoError(t, err)
	require.Equal(t, "rtmp://h:1935/other", p.target.TCURL)
}

// The relay's TLS is the stream's: verified (system roots, or the CA
// file) for the name of -verifyhost, unverified only for -tls_verify 0; a
// CA file that cannot be read keeps the run off the relay (ffmpeg then
// fails as before).
func TestRelayTLS(t *testing.T) {
	ca := testpeer.NewTestCA(t, "relay test CA")
	s := Settings{Source: "/s.flv", Target: "rtmps://127.0.0.1:4443/live/key", ExtraArgs: TLSArgs(ca.CertFile, "rtmp.test")}
	p, err := planRelay(s)
	require.NoError(t, err)
	require.NotNil(t, p.tls)
	require.Equal(t, "rtmp.test", p.tls.ServerName)
	require.NotNil(t, p.tls.RootCAs)
	require.False(t, p.tls.InsecureSkipVerify)

	s.ExtraArgs = append(s.ExtraArgs, "-tls_verify", "0")
	p, err = planRelay(s)
	require.NoError(t, err)
	require.True(t, p.tls.InsecureSkipVerify)

	s.ExtraArgs = TLSArgs(filepath.Join(t.TempDir(), "missing.pem"), "")
	_, err = planRelay(s)
	require.Error(t, err)

	s.Target, s.ExtraArgs = "rtmp://127.0.0.1/live/key", nil
	p, err = planRelay(s)
	require.NoError(t, err)
	require.Nil(t, p.tls)
}

// The relay's dial errors are the target's L0 failures, in the native
// path's words, judged before ffmpeg's words (it only saw its local
// connection close); a dial the run cancelled when ffmpeg gave up on its
// handshake is the dial's timeout.
func TestClassifyRelayDialErrors(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reset := append(setupLines(3, "handshake"), 5,
		"[error] "+behaviourTarget+": Connection reset by peer")
	opErr := func(errno error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
	}
	tests := []struct {
		name   string
		err    error
		layer  health.Layer
		cause  string
		detail string
	}{
		{"refused", &tap.DialError{Addr: "h:1935", At: t0, Err: opErr(syscall.ECONNREFUSED)},
			health.LayerNetwork, "connection_refused", "connection refused"},
		{"timeout", &tap.DialError{Addr: "h:1935", At: t0, Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}},
			health.LayerNetwork, "dial_timeout", "timeout"},
		{"unreachable", &tap.DialError{Addr: "h:1935", At: t0, Err: opErr(syscall.EHOSTUNREACH)},
			health.LayerNetwork, "unreachable", ""},
		{"dns", &tap.DialError{Addr: "h:1935", At: t0, Err: &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "h"}}},
			health.LayerNetwork, "dns_failed", "no such host"},
		{"tls host", &tap.DialError{Addr: "h:443", TLS: true, At: t0, Err: x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"rtmp.test"}}, Host: "other.test"}},
			health.LayerNetwork, rtmp.CauseTLSHostname, "TLS handshake with h:443: x509: certificate is valid for rtmp.test, not other.test"},
		{"tls untrusted", &tap.DialError{Addr: "h:443", TLS: true, At: t0, Err: x509.UnknownAuthorityError{}},
			health.LayerNetwork, rtmp.CauseTLSUntrusted, "certificate"},
		{"tls expired", &tap.DialError{Addr: "h:443", TLS: true, At: t0, Err: x509.CertificateInvalidError{Reason: x509.Expired}},
			health.LayerNetwork, rtmp.CauseTLSExpired, "certificate"},
		{"tls other", &tap.DialError{Addr: "h:443", TLS: true, At: t0, Err: errors.New("tls: handshake failure")},
			health.LayerNetwork, rtmp.CauseTLSFailed, ""},
		{"cancelled while ffmpeg waited", &tap.DialError{Addr: "h:1935", At: t0, Err: &net.OpError{Op: "dial", Err: context.Canceled}},
			health.LayerNetwork, "dial_timeout", "did not complete"},
		{"no relay error: ffmpeg's words", nil, health.LayerHandshake, "handshake_reset", "reset by peer"},
		{"the server's reset after the dial: ffmpeg's words", &net.OpError{Op: "read", Err: syscall.ECONNRESET},
			health.LayerHandshake, "handshake_reset", "reset by peer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := Classify(Exit{Source: "/s.flv", Target: behaviourTarget, Binary: "ffmpeg", Start: t0,
				Lines: transcriptAt(t0, reset...), End: t0.Add(10 * time.Millisecond), ExitCode: 1, RelayErr: tc.err})
			require.NotNil(t, v)
			require.Equal(t, tc.layer, v.Layer, "%v", v)
			require.Equal(t, tc.cause, v.Cause, "%v", v)
			require.Contains(t, v.Detail, tc.detail)
			require.GreaterOrEqual(t, v.SinceDial, time.Duration(0))
		})
	}
}

// The relay's Paused hook reports each pause of the process once (the
// relay then restarts its stall clocks: tap's TestRelayRestartsItsClocksAfterAPause).
func TestRelayPausedHook(t *testing.T) {
	t0 := time.Now()
	w := &pause.Watch{}
	w.Tick(t0)
	rel := newRelay(Settings{StallTimeout: time.Second, IOTimeout: 4 * time.Second}, relayPlan{}, w, t0)
	require.Equal(t, 3600*time.Millisecond, rel.DialTimeout, "the dial gives up before ffmpeg's own timeout")
	require.False(t, rel.Paused(t0.Add(100*time.Millisecond)))
	w.Tick(t0.Add(20 * time.Second))
	require.True(t, rel.Paused(t0.Add(20*time.Second+time.Millisecond)))
	require.False(t, rel.Paused(t0.Add(20*time.Second+100*time.Millisecond)), "one pause, reported once")
}

// The relay's readings feed the signals: what the server's application
// acknowledged since the publish, the acks, the lag.
func TestTapWatchReportsTheRelaysReadings(t *testing.T) {
	srv := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileCloud})
	set := sampleSettings(t, srv.URL("live", "sigkey"))
	log, buf := testLogger(t)
	set.Logger = log
	r := startRun(t, &Exec{Settings: set}, 0)
	r.waitLive(t, 20*time.Second)
	testpeer.Eventually(t, 15*time.Second, "acknowledged bytes in the signals", func() bool {
		return r.sig.AcksReceived.Load() >= 5 && r.sig.BytesAcked.Load() > 32<<10 && r.sig.NeededBps.Load() > 0
	})
	t.Logf("signals: acks %d, acked %d B, throughput %d b/s, needed %d b/s, lag %d ms, unacked %d ms",
		r.sig.AcksReceived.Load(), r.sig.BytesAcked.Load(), r.sig.ThroughputBps.Load(), r.sig.NeededBps.Load(),
		r.sig.LagMillis.Load(), r.sig.UnackedFor.Load())
	r.cancel()
	require.NoError(t, r.wait(t, 10*time.Second))
	s := lastSession(t, srv)
	require.Equal(t, "rtmp://"+srv.Addr()+"/live", s.TCURL, "the server sees the real tcUrl")
	require.False(t, s.Verdict.ByServer(), "%+v", s.Verdict)
	require.Contains(t, buf.String(), "-rtmp_tcurl")
	require.NotContains(t, buf.String(), "sigkey")
	require.NotContains(t, buf.String(), "publishing without the tap relay")
}
