package ffmpegpath

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/fmsim/fmsimtest"
)

// TestFFmpegPathNotAskedToReconnect: ffmpeg 5.1's connect (relayed by the
// tap) advertises no Enhanced RTMP v2 capsEx, so a server that would ask a
// publisher to reconnect withholds its ReconnectRequest, and the push goes on.
func TestFFmpegPathNotAskedToReconnect(t *testing.T) {
	srv := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileLenient, Rules: []string{"reconnect_request_after=500ms"}})
	r := startRun(t, &Exec{Settings: sampleSettings(t, srv.URL("live", "ff"))}, 0)
	r.waitLive(t, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := srv.WaitSession(ctx, func(s fmsim.SessionInfo) bool { return s.ReconnectWithheld || s.Ended })
	require.NoError(t, err)
	require.False(t, info.Ended, "%+v", info.Verdict)
	require.Zero(t, info.CapsEx, "ffmpeg advertises nothing")
	require.True(t, info.ReconnectRequestedAt.IsZero(), "never asked")
	r.cancel()
	require.NoError(t, r.wait(t, 10*time.Second))
}
