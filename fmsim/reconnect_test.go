package fmsim

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/rtmp"
)

// awaitReconnectRequest services p (as its owner does on Wake) until the
// server's ReconnectRequest arrives or within passes.
func awaitReconnectRequest(t *testing.T, p *rtmp.Publisher, within time.Duration) (rtmp.ReconnectRequest, bool) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		select {
		case <-p.Wake():
			require.NoError(t, p.Service())
			if r, ok := p.TakeReconnectRequest(); ok {
				return r, true
			}
		case <-p.Done():
			return rtmp.ReconnectRequest{}, false
		case <-deadline.C:
			return rtmp.ReconnectRequest{}, false
		}
	}
}

// TestReconnectRequestOnlyToCapableClients: reconnect_request_after asks a
// publisher whose connect advertised capsEx Reconnect, with the tcUrl of
// reconnect_tcurl, and withholds the request from one that did not.
func TestReconnectRequestOnlyToCapableClients(t *testing.T) {
	t.Parallel()
	const next = "rtmp://127.0.0.1:19350/other?token=s3cr3tvalue"
	s := startServer(t, ProfileLenient, "reconnect_request_after=300ms", "reconnect_tcurl="+next)
	require.NotContains(t, s.CurrentRules().String(), "s3cr3tvalue", "the rule listing masks the tcUrl's query")
	for _, capable := range []bool{true, false} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p, err := rtmp.Dial(ctx, s.URL("live", "cam"), rtmp.PublishOptions{Reconnect: capable})
		cancel()
		require.NoError(t, err)
		r, ok := awaitReconnectRequest(t, p, 2*time.Second)
		require.Equal(t, capable, ok, "asked: %+v", r)
		if capable {
			require.Equal(t, next, r.TCURL)
			require.NotEmpty(t, r.Description)
			require.NotContains(t, r.String(), "s3cr3tvalue", "String redacts the tcUrl")
		}
		require.NoError(t, p.Close())
	}
	first := waitEnded(t, s, 1, 5*time.Second)
	require.True(t, first.ReconnectCapable)
	require.Equal(t, uint32(rtmp.CapsExReconnect), first.CapsEx)
	require.False(t, first.ReconnectRequestedAt.IsZero())
	require.Equal(t, "unpublished", first.Verdict.Cause, "the session went on until the client ended it")
	second := waitEnded(t, s, 2, 5*time.Second)
	require.False(t, second.ReconnectCapable)
	require.True(t, second.ReconnectRequestedAt.IsZero(), "never asked")
	require.True(t, second.ReconnectWithheld, "the rule fired and withheld the request")
}

// TestReconnectRequestWithheldFromFFmpeg: ffmpeg 5.1 does not advertise
// capsEx, so it is never asked.
func TestReconnectRequestWithheldFromFFmpeg(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileLenient, "reconnect_request_after=500ms")
	out, err := runFFmpeg(t, s.URL("live", "ff"), 2)
	require.NoError(t, err, "ffmpeg: %s", out)
	info := waitEnded(t, s, 1, 10*time.Second)
	require.True(t, strings.Contains(info.FlashVer, "Lavf"), "ffmpeg's flashVer: %q", info.FlashVer)
	require.Zero(t, info.CapsEx)
	require.True(t, info.ReconnectWithheld && info.ReconnectRequestedAt.IsZero(), "%+v", info)
	requireSampleReceived(t, info, 2)
}
