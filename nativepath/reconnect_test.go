package nativepath

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/signurl"
)

// The sample's GOP (a keyframe every 2 s) and frame interval (25 fps).
const (
	sampleGOP   = 2 * time.Second
	sampleFrame = 40 * time.Millisecond
)

// reconnectKey is the stream key with a secret in its query: no log line
// may show it.
const reconnectKey = "cam1?token=s3cr3tkey"

func debugLogger(logs *testpeer.LogBuffer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
}

// waitSession waits (up to within) for the first session of srv that pred
// accepts.
func waitSession(t *testing.T, srv *fmsim.Server, within time.Duration, what string, pred func(fmsim.SessionInfo) bool) fmsim.SessionInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	info, err := srv.WaitSession(ctx, pred)
	require.NoError(t, err, "%s; sessions: %+v", what, srv.Sessions())
	return info
}

func requireRunning(t *testing.T, r *running) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		require.FailNow(t, "Run returned", "%v", err)
	default:
	}
}

// TestReconnectRequestMovesToNewServer: a server's ReconnectRequest naming
// another server's tcUrl moves the publish there at a keyframe: the new
// server's first frame is a keyframe, its timestamp continues the old
// server's (no step back, within one GOP and a frame), the old session is
// unpublished by the client, the path keeps running with no verdict and
// its signals count on.
func TestReconnectRequestMovesToNewServer(t *testing.T) {
	newSrv := startEmulator(t, "companion", "keyframe_first")
	oldSrv := startEmulator(t, "companion", "reconnect_request_after=2s",
		"reconnect_tcurl=rtmp://"+newSrv.Addr()+"/live")
	logs := &testpeer.LogBuffer{}
	p := mustNew(t, Settings{Source: "builtin:sample", Target: oldSrv.URL("live", reconnectKey), Logger: debugLogger(logs)})
	r := start(t, p, 0)
	waitSession(t, oldSrv, 20*time.Second, "3 s of video at the old server",
		func(s fmsim.SessionInfo) bool { return s.VideoFrames >= 75 || s.Ended })
	acksBefore, ackedBefore := r.sig.AcksReceived.Load(), r.sig.BytesAcked.Load()

	moved := waitSession(t, newSrv, 30*time.Second, "50 frames at the new server",
		func(s fmsim.SessionInfo) bool { return s.VideoFrames >= 50 || s.Ended })
	require.False(t, moved.Ended, "the new server ended the session: %+v", moved.Verdict)
	old := waitSession(t, oldSrv, 10*time.Second, "the old session ended",
		func(s fmsim.SessionInfo) bool { return s.Ended })
	requireRunning(t, r)

	require.True(t, old.ReconnectCapable && !old.ReconnectRequestedAt.IsZero(), "old: %+v", old)
	require.Nil(t, old.Violation)
	require.False(t, old.Verdict.ByServer(), "the old server ended the session: %+v", old.Verdict)
	require.Equal(t, "unpublished", old.Verdict.Cause, "the client unpublished from the old server")
	require.Equal(t, fmsim.ClosedByClient, old.Verdict.ClosedBy)
	require.Equal(t, "cam1", moved.StreamName, "same stream name")
	require.Nil(t, moved.Violation, "new server: %+v", moved.Violation)
	require.True(t, moved.FirstFrameKey, "the new session starts at a keyframe")
	require.Zero(t, moved.VideoTSRegressions)
	require.Zero(t, moved.AudioTSRegressions)
	require.Equal(t, "h264", moved.VideoCodec)
	require.Equal(t, "aac", moved.AudioCodec)

	mediaGap := time.Duration(int64(moved.FirstVideoTS)-int64(old.LastVideoTS)) * time.Millisecond
	wallGap := moved.FirstFrameAt.Sub(old.LastFrameAt)
	require.GreaterOrEqual(t, mediaGap, time.Duration(0), "no step back: old last %d ms, new first %d ms", old.LastVideoTS, moved.FirstVideoTS)
	require.LessOrEqual(t, mediaGap, sampleGOP+sampleFrame, "media gap")
	require.LessOrEqual(t, wallGap, sampleGOP+sampleFrame, "wall gap")
	t.Logf("request to switch %v (wall); old last video %d ms, new first %d ms: media gap %v, wall gap %v; old %d frames, new %d so far",
		moved.FirstFrameAt.Sub(old.ReconnectRequestedAt).Round(time.Millisecond), old.LastVideoTS, moved.FirstVideoTS,
		mediaGap, wallGap.Round(time.Millisecond), old.VideoFrames, moved.VideoFrames)

	require.True(t, r.sig.IsLive())
	require.Positive(t, acksBefore)
	require.Greater(t, r.sig.AcksReceived.Load(), acksBefore, "acks count on across the move")
	require.Greater(t, r.sig.BytesAcked.Load(), ackedBefore, "bytes acknowledged count on across the move")
	sent := r.sig.VideoFrames.Load()
	require.GreaterOrEqual(t, sent, int64(old.VideoFrames+moved.VideoFrames), "signals count both sessions")
	require.NoError(t, r.stop(t))
	end := waitSession(t, newSrv, 10*time.Second, "the new session ended", func(s fmsim.SessionInfo) bool { return s.Ended })
	require.Equal(t, "unpublished", end.Verdict.Cause)
	require.Len(t, newSrv.Sessions(), 1)
	require.Len(t, oldSrv.Sessions(), 1)
	require.Contains(t, logs.String(), "moved to the new server at a keyframe")
	require.NotContains(t, logs.String(), "s3cr3tkey")
}

