package fmsim

import (
	"context"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/stretchr/testify/require"
)

// isReset reports whether err is what a RST looks like to a peer.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// publishAndSend dials, publishes and sends d of the sample; it returns the
// first send error (nil if the server kept the session) and the client.
func publishAndSend(t *testing.T, s *Server, c *testClient, d time.Duration) error {
	t.Helper()
	_, err := c.dial(s.Addr())
	require.NoError(t, err)
	return c.sendMedia(t, d)
}

func TestTestClientPassesCompanion(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileCompanion, "audio_within=300ms", "require_fmt0", "keyframe_first", "max_gop=2100ms")
	c := &testClient{Type0: true}
	require.NoError(t, publishAndSend(t, s, c, 1500*time.Millisecond))
	c.close()
	info := waitEnded(t, s, 1, 5*time.Second)
	require.Nil(t, info.Violation)
	require.False(t, info.Verdict.ByServer(), "verdict %+v", info.Verdict)
	require.InDelta(t, 38, info.VideoFrames, 4)
}

// TestCompanionMediaRules breaks one media-level rule at a time and expects a
// RST RSTDelay after the first offending frame, with the rule named.
func TestCompanionMediaRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		rule, cause string
		client      testClient
		extra       []string
	}{
		{"require_fmt0", "chunk_header_not_fmt0", testClient{}, []string{"require_fmt0"}},
		{"max_gop", "gop_too_long", testClient{}, []string{"max_gop=1s"}},
		{"keyframe_first", "no_keyframe_first", testClient{NoFirstKey: true}, []string{"keyframe_first"}},
		{"strict_msid", "wrong_msid", testClient{MSID: 1}, nil},
		{"require_metadata", "metadata_missing", testClient{NoMetadata: true}, nil},
		{"audio_within", "audio_missing", testClient{NoAudio: true}, nil},
		{"validate_nalu", "bad_nalu", testClient{BadNALU: true}, nil},
		{"require_seq_header", "seq_header_missing", testClient{NoSeqHeaders: true}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, ProfileCompanion, append([]string{"audio_within=300ms", "rst_delay=80ms"}, tc.extra...)...)
			c := tc.client
			defer c.close()
			err := publishAndSend(t, s, &c, 3*time.Second)
			if err == nil {
				err = c.waitClosed(3 * time.Second)
			}
			require.True(t, isReset(err), "client saw %v, want a reset", err)
			info := waitEnded(t, s, 1, 5*time.Second)
			v := info.Verdict
			require.Equal(t, health.LayerMedia, v.Layer)
			require.Equal(t, tc.rule, v.Rule)
			require.Equal(t, tc.cause, v.Cause)
			require.Equal(t, ActionRST, v.Action)
			delay := v.At.Sub(v.Offending)
			require.True(t, delay >= 80*time.Millisecond && delay < time.Second, "RST %v after the offending frame", delay)
		})
	}
}

func TestFaultRSTAfterFirstFrameKeyedOnFlashVer(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileLenient, "rst_after_first_frame_ms=100", "fault_flashver=FMSc")
	native := &testClient{FlashVer: "FMLE/3.0 (compatible; FMSc/1.0)", Name: "native"}
	defer native.close()
	err := publishAndSend(t, s, native, 2*time.Second)
	if err == nil {
		err = native.waitClosed(2 * time.Second)
	}
	require.True(t, isReset(err), "native saw %v", err)
	info := waitEnded(t, s, 1, 5*time.Second)
	require.Equal(t, health.LayerMedia, info.Verdict.Layer)
	require.Equal(t, "rst_after_first_frame", info.Verdict.Rule)
	ttr := info.Verdict.SinceFirstFrame
	require.True(t, ttr >= 100*time.Millisecond && ttr < time.Second, "RST %v after the first frame", ttr)

	other := &testClient{Name: "ffmpeglike"} // ffmpeg's flashVer does not match
	require.NoError(t, publishAndSend(t, s, other, 600*time.Millisecond))
	other.close()
	info = waitEnded(t, s, 2, 5*time.Second)
	require.False(t, info.Verdict.ByServer(), "verdict %+v", info.Verdict)
}

