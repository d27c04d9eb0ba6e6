package nativepath

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

const testStallTimeout = 3 * time.Second

// A server that stops reading 2 s after publish is an L4 stall within
// stall_timeout + 1 s, whatever the stream's bitrate and the kernel's
// buffers; the stalled session is reset (the emulator sees the client end
// it), and a new publish of the same key is accepted at once where the
// server refuses a second publisher.
func TestStallDetectedAndSessionClosed(t *testing.T) {
	sources := map[string]func(t *testing.T) string{
		"sample 0.5 Mbit/s": func(*testing.T) string { return "builtin:sample" },
		"1080p30 4 Mbit/s":  func(t *testing.T) string { return "file:" + testpeer.HD1080p(t).Path },
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			stallAndTakeOver(t, src(t))
		})
	}
}

func stallAndTakeOver(t *testing.T, source string) {
	const stallAfter = 2 * time.Second
	srv := startEmulator(t, "cloud", "stall_after_publish=2s", "single_publisher=true")
	target := srv.URL("live", "stallkey")
	p := mustNew(t, Settings{Source: source, Target: target, StallTimeout: testStallTimeout})
	r := start(t, p, 0)
	var err error
	select {
	case err = <-r.done:
		r.done <- err
	case <-time.After(stallAfter + testStallTimeout + 10*time.Second):
		require.FailNow(t, "no verdict 15 s after the stall")
	}
	var v *health.Verdict
	require.True(t, errors.As(err, &v), "verdict, got %v", err)
	require.Equal(t, health.LayerUpkeep, v.Layer, v.Error())
	require.Equal(t, health.CauseStalled, v.Cause, v.Error())
	require.Positive(t, v.SinceDial, "a stall verdict carries the session's timings")
	require.Positive(t, v.SincePublish, "a stall verdict carries the session's timings")
	require.Zero(t, v.TimeToRST, "a stall is no reset by the server: %v", v)
	first := srv.Sessions()[0]
	detect := v.At.Sub(first.PublishedAt.Add(stallAfter))
	t.Logf("%s: stall detected %v after the server stopped reading: %s", source, detect.Round(time.Millisecond), v.Detail)
	require.Less(t, detect, testStallTimeout+time.Second)
	require.Greater(t, detect, testStallTimeout-500*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ended, err := srv.WaitSession(ctx, func(s fmsim.SessionInfo) bool { return s.ID == first.ID && s.Ended })
	require.NoError(t, err, "the emulator still holds the stalled session")
	require.Equal(t, fmsim.ClosedByClient, ended.Verdict.ClosedBy, "%+v", ended.Verdict)
	require.Equal(t, fmsim.PeerRST, ended.Verdict.PeerClose, "a stalled session is reset, not left to drain")

	// The other path's publish of the same key (a second Run here) is taken.
	require.NoError(t, srv.UpdateRules("stall_after_publish=0"))
	p2 := mustNew(t, Settings{Source: source, Target: target, StallTimeout: testStallTimeout})
	r2 := start(t, p2, 0)
	info, err := srv.WaitSession(ctx, func(s fmsim.SessionInfo) bool { return s.ID != first.ID && (s.VideoFrames >= 10 || s.Ended) })
	require.NoError(t, err)
	require.False(t, info.Ended, "takeover refused: %+v", info.Verdict)
	require.NoError(t, r2.stop(t))
}