// TestReconnectRequestToTheSameURL: a request without a tcUrl moves the
// publish to the current URL: a second session at the same server.
func TestReconnectRequestToTheSameURL(t *testing.T) {
	srv := startEmulator(t, "lenient", "reconnect_request_after=1s", "keyframe_first")
	p := mustNew(t, Settings{Source: "builtin:sample", Target: srv.URL("live", "cam1")})
	r := start(t, p, 0)
	second := waitSession(t, srv, 30*time.Second, "25 frames on a second session",
		func(s fmsim.SessionInfo) bool { return s.ID == 2 && (s.VideoFrames >= 25 || s.Ended) })
	require.False(t, second.Ended, "%+v", second.Verdict)
	first := waitSession(t, srv, 10*time.Second, "the first session ended",
		func(s fmsim.SessionInfo) bool { return s.ID == 1 && s.Ended })
	require.Equal(t, "unpublished", first.Verdict.Cause)
	require.True(t, second.FirstFrameKey)
	require.GreaterOrEqual(t, second.FirstVideoTS, first.LastVideoTS)
	requireRunning(t, r)
	require.NoError(t, r.stop(t))
}

// TestReconnectRequestNotSentWhenNotAdvertised: with NoReconnectRequest the
// path advertises nothing in connect, so the server's rule withholds its
// request and the session goes on.
func TestReconnectRequestNotSentWhenNotAdvertised(t *testing.T) {
	newSrv := startEmulator(t, "lenient")
	oldSrv := startEmulator(t, "lenient", "reconnect_request_after=500ms",
		"reconnect_tcurl=rtmp://"+newSrv.Addr()+"/live")
	p := mustNew(t, Settings{Source: "builtin:sample", Target: oldSrv.URL("live", "cam1"), NoReconnectRequest: true})
	r := start(t, p, 0)
	withheld := waitSession(t, oldSrv, 20*time.Second, "the request withheld",
		func(s fmsim.SessionInfo) bool { return s.ReconnectWithheld || s.Ended })
	require.False(t, withheld.Ended, "%+v", withheld.Verdict)
	require.Zero(t, withheld.CapsEx, "nothing advertised")
	later := waitSession(t, oldSrv, 10*time.Second, "a second more of video",
		func(s fmsim.SessionInfo) bool { return s.VideoFrames >= withheld.VideoFrames+25 || s.Ended })
	require.False(t, later.Ended)
	require.True(t, later.ReconnectRequestedAt.IsZero(), "never asked")
	require.Empty(t, newSrv.Sessions(), "no connection to the other server")
	requireRunning(t, r)
	require.NoError(t, r.stop(t))
}

// TestReconnectRequestFailedMoveKeepsPublishing: when the URL the server
// names refuses the connection, the current session publishes on (no
// verdict, frames growing, one session) and the failure is logged. The
// path does not retry on its own: the server's next request (here, the
// rule changed to name a server that listens) is followed.
func TestReconnectRequestFailedMoveKeepsPublishing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := ln.Addr().String()
	require.NoError(t, ln.Close())
	srv := startEmulator(t, "lenient", "reconnect_request_after=1s", "reconnect_tcurl=rtmp://"+refused+"/live")
	logs := &testpeer.LogBuffer{}
	p := mustNew(t, Settings{Source: "builtin:sample", Target: srv.URL("live", reconnectKey), Logger: debugLogger(logs)})
	r := start(t, p, 0)
	asked := waitSession(t, srv, 20*time.Second, "the request sent",
		func(s fmsim.SessionInfo) bool { return !s.ReconnectRequestedAt.IsZero() || s.Ended })
	require.False(t, asked.Ended, "%+v", asked.Verdict)
	testpeer.Eventually(t, 10*time.Second, "the failed move logged", func() bool {
		return strings.Contains(logs.String(), "moving to the URL the server asked for failed")
	})
	later := waitSession(t, srv, 10*time.Second, "two more seconds of video on the same session",
		func(s fmsim.SessionInfo) bool { return s.VideoFrames >= asked.VideoFrames+50 || s.Ended })
	require.False(t, later.Ended, "%+v", later.Verdict)
	require.Len(t, srv.Sessions(), 1)
	requireRunning(t, r)
	require.True(t, r.sig.IsLive())
	require.Contains(t, logs.String(), "connection_refused")
	require.Equal(t, 1, later.ReconnectRequests, "asked once")

	newSrv := startEmulator(t, "lenient", "keyframe_first")
	require.NoError(t, srv.UpdateRules("reconnect_tcurl=rtmp://"+newSrv.Addr()+"/live"))
	moved := waitSession(t, newSrv, 20*time.Second, "the next request followed",
		func(s fmsim.SessionInfo) bool { return s.VideoFrames >= 25 || s.Ended })
	require.False(t, moved.Ended, "%+v", moved.Verdict)
	old := waitSession(t, srv, 10*time.Second, "the old session ended",
		func(s fmsim.SessionInfo) bool { return s.Ended })
	require.Equal(t, 2, old.ReconnectRequests)
	require.Equal(t, "unpublished", old.Verdict.Cause)
	require.True(t, moved.FirstFrameKey)
	require.GreaterOrEqual(t, moved.FirstVideoTS, old.LastVideoTS)
	requireRunning(t, r)
	require.NotContains(t, logs.String(), "s3cr3tkey")
	require.NoError(t, r.stop(t))
}

