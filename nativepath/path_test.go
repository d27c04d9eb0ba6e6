package nativepath

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/fmsim/fmsimtest"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startEmulator(t *testing.T, profile string, rules ...string) *fmsim.Server {
	t.Helper()
	return fmsimtest.StartEmulator(t, &fmsim.Server{Profile: profile, Rules: rules, MaxSegment: 1448})
}

// runFor publishes for d (measured by the target's accepted video frames,
// not by sleeping) and returns Run's result after cancelling.
type running struct {
	cancel context.CancelFunc
	done   chan error
	sig    *health.Signals
}

func start(t *testing.T, p *Path, base time.Duration) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), sig: health.NewSignals()}
	go func() { r.done <- p.Run(ctx, base, r.sig) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(10 * time.Second):
		require.FailNow(t, "Run did not return within 10s of cancel")
		return nil
	}
}

// acceptedFrames waits (up to within) until the emulator's first session
// accepted frames video frames, and fails the test if it ended first.
func acceptedFrames(t *testing.T, srv *fmsim.Server, frames int, within time.Duration) fmsim.SessionInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	info, err := srv.WaitSession(ctx, func(s fmsim.SessionInfo) bool { return s.VideoFrames >= frames || s.Ended })
	require.NoError(t, err)
	require.False(t, info.Ended, "the emulator ended the session (%s %dx%d): %+v", info.VideoCodec, info.Width, info.Height, info.Verdict)
	return info
}

func mustNew(t *testing.T, s Settings) *Path {
	t.Helper()
	p, err := New(s)
	require.NoError(t, err)
	return p
}

func TestSamplePassesStrictCompanion(t *testing.T) {
	srv := startEmulator(t, "companion")
	p := mustNew(t, Settings{Source: "builtin:sample", Target: srv.URL("live", "cam1")})
	r := start(t, p, 0)
	// 3 s of 25 fps video accepted (the cached-GOP burst is not yet cached on a cold start).
	info := acceptedFrames(t, srv, 75, 20*time.Second)
	require.True(t, info.VideoCodec == "h264" && info.Width == 640 && info.Height == 360 && info.AudioCodec == "aac",
		"emulator saw %s %dx%d %s", info.VideoCodec, info.Width, info.Height, info.AudioCodec)
	require.True(t, info.StreamID != 1 && info.VideoTSRegressions == 0 && info.AudioTSRegressions == 0,
		"stream id %d, regressions v%d a%d", info.StreamID, info.VideoTSRegressions, info.AudioTSRegressions)
	// The emulator may count a frame before Signals does.
	require.True(t, r.sig.IsLive() && r.sig.VideoFrames.Load() >= 74, "signals: live %v frames %d", r.sig.IsLive(), r.sig.VideoFrames.Load())
	require.NoError(t, r.stop(t), "clean stop")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	end, _ := srv.WaitSession(ctx, func(s fmsim.SessionInfo) bool { return s.Ended })
	require.NotNil(t, end.Verdict, "the server ended the session")
	require.False(t, end.Verdict.ByServer(), "the server ended the session: %+v", end.Verdict)
}

func TestSampleToNginxIsPlayable(t *testing.T) {
	n := testpeer.StartNginx(t)
	p := mustNew(t, Settings{Source: "builtin:sample", Target: n.AppURL + "/native"})
	r := start(t, p, 0)
	testpeer.Eventually(t, 20*time.Second, "2 s of video sent", func() bool { return r.sig.VideoFrames.Load() >= 50 })
	require.NoError(t, r.stop(t))
	pr := testpeer.FFprobe(t, n.Recording("native"))
	v, a := pr.Video(), pr.Audio()
	require.True(t, v != nil && v.CodecName == "h264" && v.Width == 640 && v.Height == 360 && a != nil && a.CodecName == "aac",
		"recording: %+v", pr.Streams)
}

func TestConnectRejectionIsL2Verdict(t *testing.T) {
	srv := startEmulator(t, "lenient", "reject_flashver=FMLE/")
	p := mustNew(t, Settings{Source: "builtin:sample", Target: srv.URL("live", "x")})
	r := start(t, p, 0)
	select {
	case err := <-r.done:
		r.done <- err
		var v *health.Verdict
		require.True(t, errors.As(err, &v), "want an L2 native verdict, got %v", err)
		require.Equal(t, health.LayerConnect, v.Layer, "want an L2 native verdict, got %v", err)
		require.Equal(t, "native", v.Path, "want an L2 native verdict, got %v", err)
	case <-time.After(15 * time.Second):
		require.FailNow(t, "no verdict")
	}
}

