package redact

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSecretsMaskEchoedKey(t *testing.T) {
	s := NewSecrets("rtsp://admin:CamPass99@10.0.0.2/cam", "rtmp://h/live/KEY12345?wsSecret=abcdef&wsTime=1700")
	for _, in := range []string{
		"KEY12345 is already publishing",
		"NetStream.Publish.BadName: stream KEY12345?wsSecret=abcdef&wsTime=1700 busy",
		"auth abcdef expired at 1700",
		"camera CamPass99 refused",
	} {
		out := s.Text(in)
		for _, secret := range []string{"KEY12345", "abcdef", "1700", "CamPass99"} {
			require.NotContains(t, out, secret, "in %q", in)
		}
	}
}

func TestSecretsKeyWithTrailingSlash(t *testing.T) {
	s := NewSecrets("", "rtmp://h/live/KEY12345/")
	require.Equal(t, "*** is already publishing", s.Text("KEY12345 is already publishing"))
}

func TestSecretsPlayPathAndShortWords(t *testing.T) {
	s := NewSecrets("", "rtmp://h/live/k", "PLAYKEY9?token=tok999")
	out := s.Text("publish PLAYKEY9?token=tok999 refused; PLAYKEY9 tok999; live k")
	require.NotContains(t, out, "PLAYKEY9")
	require.NotContains(t, out, "tok999")
	require.Contains(t, out, "live k", "secrets shorter than MinSecret are not replaced as words")
	var nilSecrets *Secrets
	require.Equal(t, "rtmp://h/live/***", nilSecrets.Text("rtmp://h/live/KEY"))
}

func TestURLKeyFollowedBySlash(t *testing.T) {
	for in, want := range map[string]string{
		"rtmp://host/live/KEY/":           "rtmp://host/live/***/",
		"rtmp://host/live/KEY//?k=v":      "rtmp://host/live/***//?k=***",
		"rtmp://host/live/":               "rtmp://host/live/",
		"rtmp://host/live/KEY":            "rtmp://host/live/***",
		"rtmps://host:443/app/sub/KEY/ x": "rtmps://host:443/app/sub/***/ x",
	} {
		require.Equal(t, want, Text(in), in)
	}
}

// Bilibili's documented "schedule=rtmp" is a query value, masked in URLs,
// but the word "rtmp" in ffmpeg's own text stays (Hostile input, finding 5).
func TestSecretsNeverMaskProtocolWords(t *testing.T) {
	s := NewSecrets("", "rtmp://h/live-bvc/?streamname=live_1_2&key=abc123&schedule=rtmp")
	require.Equal(t, "[rtmp @ 0x55d0] Handshaking...", s.Text("[rtmp @ 0x55d0] Handshaking..."))
	require.Equal(t, "rtmp://h/live-bvc/?streamname=***&key=***&schedule=***",
		s.Text("rtmp://h/live-bvc/?streamname=live_1_2&key=abc123&schedule=rtmp"))
	require.Equal(t, "stream *** refused", s.Text("stream live_1_2 refused"))
}

// A literal is masked as a whole word, never inside a longer word of the
// text; echoed next to punctuation it is masked.
func TestSecretsWholeWords(t *testing.T) {
	s := NewSecrets("", "rtmp://h/live/abcd")
	require.Equal(t, "abcdef *** '***' ***? (***)", s.Text("abcdef abcd 'abcd' abcd? (abcd)"))
}

// An explicit play path whose query value Text masks first still hides its
// key in ffmpeg's "starting ffmpeg" line.
func TestSecretsPlayPathInArgs(t *testing.T) {
	s := NewSecrets("", "rtmp://h", "PLAYKEY9?token=tok999")
	require.Equal(t, "ffmpeg -rtmp_playpath ***?token=*** -f flv rtmp://h",
		s.Text("ffmpeg -rtmp_playpath PLAYKEY9?token=tok999 -f flv rtmp://h"))
}
