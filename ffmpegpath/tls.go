package ffmpegpath

import (
	"strings"

	"github.com/fmspush/fmspush/rtmp"
)

// tlsCause names a failed TLS handshake from ffmpeg 5.1's (GnuTLS) error
// line, in the native path's words: "The certificate's owner does not
// match hostname H" is rtmp.CauseTLSHostname; "Peer certificate failed
// verification" (no trusted authority, or expired: GnuTLS's one word for
// both) is rtmp.CauseTLSUntrusted; anything else rtmp.CauseTLSFailed.
func tlsCause(msg string) string {
	switch {
	case strings.Contains(msg, "does not match hostname"):
		return rtmp.CauseTLSHostname
	case strings.Contains(msg, "certificate failed verification"):
		return rtmp.CauseTLSUntrusted
	}
	return rtmp.CauseTLSFailed
}
