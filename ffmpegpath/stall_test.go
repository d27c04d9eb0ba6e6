package ffmpegpath

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/fmsim/fmsimtest"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// stallAfter is when the emulator stops reading (after Publish.Start), and
// stallTimeout the push's StallTimeout in the stall tests.
const (
	stallAfter   = 2 * time.Second
	stallTimeout = 3 * time.Second
	// windowCreep bounds how late the Meter's stall clock starts on TCP's
	// evidence of ffmpeg's own socket (see stallRun).
	windowCreep = 29 * time.Second
)

// stallRun pushes source (the sample when empty) to an emulator that stops
// reading stallAfter after the publish, and checks that the run ends with an
// L4 stall, and that the connection ended with the client's reset (how: the
// way the driver resets it). Through the relay (how is resetRelay) the
// stall must be judged from the server's acks within StallTimeout + 1 s of
// the stall. It returns the detection time (from the stall to Run's return).
func stallRun(t *testing.T, mk driverFor, source, how string) time.Duration {
	return stallRunWith(t, mk, source, how, nil)
}

// stallRunWith is stallRun with the settings edited (after the target is set).
func stallRunWith(t *testing.T, mk driverFor, source, how string, edit func(*Settings)) time.Duration {
	srv := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileLenient, Rules: []string{"stall_after_publish=" + stallAfter.String()}})
	set := sampleSettings(t, srv.URL("live", "stallkey"))
	if source != "" {
		set.Source, set.SampleFile = source, ""
	}
	if edit != nil {
		edit(&set)
	}
	set.StallTimeout = stallTimeout
	log, buf := testLogger(t)
	set.Logger = log
	r := startRun(t, mk(t, set), 0)
	err := r.wait(t, 40*time.Second)
	v := verdictOf(t, err)
	s := lastSession(t, srv)
	require.Truef(t, s.Published(), "the emulator's session never published: %+v", s)
	stallAt := s.PublishedAt.Add(stallAfter)
	took := r.ended.Sub(stallAt)
	limit := stallTimeout + windowCreep
	if how == resetRelay {
		limit = stallTimeout + time.Second
	}
	t.Logf("verdict %v", v)
	t.Logf("stall detected and the run returned %v after the stall began (limit %v); emulator: %d video frames, %d bytes in, verdict %+v",
		took.Round(time.Millisecond), limit, s.VideoFrames, s.BytesIn, s.Verdict)
	t.Logf("signals: acked %d B, throughput %d b/s, needed %d b/s, lag %d ms, unacked %d ms",
		r.sig.BytesAcked.Load(), r.sig.ThroughputBps.Load(), r.sig.NeededBps.Load(), r.sig.LagMillis.Load(), r.sig.UnackedFor.Load())
	require.Equal(t, health.LayerUpkeep, v.Layer, "%v", v)
	require.Equal(t, health.CauseStalled, v.Cause, "%v", v)
	require.Contains(t, v.Detail, "the server took nothing for")
	require.NotContains(t, v.Error()+buf.String(), "stallkey")
	require.GreaterOrEqual(t, took, stallTimeout-200*time.Millisecond, "a stall judged before StallTimeout")
	if how == resetRelay {
		// Through the relay the server's RTMP acks are the evidence: the
		// stall is judged StallTimeout after the last one.
		require.LessOrEqual(t, took, limit)
		require.Contains(t, v.Detail, "(evidence: rtmp_ack)")
	} else {
		// Without the relay (the libav driver, a target the relay cannot
		// take) ffmpeg asks the server for no RTMP acks, so the evidence is
		// TCP's alone, and a Linux receiver keeps its window open until its
		// buffer's free space binds (delivery's package documentation): the
		// stall shows once that buffer (~130 KB) is full, 2-3 s late at 0.5
		// Mbit/s (measured 6.2-6.7 s in all; 29 s in most bench runs, where
		// the server's kernel had grown its buffer), at once at 4 Mbit/s
		// (3.9-7.2 s). The bound below is that measurement's.
		require.LessOrEqual(t, took, limit)
		require.Contains(t, v.Detail, "(evidence: tcp)")
	}
	require.NotNil(t, s.Verdict)
	require.Equal(t, fmsim.ClosedByClient, s.Verdict.ClosedBy, "the emulator: %+v", s.Verdict)
	require.Equal(t, fmsim.PeerRST, s.Verdict.PeerClose, "the connection did not end with a reset: %+v", s.Verdict)
	require.Contains(t, buf.String(), "the stalled connection was reset: how=\""+how+"\"")
	require.Greater(t, r.sig.BytesAcked.Load(), int64(0))
	require.Greater(t, r.sig.NeededBps.Load(), int64(0))
	return took
}

// The exec driver publishes through the tap relay: the server's acks judge
// the stall within StallTimeout + 1 s, and the relay resets the connection.
func TestServerStallIsL4AndResets(t *testing.T) {
	stallRun(t, execFor, "", resetRelay)
}

func TestServerStallIsL4AndResets1080p(t *testing.T) {
	hd := testpeer.HD1080p(t)
	stallRun(t, execFor, hd.Path, resetRelay)
}

// A target the relay cannot take (credentials in the URL: ffmpeg would
// reconnect to authenticate) is pushed to directly, and ffmpeg's socket is
// the evidence, reset through pidfd_getfd, as before the relay.
func TestServerStallWithoutTheRelay(t *testing.T) {
	stallRunWith(t, execFor, "", resetPidfd, func(s *Settings) {
		s.Target = strings.Replace(s.Target, "rtmp://", "rtmp://user:pw@", 1)
	})
}

// A second publisher of a held name is refused as name_locked, and the key
// the server echoes ("KEY is already publishing") appears nowhere: not in
// the verdict, the logs or the tail (a key followed by a slash is covered
// by the capture l3_already_publishing_echo).
func TestNameLockedEchoedKeyIsMasked(t *testing.T) {
	srv := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileLenient, Rules: []string{"single_publisher"}})
	target := srv.URL("live", "Sk3yQQ9")
	first := startRun(t, execFor(t, sampleSettings(t, target)), 0)
	first.waitLive(t, 20*time.Second)
	set := sampleSettings(t, target)
	log, buf := testLogger(t)
	set.Logger = log
	d := &Exec{Settings: set}
	v := verdictOf(t, startRun(t, d, 0).wait(t, 20*time.Second))
	t.Logf("verdict %v", v)
	require.Equal(t, health.LayerPublish, v.Layer)
	require.Equal(t, health.CauseNameLocked, v.Cause)
	require.Equal(t, "*** is already publishing", v.ServerWords)
	all := v.Error() + v.ServerWords + buf.String()
	require.NotContains(t, all, "Sk3yQQ9")
}
