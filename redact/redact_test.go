package redact

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestURL(t *testing.T) {
	cases := map[string]string{
		"rtmp://push.example.com/live/SECRETKEY123":                           "rtmp://push.example.com/live/***",
		"rtmp://push.example.com/live/SECRETKEY123?wsSecret=abc123&wsTime=5f": "rtmp://push.example.com/live/***?wsSecret=***&wsTime=***",
		"rtmp://h/live?streamname=live_1&key=abc123/":                         "rtmp://h/live?streamname=***&key=***/",
		"rtmps://h:443/app/":                                            "rtmps://h:443/app/",
		"rtsp://admin:hunter2@10.0.0.2:554/stream1":                     "rtsp://admin:***@10.0.0.2:554/stream1",
		"rtsp://cam/stream?token=abc123":                                "rtsp://cam/stream?token=***",
		"builtin:sample":                                                "builtin:sample",
		"rtmp://127.0.0.1:1935/live":                                    "rtmp://127.0.0.1:1935/live",
		"rtmp://h/live-bvc/?streamname=live_1&key=abc123&schedule=rtmp": "rtmp://h/live-bvc/?streamname=***&key=***&schedule=***",
	}
	for in, want := range cases {
		assert.Equal(t, want, URL(in), "URL(%q)", in)
	}
}

func TestText(t *testing.T) {
	in := `[rtmp @ 0x55] Server error: rtmp://h/live/SECRETKEY123?wsSecret=abc123 rejected; key=SECRETKEY123 token=abc123`
	out := Text(in)
	for _, secret := range []string{"SECRETKEY123", "abc123"} {
		require.NotContains(t, out, secret, "Text left %q in %q", secret, out)
	}
	require.Contains(t, out, "rtmp://h/live/***", "Text lost the URL shape: %q", out)
}

// The signed-URL parameters (signurl) outside a URL: Tencent's txSecret and
// txTime, Alibaba Cloud's auth_key.
func TestTextSignatures(t *testing.T) {
	out := Text(`publish name cam?txSecret=f85a2ab3&txTime=5C271099 refused; auth_key=1767225600-0-0-2b6ea00f was expired`)
	for _, secret := range []string{"f85a2ab3", "5C271099", "1767225600-0-0-2b6ea00f", "2b6ea00f"} {
		require.NotContains(t, out, secret, "Text left %q in %q", secret, out)
	}
	require.Contains(t, out, "auth_key=***")
}

func TestHost(t *testing.T) {
	require.Equal(t, "h:1935", Host("rtmp://u:p@h:1935/live/k?x=y"), "Host")
	require.Equal(t, "", Host("builtin:sample"), "Host")
}

func FuzzURL(f *testing.F) {
	f.Add("rtmp://h/live/KEY?wsSecret=SECRET")
	f.Add("rtmp://h/live?streamname=x&key=SECRET/")
	f.Fuzz(func(t *testing.T, s string) {
		out := URL(s)
		_ = Text(s)
		if strings.Contains(s, "wsSecret=SECRETVALUE") {
			require.NotContains(t, out, "SECRETVALUE", "secret survived: %q -> %q", s, out)
		}
	})
}

// Structure, not string search: a camera password holding '/' is userinfo;
// a key that is also the app is masked in the app too.
func TestURLStructure(t *testing.T) {
	for in, want := range map[string]string{
		"rtsp://admin:pa/ss99@10.0.0.2/ch1?x=1": "rtsp://admin:***@10.0.0.2/ch1?x=***",
		"rtsp://admin:pa/ss99@10.0.0.2":         "rtsp://admin:***@10.0.0.2",
		"rtsp://10.0.0.2/ch1/a@b":               "rtsp://10.0.0.2/ch1/a@b",
		"rtmp://h/KEY123/KEY123":                "rtmp://h/***/***",
		"rtmp://h/live/KEY123/":                 "rtmp://h/live/***/",
		"rtmp://h:1935/live/ab@cd":              "rtmp://h:1935/live/***",
		"rtmp://u:pw@h/live/k":                  "rtmp://u:***@h/live/***",
	} {
		require.Equal(t, want, URL(in), in)
	}
}
