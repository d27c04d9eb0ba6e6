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
