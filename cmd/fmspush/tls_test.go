package main

import (
	"crypto/tls"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/config"
)

// The rtmp.tls block reaches both paths: a TLS configuration for the
// native path and the probes, -ca_file and -verifyhost before the stream's
// own extra_args for ffmpeg.
func TestStreamTLS(t *testing.T) {
	var st config.Stream
	require.Nil(t, streamTLS(st))
	st.FFmpeg.ExtraArgs = []string{"-g", "50"}
	require.Equal(t, []string{"-g", "50"}, ffmpegExtraArgs(st))

	st.RTMP.TLS = config.TLS{ServerName: "ingest.example.com"}
	cfg := streamTLS(st)
	require.NotNil(t, cfg)
	require.Equal(t, "ingest.example.com", cfg.ServerName)
	require.False(t, cfg.InsecureSkipVerify)
	require.Nil(t, cfg.RootCAs, "the system's roots")

	// A CA file gone since the load refuses every connection, saying why.
	st.RTMP.TLS.CAFile = "/nonexistent/ca.pem"
	cfg = streamTLS(st)
	require.NotNil(t, cfg.VerifyConnection)
	require.ErrorContains(t, cfg.VerifyConnection(tls.ConnectionState{}), "/nonexistent/ca.pem")
	require.Equal(t, []string{"-ca_file", "/nonexistent/ca.pem", "-verifyhost", "ingest.example.com", "-g", "50"}, ffmpegExtraArgs(st))
}
