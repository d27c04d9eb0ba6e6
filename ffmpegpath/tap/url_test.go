package tap

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/internal/testpeer"
)

func TestParseTarget(t *testing.T) {
	cases := []struct {
		raw, app, addr, host, tcURL, local string
		tls                                bool
	}{
		{"rtmp://a.example/live/key", "", "a.example:1935", "a.example", "rtmp://a.example:1935/live", "rtmp://R/live/key", false},
		{"rtmps://b.example/rtmp/KEY?s_bl=1&x=2", "", "b.example:443", "b.example", "rtmps://b.example:443/rtmp", "rtmp://R/rtmp/KEY?s_bl=1&x=2", true},
		{"rtmps://b.example:4443/app/key", "", "b.example:4443", "b.example", "rtmps://b.example:4443/app", "rtmp://R/app/key", true},
		{"rtmp://c.example:1936/app/inst/key", "", "c.example:1936", "c.example", "rtmp://c.example:1936/app/inst", "rtmp://R/app/inst/key", false},
		{"rtmp://c.example/app/mp4:dir/file", "", "c.example:1935", "c.example", "rtmp://c.example:1935/app", "rtmp://R/app/mp4:dir/file", false},
		{"rtmp://d.example/live-bvc/?streamname=live_1&key=abc", "", "d.example:1935", "d.example", "rtmp://d.example:1935/live-bvc", "rtmp://R/live-bvc/?streamname=live_1&key=abc", false},
		{"rtmp://d.example/live-bvc/?streamname=live_1", "other", "d.example:1935", "d.example", "rtmp://d.example:1935/other", "rtmp://R/live-bvc/?streamname=live_1", false},
		{"rtmp://e.example/app?slist=key", "", "e.example:1935", "e.example", "rtmp://e.example:1935/app", "rtmp://R/app?slist=key", false},
		{"rtmp://e.example/ondemand/x/y", "", "e.example:1935", "e.example", "rtmp://e.example:1935/ondemand", "rtmp://R/ondemand/x/y", false},
		{"rtmp://e.example/key", "", "e.example:1935", "e.example", "rtmp://e.example:1935/", "rtmp://R/key", false},
		{"rtmp://[::1]:1940/live/key", "", "[::1]:1940", "::1", "rtmp://[::1]:1940/live", "rtmp://R/live/key", false},
	}
	for _, c := range cases {
		tg, err := ParseTarget(c.raw, c.app)
		require.NoError(t, err, c.raw)
		require.Equal(t, Target{Addr: c.addr, TLS: c.tls, Host: c.host, TCURL: c.tcURL, path: tg.path}, tg, c.raw)
		require.Equal(t, c.local, tg.LocalURL("R"), c.raw)
	}
	for raw, want := range map[string]error{
		"http://a.example/live/key":      ErrScheme,
		"rtmpe://a.example/live/key":     ErrScheme,
		"rtmp://user:pw@a.example/l/key": ErrCredentials,
		"rtmp://:1935/live/key":          ErrHost,
		"rtmp://a.example:99999/l/key":   ErrHost,
		"rtmp://[::1/live/key":           ErrHost,
	} {
		_, err := ParseTarget(raw, "")
		require.ErrorIs(t, err, want, raw)
		require.NotContains(t, err.Error(), "key")
	}
}

// TestTCURLMatchesFFmpeg: the tcUrl ParseTarget computes is the one ffmpeg
// sends when it connects to the URL itself.
func TestTCURLMatchesFFmpeg(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	srv := &fmsim.Server{Listen: "127.0.0.1:0"}
	require.NoError(t, srv.Start())
	defer srv.Close()
	base := "rtmp://" + srv.Addr()
	for i, path := range []string{"/live/k1", "/app/inst/k2", "/app/mp4:k3/x", "/live/k4?token=a/b", "/live-bvc/?streamname=k5&key=x"} {
		tg, err := ParseTarget(base+path, "")
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-i", testpeer.SamplePath(t),
			"-t", "0.5", "-c", "copy", "-f", "flv", base+path)
		out, err := cmd.CombinedOutput()
		cancel()
		require.NoError(t, err, "%s", out)
		s, ok := srv.Session(i + 1)
		require.True(t, ok)
		require.Equal(t, s.TCURL, tg.TCURL, path)
	}
}
