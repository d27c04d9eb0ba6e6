package rtmp

import (
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/redact"
)

func TestReconnectURL(t *testing.T) {
	const cur = "rtmp://ingest.example:1935/live/key?token=abc"
	for _, tc := range []struct{ tcURL, want string }{
		{"", cur},
		{"rtmp://edge2.example:1936/live", "rtmp://edge2.example:1936/live/key?token=abc"},
		{"rtmp://edge2.example/live/", "rtmp://edge2.example/live/key?token=abc"},
		{"rtmps://edge2.example/app/_definst_", "rtmps://edge2.example/app/_definst_/key?token=abc"},
		{"//192.0.2.7/realtimeapp", "rtmp://192.0.2.7/realtimeapp/key?token=abc"},
		{"/other", "rtmp://ingest.example:1935/other/key?token=abc"},
		{"rtmp://edge2.example/live?x=1", "rtmp://edge2.example/live/key?token=abc"},
	} {
		got, err := ReconnectURL(cur, tc.tcURL)
		require.NoError(t, err, tc.tcURL)
		require.Equal(t, tc.want, got, tc.tcURL)
	}
	// Credentials stay with their host.
	got, err := ReconnectURL("rtmp://u:pw@ingest.example/live/key", "/live2")
	require.NoError(t, err)
	require.Equal(t, "rtmp://u:pw@ingest.example/live2/key", got)
	got, err = ReconnectURL("rtmp://u:pw@ingest.example/live/key", "rtmp://other.example/live")
	require.NoError(t, err)
	require.Equal(t, "rtmp://other.example/live/key", got)
	for _, bad := range []string{"http://x.example/live", "rtmp://x.example", "rtmp://x.example/a/b/c", "%zz"} {
		_, err := ReconnectURL(cur, bad)
		require.Error(t, err, bad)
	}
}

// TestReconnectRequestBounds: a request is kept only by a session that
// advertised it; a tcUrl over MaxReconnectTCURL (or not a string) makes it
// ignored; the description is cut and its secrets masked; String redacts.
func TestReconnectRequestBounds(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	const url = "rtmp://h.example/live/key?token=s3cr3t"
	newPub := func(advertise bool) *Publisher {
		return &Publisher{opts: PublishOptions{Reconnect: advertise}, conn: NewConn(a, ConnOptions{DeferReplies: true}),
			secrets: redact.NewSecrets("", url, "")}
	}
	st := StatusInfo{Level: "status", Code: CodeReconnectRequest, Description: "moving key?token=s3cr3t " + strings.Repeat("é", 400)}

	p := newPub(false)
	p.noteReconnect(st, "rtmp://x.example/live")
	_, ok := p.TakeReconnectRequest()
	require.False(t, ok, "not advertised: ignored")

	p = newPub(true)
	p.noteReconnect(st, "rtmp://x.example/live?sig=abcdef")
	select {
	case <-p.Wake():
	default:
		require.FailNow(t, "no Wake")
	}
	r, ok := p.TakeReconnectRequest()
	require.True(t, ok)
	require.Equal(t, "rtmp://x.example/live?sig=abcdef", r.TCURL)
	require.LessOrEqual(t, len(r.Description), MaxReconnectDescription)
	require.NotContains(t, r.Description, "s3cr3t")
	require.NotContains(t, r.String(), "abcdef")
	_, ok = p.TakeReconnectRequest()
	require.False(t, ok, "taken once")

	p.noteReconnect(st, "rtmp://x.example/"+strings.Repeat("a", MaxReconnectTCURL))
	_, ok = p.TakeReconnectRequest()
	require.False(t, ok, "an oversized tcUrl is not followed")
	p.noteReconnect(st, 42.0)
	_, ok = p.TakeReconnectRequest()
	require.False(t, ok, "a tcUrl that is not a string is not followed")
	p.noteReconnect(st, nil)
	r, ok = p.TakeReconnectRequest()
	require.True(t, ok)
	require.Empty(t, r.TCURL, "no tcUrl: the current one")
}

func TestConnectAdvertisesCapsExOnlyWhenAsked(t *testing.T) {
	p := &Publisher{target: &Target{App: "live", TCURL: "rtmp://h/live"}}
	p.opts.defaults()
	_, ok := p.connectObject().Get("capsEx")
	require.False(t, ok, "off by default, as ffmpeg")
	p.opts.Reconnect = true
	v, ok := p.connectObject().Get("capsEx")
	require.True(t, ok)
	require.Equal(t, float64(CapsExReconnect), v)
}
