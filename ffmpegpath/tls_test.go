package ffmpegpath

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/rtmp"
)

// An rtmps:// target is verified (-tls_verify 1), with the rtmp.tls
// block's options in ExtraArgs after it, which may override it; an rtmp://
// target gets no TLS option.
func TestTLSArgs(t *testing.T) {
	s := Settings{Source: "rtsp://cam/1", Target: "rtmps://203.0.113.7/live/key",
		ExtraArgs: append(TLSArgs("/etc/ca.pem", "ingest.example.com"), "-g", "50")}
	s = s.withDefaults()
	args := BuildArgs(s, SourceInfo{}, time.Second)
	i := slices.Index(args, "-tls_verify")
	require.Positive(t, i, "%q", args)
	require.Equal(t, "1", args[i+1])
	j := slices.Index(args, "-ca_file")
	require.Greater(t, j, i, "the CA file comes after -tls_verify: %q", args)
	require.Equal(t, []string{"-ca_file", "/etc/ca.pem", "-verifyhost", "ingest.example.com", "-g", "50", s.Target}, args[j:])
	require.Equal(t, []string{"tls_verify=1", "ca_file=/etc/ca.pem", "verifyhost=ingest.example.com"}, tlsOptions(s))

	s.ExtraArgs = append(s.ExtraArgs, "-tls_verify", "0")
	require.Equal(t, []string{"tls_verify=0", "ca_file=/etc/ca.pem", "verifyhost=ingest.example.com"}, tlsOptions(s))

	s.Target, s.ExtraArgs = "rtmp://203.0.113.7/live/key", nil
	require.NotContains(t, BuildArgs(s, SourceInfo{}, 0), "-tls_verify")
	require.Nil(t, tlsOptions(s))
	require.Nil(t, TLSArgs("", ""))
}

// ffmpeg's (GnuTLS) TLS errors in the native path's words.
func TestTLSCause(t *testing.T) {
	require.Equal(t, rtmp.CauseTLSHostname, tlsCause("The certificate's owner does not match hostname other.test"))
	require.Equal(t, rtmp.CauseTLSUntrusted, tlsCause("Peer certificate failed verification"))
	require.Equal(t, rtmp.CauseTLSFailed, tlsCause("Error in the pull function."))
}