func TestFaultRSTAfterMedia(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileLenient, "rst_after_media=150ms")
	c := &testClient{}
	defer c.close()
	err := publishAndSend(t, s, c, 2*time.Second)
	if err == nil {
		err = c.waitClosed(2 * time.Second)
	}
	require.True(t, isReset(err), "client saw %v", err)
	info := waitEnded(t, s, 1, 5*time.Second)
	require.Equal(t, "rst_after_media", info.Verdict.Rule)
	d := info.Verdict.At.Sub(info.FirstMediaAt)
	require.True(t, d >= 150*time.Millisecond && d < time.Second, "RST %v after the first media", d)
}

func TestFaultStallAfterPublish(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileLenient, "stall_after_publish=100ms")
	c := &testClient{}
	defer c.close()
	_, err := c.dial(s.Addr())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stalled, err := s.WaitSession(ctx, func(x SessionInfo) bool { return x.Stalled })
	require.NoError(t, err)
	_ = c.sendMedia(t, 500*time.Millisecond)
	now, _ := s.Session(1)
	require.Equal(t, stalled.VideoFrames, now.VideoFrames, "nothing read after the stall")
	require.Equal(t, stalled.BytesIn, now.BytesIn)
	require.NoError(t, s.Close()) // a stalled session the server closes ends for the stall
	info, _ := s.Session(1)
	require.Equal(t, "stall_after_publish", info.Verdict.Rule)
	require.Equal(t, ActionStall, info.Verdict.Action)
	require.Equal(t, ClosedByServer, info.Verdict.ClosedBy)
}

// TestStallSwitchedOff: switching stall_after_publish off resumes reading.
func TestStallSwitchedOff(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileLenient, "stall_after_publish=50ms")
	c := &testClient{}
	defer c.close()
	_, err := c.dial(s.Addr())
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = s.WaitSession(ctx, func(x SessionInfo) bool { return x.Stalled })
	require.NoError(t, err)
	require.NoError(t, s.UpdateRules("stall_after_publish=0"))
	require.NoError(t, c.sendMedia(t, 300*time.Millisecond))
	info, err := s.WaitSession(ctx, func(x SessionInfo) bool { return !x.Stalled && x.VideoFrames > 0 })
	require.NoError(t, err)
	require.Nil(t, info.Verdict)
}

func TestFaultCloseAfterPublish(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileLenient, "close_after_publish=200ms")
	c := &testClient{}
	defer c.close()
	_, err := c.dial(s.Addr())
	require.NoError(t, err)
	err = c.waitClosed(3 * time.Second)
	require.ErrorIs(t, err, io.EOF)
	info := waitEnded(t, s, 1, 5*time.Second)
	require.Equal(t, health.LayerUpkeep, info.Verdict.Layer)
	require.Equal(t, "close_after_publish", info.Verdict.Rule)
	require.Equal(t, ActionClose, info.Verdict.Action)
}

func TestFaultRejectFlashVer(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileLenient, "reject_flashver=LNX")
	c := &testClient{FlashVer: "LNX 9,0,124,2"}
	st, err := c.dial(s.Addr())
	require.Error(t, err)
	require.Equal(t, "NetConnection.Connect.Rejected", st.Code)
	c.close()
	info := waitEnded(t, s, 1, 5*time.Second)
	require.Equal(t, health.LayerConnect, info.Verdict.Layer)
	require.Equal(t, "reject_flashver", info.Verdict.Rule)

	ok := &testClient{}
	_, err = ok.dial(s.Addr())
	require.NoError(t, err)
	ok.close()
}

func TestFaultRejectSessionsThenAccept(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileLenient, "reject_sessions=2")
	for i := 1; i <= 3; i++ {
		c := &testClient{}
		_, err := c.dial(s.Addr())
		c.close()
		info := waitEnded(t, s, i, 5*time.Second)
		if i <= 2 {
			require.Error(t, err)
			require.Equal(t, "reject_sessions", info.Verdict.Rule)
			require.Equal(t, health.LayerConnect, info.Verdict.Layer)
		} else {
			require.NoError(t, err)
			require.True(t, info.Published())
		}
	}
}

func TestSetRulesAtRuntime(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileLenient)
	c := &testClient{}
	defer c.close()
	require.NoError(t, publishAndSend(t, s, c, 300*time.Millisecond))
	require.NoError(t, s.UpdateRules("rst_after_media=50ms"))
	require.True(t, isReset(c.waitClosed(3*time.Second)), "the running session is reset")
	info := waitEnded(t, s, 1, 5*time.Second)
	require.Equal(t, "rst_after_media", info.Verdict.Rule)

	r := s.CurrentRules()
	r.RSTAfterMedia = 0
	s.SetRules(r)
	c2 := &testClient{}
	require.NoError(t, publishAndSend(t, s, c2, 300*time.Millisecond))
	c2.close()
	require.False(t, waitEnded(t, s, 2, 5*time.Second).Verdict.ByServer())
}