func TestResetAfterFirstFrameIsL5WithTime(t *testing.T) {
	srv := startEmulator(t, "lenient", "rst_after_first_frame=100ms")
	p := mustNew(t, Settings{Source: "builtin:sample", Target: srv.URL("live", "x")})
	r := start(t, p, 0)
	select {
	case err := <-r.done:
		r.done <- err
		v := health.AsVerdict(err)
		require.True(t, v.Layer == health.LayerMedia && v.TimeToRST >= 80*time.Millisecond && v.TimeToRST <= 2*time.Second,
			"want L5 with ~100ms to RST, got %v (ttr %v)", err, v.TimeToRST)
	case <-time.After(15 * time.Second):
		require.FailNow(t, "no verdict")
	}
}

func TestBaseContinuesTimeline(t *testing.T) {
	srv := startEmulator(t, "lenient")
	p := mustNew(t, Settings{Source: "builtin:sample", Target: srv.URL("live", "tl")})
	r := start(t, p, 90*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := srv.WaitSession(ctx, func(s fmsim.SessionInfo) bool { return s.VideoFrames >= 10 })
	require.NoError(t, err)
	require.True(t, info.FirstVideoTS >= 90000 && info.FirstVideoTS <= 90100, "first video timestamp %d, want 90000", info.FirstVideoTS)
	r.stop(t)
}

func TestSourceUnavailableIsSourceVerdict(t *testing.T) {
	p := mustNew(t, Settings{Source: "file:/nonexistent/file.flv", Target: "rtmp://127.0.0.1:1/live/x", SourceGrace: 300 * time.Millisecond})
	err := p.Run(context.Background(), 0, health.NewSignals())
	v := health.AsVerdict(err)
	require.NotNil(t, v, "a missing file must be a source verdict, got %v", err)
	require.Equal(t, health.LayerSource, v.Layer, "a missing file must be a source verdict, got %v", err)
	_, err = New(Settings{Source: "builtin:nope"})
	require.Error(t, err, "an unknown builtin must fail New")
}

func TestSampleAcrossProfilesWithEveryRule(t *testing.T) {
	until := time.Now().Add(time.Hour)
	cases := []struct {
		profile string
		rules   []string
		name    string
	}{
		{"lenient", nil, "plain"},
		{"cloud", []string{"auth_secret=s3cret", "ack_timeout=1s", "ping_timeout=1s", "ping_interval=200ms"},
			fmsim.SignedName("s3cret", "cam", until)},
		{"companion", nil, "cam"},
	}
	for _, c := range cases {
		t.Run(c.profile, func(t *testing.T) {
			srv := startEmulator(t, c.profile, c.rules...)
			p := mustNew(t, Settings{Source: "builtin:sample", Target: srv.URL("live", c.name)})
			r := start(t, p, 0)
			// 3 s of accepted video: longer than the cloud profile's ack and ping timeouts here.
			info := acceptedFrames(t, srv, 75, 20*time.Second)
			if c.profile == "cloud" {
				require.True(t, info.AcksReceived != 0 && info.PingResponses != 0, "cloud saw %d acks and %d ping responses", info.AcksReceived, info.PingResponses)
			}
			r.stop(t)
		})
	}
}

func TestWarmAndRunShareOneIngest(t *testing.T) {
	srv := startEmulator(t, "lenient")
	p := mustNew(t, Settings{Source: "builtin:sample", Target: srv.URL("live", "w")})
	ctx, cancel := context.WithCancel(context.Background())
	warmed := make(chan struct{})
	go func() { defer close(warmed); p.Warm(ctx) }()
	r := start(t, p, 0) // races Warm, as the supervisor does
	testpeer.Eventually(t, 10*time.Second, "live", r.sig.IsLive)
	users := p.Ingest.Users()
	require.Equal(t, 2, users, "%d users of the ingest, want Warm and Run on one", users)
	r.stop(t)
	cancel()
	<-warmed
	in := p.Ingest
	in.mu.Lock()
	defer in.mu.Unlock()
	require.True(t, in.hub == nil && in.users == 0, "the ingest outlived its users: %d", in.users)
}
