package tap

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// liveFor is how long the no-false-stall tests push.
const liveFor = 20 * time.Second

// watchLive samples the relay's reading every DefaultSampleInterval until
// the push has run until (a time), failing if the relay or ffmpeg ends
// first, and returns the longest StalledFor seen and the last reading.
func watchLive(t testing.TB, r *Relay, p *pusher, until time.Time) (worst time.Duration, last Reading) {
	t.Helper()
	tick := time.NewTicker(DefaultSampleInterval)
	defer tick.Stop()
	end := time.NewTimer(time.Until(until))
	defer end.Stop()
	for {
		select {
		case <-r.Done():
			t.Fatalf("the relay ended during a healthy push: %v; reading %+v; ffmpeg: %s", r.Err(), r.Reading(), p.stderr.String())
		case <-p.done:
			t.Fatalf("ffmpeg exited during a healthy push: %s", p.stderr.String())
		case <-tick.C:
			last = r.Reading()
			require.Falsef(t, last.Stalled, "a stall judged on a healthy push: %+v", last)
			worst = max(worst, last.StalledFor)
		case <-end.C:
			return worst, r.Reading()
		}
	}
}

// stopClean stops ffmpeg (it unpublishes through the relay) and checks
// that the relay ends without error.
func stopClean(t testing.TB, r *Relay, p *pusher) {
	t.Helper()
	p.stop(t)
	require.NoError(t, waitDone(t, r, 10*time.Second), "the relay after ffmpeg's orderly end")
}

// requireAcked checks that the server acknowledged and the judgement rests on it.
func requireAcked(t testing.TB, rd Reading) {
	t.Helper()
	require.True(t, rd.Injected, "%+v", rd)
	require.True(t, rd.AckSeen, "the server sent no acknowledgement: %+v", rd)
	require.Equal(t, EvidenceAck, rd.Evidence)
	require.Less(t, rd.Queued, uint64(2*DefaultAckWindow+64<<10), "%+v", rd)
	require.Greater(t, rd.Acked, rd.Forwarded/2, "%+v", rd)
}

func TestNoFalseStall(t *testing.T) {
	t.Run("fmsim", func(t *testing.T) {
		t.Parallel()
		srv := &fmsim.Server{Listen: "127.0.0.1:0", Profile: fmsim.ProfileCloud, MaxSegment: 1448}
		require.NoError(t, srv.Start())
		defer srv.Close()
		r, _ := startRelay(t, srv.Addr(), nil)
		p := push(t, r, srv.URL("live", "livekey"), testpeer.SamplePath(t), true)
		worst, rd := watchLive(t, r, p, time.Now().Add(liveFor))
		t.Logf("fmsim (cloud) for %v: longest StalledFor %v; acks %d (spacing %d B), forwarded %d B, acked %d B, lag %v, throughput %.0f b/s",
			liveFor, worst, rd.Acks, rd.AckSpacing, rd.Forwarded, rd.Acked, rd.TCP.Lag, rd.TCP.Throughput)
		requireAcked(t, rd)
		stopClean(t, r, p)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := srv.WaitSession(ctx, func(s fmsim.SessionInfo) bool { return s.Ended })
		require.NoError(t, err)
		require.True(t, s.Published())
		require.Greater(t, s.VideoFrames, 100)
		require.Equal(t, "unpublished", s.Verdict.Cause, "%+v", s.Verdict)
	})
	t.Run("nginx", func(t *testing.T) {
		t.Parallel()
		ng := testpeer.StartNginxServer(t)
		r, _ := startRelay(t, ng.Addr(), nil)
		start := time.Now()
		p := push(t, r, ng.PublishURL("livekey"), testpeer.SamplePath(t), true)
		testpeer.Eventually(t, 10*time.Second, "nginx's first acknowledgement", func() bool { return r.Reading().AckSeen })
		probe := ng.Capture(t, "livekey", 4*time.Second)
		require.NotNil(t, probe.Video())
		require.Greater(t, probe.Video().FrameCount(), 50, "played back: %+v", probe.Streams)
		worst, rd := watchLive(t, r, p, start.Add(liveFor))
		t.Logf("%s for %v: played back %d video frames; longest StalledFor %v; acks %d (spacing %d B), forwarded %d B, acked %d B, lag %v, throughput %.0f b/s",
			ng.Name, liveFor, probe.Video().FrameCount(), worst, rd.Acks, rd.AckSpacing, rd.Forwarded, rd.Acked, rd.TCP.Lag, rd.TCP.Throughput)
		requireAcked(t, rd)
		stopClean(t, r, p)
	})
}

func TestServerWithoutAcks(t *testing.T) {
	servers := []struct {
		name  string
		start func(testing.TB) *testpeer.Server
	}{
		{"lal", testpeer.StartLal},
		{"go2rtc", func(t testing.TB) *testpeer.Server { return testpeer.StartGo2RTCStreams(t, "noacks") }},
	}
	for _, sv := range servers {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			r, _ := startRelay(t, srv.Addr(), nil)
			p := push(t, r, srv.PublishURL("noacks"), testpeer.SamplePath(t), true)
			testpeer.Eventually(t, 10*time.Second, "TCP evidence of the push", func() bool { return r.Reading().TCP.Taken > 64<<10 })
			probe := srv.Capture(t, "noacks", 3*time.Second)
			require.NotNil(t, probe.Video(), "%s played nothing back", srv.Name)
			require.Greater(t, probe.Video().FrameCount(), 30, "%+v", probe.Streams)
			rd := r.Reading()
			t.Logf("%s: played back %d video frames; acks %d, evidence %s, TCP taken %d B, pending %d B, lag %v, throughput %.0f b/s, StalledFor %v",
				srv.Name, probe.Video().FrameCount(), rd.Acks, rd.Evidence, rd.TCP.Taken, rd.TCP.Pending, rd.TCP.Lag, rd.TCP.Throughput, rd.StalledFor)
			require.True(t, rd.Injected)
			require.False(t, rd.AckSeen, "%s acknowledged: %+v", srv.Name, rd)
			require.Equal(t, EvidenceTCP, rd.Evidence)
			require.False(t, rd.Stalled)
			require.Greater(t, rd.TCP.Throughput, 100e3)
			p.stop(t)
			err := waitDone(t, r, 10*time.Second)
			var se *StallError
			require.False(t, errors.As(err, &se), "a stall on a healthy push: %v", err)
			t.Logf("%s: the relay ended with %v", srv.Name, err)
		})
	}
}