func TestStreamsTimestampMonotonicity(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileLenient)
	for i := 1; i <= 2; i++ {
		c := &testClient{Name: "cam"}
		require.NoError(t, publishAndSend(t, s, c, 300*time.Millisecond))
		c.close()
		waitEnded(t, s, i, 5*time.Second)
	}
	st := s.Streams()["cam"]
	require.Equal(t, []int{1, 2}, st.Sessions)
	require.False(t, st.Monotonic, "the second session restarted its timestamps at 0")
	require.Positive(t, st.VideoFrames)
}

func TestRulesByName(t *testing.T) {
	var r Rules
	require.NoError(t, r.Apply("rst_after_first_frame_ms=100", "fault_flashver=FMSc", "require_digest", "stream_id=7"))
	require.Equal(t, 100*time.Millisecond, r.RSTAfterFirstFrame)
	require.Equal(t, "FMSc", r.FaultFlashVer)
	require.True(t, r.RequireDigest)
	require.Equal(t, uint32(7), r.StreamID)
	require.Error(t, r.Set("no_such_rule", "1"))
	require.Error(t, r.Set("require_digest_ms", "1"))
	v, ok := r.Get("rst_after_first_frame")
	require.True(t, ok)
	require.Equal(t, "100ms", v)
	require.Equal(t, "require_digest=true stream_id=7 fault_flashver=FMSc rst_after_first_frame=100ms", r.String())
	single := map[string]bool{ProfileLenient: false, ProfileCloud: true, ProfileCompanion: true}
	for _, p := range Profiles() {
		r, err := Profile(p)
		require.NoError(t, err)
		require.Equal(t, single[p], r.SinglePublisher, "single_publisher in %s", p)
	}
	require.NoError(t, r.Set("single_publisher", "true"))
	require.True(t, r.SinglePublisher)
	_, err := Profile("nope")
	require.Error(t, err)
	require.Equal(t, len(ruleDefs), len(RuleNames()))
	require.True(t, matchPattern("LNX*", "LNX 9,0,124,2"))
	require.False(t, matchPattern("FMSc", "FMLE/3.0 (compatible; Lavf59.27.100)"))
}

func TestTokens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	name := SignedName("k", "cam", now.Add(time.Minute))
	require.NoError(t, checkToken("k", name, now))
	require.ErrorIs(t, checkToken("k", name, now.Add(2*time.Minute)), errTokenExpired)
	require.ErrorIs(t, checkToken("other", name, now), errTokenBad)
	require.ErrorIs(t, checkToken("k", "cam", now), errTokenMissing)
	dec := "1800000060"
	tx := "cam?txSecret=" + md5hex("k"+"cam"+dec) + "&txTime=" + dec
	require.NoError(t, checkToken("k", tx, now))
}

func TestCheckNALUs(t *testing.T) {
	require.NoError(t, checkNALUs([]byte{0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x41}, 4))
	require.Error(t, checkNALUs([]byte{0, 0, 0, 9, 0x65, 1}, 4))
	require.Error(t, checkNALUs([]byte{0, 0, 0, 0}, 4))
	require.Error(t, checkNALUs([]byte{0, 0, 0, 1, 0xe5}, 4))
	require.Error(t, checkNALUs(nil, 4))
}

func TestResetRunningSessions(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileLenient)
	a, b := &testClient{Name: "a"}, &testClient{Name: "b"}
	defer a.close()
	defer b.close()
	for _, c := range []*testClient{a, b} {
		_, err := c.dial(s.Addr())
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.WaitFor(ctx, func(ss []SessionInfo) bool { return len(ss) == 2 && ss[0].Published() && ss[1].Published() })
	require.NoError(t, err)
	require.Equal(t, 1, s.Reset(func(x SessionInfo) bool { return x.StreamName == "b" }))
	require.True(t, isReset(b.waitClosed(3*time.Second)))
	info := waitEnded(t, s, 2, 5*time.Second)
	require.Equal(t, "reset", info.Verdict.Rule)
	require.Equal(t, health.LayerUpkeep, info.Verdict.Layer)
	first, _ := s.Session(1)
	require.False(t, first.Ended, "the other session runs on")
}
