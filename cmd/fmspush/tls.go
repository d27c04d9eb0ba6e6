package main

import (
	"crypto/tls"

	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/ffmpegpath"
	"github.com/fmspush/fmspush/rtmp"
)

// streamTLS is the TLS configuration of a stream's rtmps:// target (and
// probe target) from its rtmp.tls block, for the native path and every
// probe; nil (the system's roots, the URL's host) without one. A CA file
// that cannot be read any more (config.Load checked it) makes every
// handshake fail with why, an L0 verdict, rather than fall back to the
// system's roots.
func streamTLS(st config.Stream) *tls.Config {
	t := st.RTMP.TLS
	if t == (config.TLS{}) {
		return nil
	}
	cfg, err := rtmp.TLSConfig(t.CAFile, t.ServerName)
	if err != nil {
		// Verification is not skipped: VerifyConnection refuses every
		// connection with the error.
		return &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: true, //nolint:gosec // always refused below
			VerifyConnection: func(tls.ConnectionState) error { return err }}
	}
	return cfg
}

// ffmpegExtraArgs are the ffmpeg path's extra output options: the
// rtmp.tls block's (ffmpegpath.TLSArgs), then the stream's own extra_args,
// which may override them.
func ffmpegExtraArgs(st config.Stream) []string {
	tlsArgs := ffmpegpath.TLSArgs(st.RTMP.TLS.CAFile, st.RTMP.TLS.ServerName)
	if len(tlsArgs) == 0 {
		return st.FFmpeg.ExtraArgs
	}
	return append(tlsArgs, st.FFmpeg.ExtraArgs...)
}