// TestReconnectRequestNameHeldBreaksBeforeMaking: a request to the same URL
// of a server that takes one publisher a name refuses the new session while
// the current one holds the name (L3 name_locked); the path then unpublishes
// the current session at the next keyframe and publishes again, the
// keyframe first, the timeline continued with no step.
func TestReconnectRequestNameHeldBreaksBeforeMaking(t *testing.T) {
	srv := startEmulator(t, "companion", "reconnect_request_after=1s", "keyframe_first")
	logs := &testpeer.LogBuffer{}
	p := mustNew(t, Settings{Source: "builtin:sample", Target: srv.URL("live", reconnectKey), Logger: debugLogger(logs)})
	r := start(t, p, 0)
	third := waitSession(t, srv, 30*time.Second, "25 frames on a third session",
		func(s fmsim.SessionInfo) bool { return s.ID == 3 && (s.VideoFrames >= 25 || s.Ended) })
	require.False(t, third.Ended, "%+v", third.Verdict)
	ss := srv.Sessions()
	first, refused := ss[0], ss[1]
	require.True(t, first.Ended && refused.Ended)
	require.Equal(t, "single_publisher", refused.Verdict.Rule, "the make-before-break attempt: %+v", refused.Verdict)
	require.Equal(t, "unpublished", first.Verdict.Cause)
	require.True(t, third.FirstFrameKey)
	require.Zero(t, third.VideoTSRegressions)
	mediaGap := time.Duration(int64(third.FirstVideoTS)-int64(first.LastVideoTS)) * time.Millisecond
	wallGap := third.FirstFrameAt.Sub(first.LastFrameAt)
	require.GreaterOrEqual(t, mediaGap, time.Duration(0))
	require.LessOrEqual(t, mediaGap, sampleGOP+sampleFrame)
	t.Logf("break before make: old last video %d ms, new first %d ms: media gap %v, wall gap %v",
		first.LastVideoTS, third.FirstVideoTS, mediaGap, wallGap.Round(time.Millisecond))
	requireRunning(t, r)
	require.Contains(t, logs.String(), "unpublishing it at the next keyframe")
	require.NotContains(t, logs.String(), "s3cr3tkey")
	require.NoError(t, r.stop(t))
}

// TestReconnectRequestSignsTheNewURLAfresh: with a signed target, the move's
// connection carries a fresh signature: the first one (2 s ttl) has expired
// when the request comes (3 s), and the new server, which checks it,
// accepts the publish.
func TestReconnectRequestSignsTheNewURLAfresh(t *testing.T) {
	for _, sc := range testpeer.SignSchemes {
		t.Run(sc.Scheme, func(t *testing.T) {
			newSrv := startEmulator(t, "lenient", sc.Rule+"="+signKey, "keyframe_first")
			oldSrv := startEmulator(t, "lenient", sc.Rule+"="+signKey, "reconnect_request_after=3s",
				"reconnect_tcurl=rtmp://"+newSrv.Addr()+"/live")
			logs := &testpeer.LogBuffer{}
			auth := &signurl.Auth{Scheme: sc.Scheme, Key: signKey, TTL: 2 * time.Second}
			p := mustNew(t, Settings{Source: "builtin:sample", Target: oldSrv.URL("live", "cam"), Sign: auth, Logger: debugLogger(logs)})
			r := start(t, p, 0)
			moved := waitSession(t, newSrv, 30*time.Second, "25 frames at the new server",
				func(s fmsim.SessionInfo) bool { return s.VideoFrames >= 25 || s.Ended })
			require.False(t, moved.Ended, "%+v", moved.Verdict)
			require.Equal(t, "cam", moved.StreamName)
			old := waitSession(t, oldSrv, 10*time.Second, "the old session ended", func(s fmsim.SessionInfo) bool { return s.Ended })
			require.Equal(t, "unpublished", old.Verdict.Cause)
			requireRunning(t, r)
			require.NoError(t, r.stop(t))
			require.NotContains(t, logs.String(), "failed")
		})
	}
}
