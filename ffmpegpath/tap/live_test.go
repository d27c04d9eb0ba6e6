package tap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
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
			require.Failf(t, "the relay ended during a healthy push", "the relay ended during a healthy push: %v; reading %+v; ffmpeg: %s", r.Err(), r.Reading(), p.stderr.String())
		case <-p.done:
			require.Failf(t, "ffmpeg exited during a healthy push", "ffmpeg exited during a healthy push: %s", p.stderr.String())
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
	// nginx-rtmp at 4 Mbit/s: about 30 acks a second, which ffmpeg, reading
	// one server message per write, would not keep up with (the relay
	// strips them: nothing waits in ffmpeg's socket).
	t.Run("nginx", func(t *testing.T) {
		t.Parallel()
		ng := testpeer.StartNginxServer(t)
		r, _ := startRelay(t, ng.Addr(), nil)
		start := time.Now()
		p := push(t, r, ng.PublishURL("livekey"), testpeer.HD1080p(t).Path, true)
		testpeer.Eventually(t, 10*time.Second, "nginx's first acknowledgement", func() bool { return r.Reading().AckSeen })
		probe := ng.Capture(t, "livekey", 4*time.Second)
		require.NotNil(t, probe.Video())
		require.Greater(t, probe.Video().FrameCount(), 50, "played back: %+v", probe.Streams)
		worst, rd := watchLive(t, r, p, start.Add(liveFor))
		unread := unreadByPeer(t, r.Addr())
		t.Logf("%s for %v: played back %d video frames; longest StalledFor %v; acks %d (spacing %d B), forwarded %d B, acked %d B, lag %v, throughput %.0f b/s; unread in ffmpeg's socket %d B",
			ng.Name, liveFor, probe.Video().FrameCount(), worst, rd.Acks, rd.AckSpacing, rd.Forwarded, rd.Acked, rd.TCP.Lag, rd.TCP.Throughput, unread)
		requireAcked(t, rd)
		require.Greater(t, rd.Acks, int64(400))
		require.Less(t, unread, 1024, "server messages pile up unread in ffmpeg's socket")
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

// unreadByPeer is the receive queue of the connection to addr from this
// host (ffmpeg's socket to the relay), from /proc/net/tcp: what its
// process has not read.
func unreadByPeer(t testing.TB, addr string) int {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	require.NoError(t, err)
	ip := ap.Addr().As4()
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ap.Port())
	b, err := os.ReadFile("/proc/net/tcp")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[2] == want && f[3] == "01" {
			_, rx, _ := strings.Cut(f[4], ":")
			n, err := strconv.ParseInt(rx, 16, 64)
			require.NoError(t, err)
			return int(n)
		}
	}
	require.Failf(t, "no connection", "no connection to %s in /proc/net/tcp", addr)
	return 0
}
