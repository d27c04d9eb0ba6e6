package fmsim

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/redact"
	"github.com/fmspush/fmspush/rtmp"

	"net/url"

	"github.com/stretchr/testify/require"
)

// startServer starts an emulator on a free loopback port with transcripts.
func startServer(t *testing.T, profile string, rules ...string) *Server {
	t.Helper()
	dir := t.TempDir()
	if keep := os.Getenv("FMSIM_KEEP_TRANSCRIPTS"); keep != "" {
		dir = filepath.Join(keep, t.Name())
	}
	s := &Server{Listen: "127.0.0.1:0", Profile: profile, Rules: rules, TranscriptDir: dir}
	require.NoError(t, s.Start())
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// waitEnded waits for session id to end and returns it.
func waitEnded(t *testing.T, s *Server, id int, within time.Duration) SessionInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	info, err := s.WaitSession(ctx, func(x SessionInfo) bool { return x.ID == id && x.Ended })
	require.NoError(t, err, "session %d did not end; sessions: %+v", id, s.Sessions())
	return info
}

// runFFmpeg publishes the sample for secs seconds at real time.
func runFFmpeg(t *testing.T, target string, secs int) (string, error) {
	t.Helper()
	testpeer.Need(t, "ffmpeg")
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+20)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-re",
		"-t", fmt.Sprint(secs), "-i", testpeer.SamplePath(t), "-c", "copy", "-f", "flv", target)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return redact.Text(stderr.String()), err
}

func requireSampleReceived(t *testing.T, info SessionInfo, secs int) {
	t.Helper()
	require.Nil(t, info.Violation, "violation: %+v", info.Violation)
	require.False(t, info.Verdict.ByServer(), "ended by the server: %+v", info.Verdict)
	require.Equal(t, "h264", info.VideoCodec)
	require.Equal(t, 640, info.Width)
	require.Equal(t, 360, info.Height)
	require.Equal(t, "aac", info.AudioCodec)
	require.Equal(t, 44100, info.SampleRate)
	require.InDelta(t, 25*secs, info.VideoFrames, 8, "video frames at ~25 fps")
	require.Greater(t, info.AudioFrames, 40*secs, "audio frames")
	require.Positive(t, info.KeyFrames)
	require.Equal(t, 0, info.VideoTSRegressions)
}

func TestFFmpegPassesCloud(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t"
	// Timeouts shorter than the 4 s publish, long enough for a loaded 2-core machine.
	s := startServer(t, ProfileCloud, "auth_secret="+secret, "ack_timeout=2500ms", "ping_interval=300ms", "ping_timeout=2500ms")
	name := SignedName(secret, "cam1", time.Now().Add(time.Hour))
	out, err := runFFmpeg(t, s.URL("live", name), 4)
	require.NoError(t, err, "ffmpeg: %s; sessions: %+v", out, s.Sessions())
	info := waitEnded(t, s, 1, 10*time.Second)
	requireSampleReceived(t, info, 4)
	require.Equal(t, "cam1", info.StreamName)
	require.Positive(t, info.AcksReceived, "ffmpeg acked the window")
	require.Positive(t, info.PingResponses, "ffmpeg answered pings")
	require.True(t, info.Handshake.Digest)
}

func TestFFmpegPassesCompanion(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileCompanion)
	out, err := runFFmpeg(t, s.URL("live", "companionkey"), 4)
	require.NoError(t, err, "ffmpeg: %s; sessions: %+v", out, s.Sessions())
	info := waitEnded(t, s, 1, 10*time.Second)
	requireSampleReceived(t, info, 4)
	require.Equal(t, uint32(7), info.StreamID)
	require.True(t, info.Handshake.Digest)
	require.True(t, strings.HasPrefix(info.FlashVer, "FMLE/"))
	require.EqualValues(t, 640, info.Metadata["width"])
}

func TestExpiredTokenRejectedAtL3(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t"
	s := startServer(t, ProfileCloud, "auth_secret="+secret)
	name := SignedName(secret, "cam1", time.Now().Add(-time.Minute))
	out, err := runFFmpeg(t, s.URL("live", name), 1)
	require.Error(t, err, "ffmpeg must fail: %s", out)
	info := waitEnded(t, s, 1, 10*time.Second)
	require.Equal(t, health.LayerPublish, info.Verdict.Layer)
	require.Equal(t, "auth_expired", info.Verdict.Cause)
	require.False(t, info.Published())
}

func TestBadTokenRejectedAtL3(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileCloud, "auth_secret=right")
	for i, name := range []string{SignedName("wrong", "cam1", time.Now().Add(time.Hour)), "cam1"} {
		c := &testClient{Name: name}
		st, err := c.dial(s.Addr())
		require.Error(t, err)
		require.Equal(t, "NetStream.Publish.BadName", st.Code)
		c.close()
		info := waitEnded(t, s, i+1, 5*time.Second)
		require.Equal(t, health.LayerPublish, info.Verdict.Layer)
		require.Equal(t, []string{"auth_bad", "auth_missing"}[i], info.Verdict.Cause)
	}
}

func TestGortmplibClientFailsCompanionAtL1(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileCompanion)
	u, err := url.Parse(s.URL("live", "key"))
	require.NoError(t, err)
	c := &gortmplib.Client{URL: u, Publish: true}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = c.Initialize(ctx)
	if err == nil {
		c.Close()
	}
	require.Error(t, err)
	info := waitEnded(t, s, 1, 5*time.Second)
	require.Equal(t, health.LayerHandshake, info.Verdict.Layer)
	require.Equal(t, "require_digest", info.Verdict.Rule)
	require.False(t, info.Handshake.Digest)
}

// TestGortmplibClientPassesLenient shows the L1 failure above is the digest
// alone: the same client publishes to the lenient profile.
func TestGortmplibClientPassesLenient(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileLenient)
	u, err := url.Parse(s.URL("live", "key"))
	require.NoError(t, err)
	c := &gortmplib.Client{URL: u, Publish: true}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Initialize(ctx))
	ready, err := s.WaitSession(ctx, func(x SessionInfo) bool { return x.Published() })
	require.NoError(t, err)
	require.Equal(t, "LNX 9,0,124,2", ready.FlashVer)
	c.Close()
	info := waitEnded(t, s, 1, 5*time.Second)
	require.False(t, info.Verdict.ByServer())
}

func TestClientThatNeverAcksIsResetInCloud(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileCloud, "ack_timeout=500ms", "ping_interval=0")
	c := &testClient{NoAck: true}
	defer c.close()
	_, err := c.dial(s.Addr())
	require.NoError(t, err)
	require.ErrorIs(t, c.waitClosed(5*time.Second), syscall.ECONNRESET)
	info := waitEnded(t, s, 1, 5*time.Second)
	require.Equal(t, health.LayerUpkeep, info.Verdict.Layer)
	require.Equal(t, "ack_timeout", info.Verdict.Cause)
	require.Equal(t, 0, info.AcksReceived)
}

func TestClientThatNeverPongsIsResetInCloud(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileCloud, "ping_interval=100ms", "ping_timeout=400ms")
	c := &testClient{NoPong: true}
	defer c.close()
	_, err := c.dial(s.Addr())
	require.NoError(t, err)
	require.ErrorIs(t, c.waitClosed(5*time.Second), syscall.ECONNRESET)
	info := waitEnded(t, s, 1, 5*time.Second)
	require.Equal(t, "ping_timeout", info.Verdict.Cause)
	require.Positive(t, info.AcksReceived, "the client did ack")
	require.Positive(t, info.PingsSent)
}

// TestClientThatStopsReadingIsReset: a client that never reads blocks the
// server's writes (here 16 MiB of padding); after write_timeout it is reset.
func TestClientThatStopsReadingIsReset(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileLenient, "pad_bytes=16777216", "write_timeout=300ms")
	nc, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer nc.Close()
	_, err = rtmp.ClientHandshake(nc, rtmp.HandshakeOptions{})
	require.NoError(t, err)
	conn := rtmp.NewConn(nc, rtmp.ConnOptions{})
	for i, c := range []*rtmp.Command{
		{Name: "connect", TransactionID: 1, Args: []any{rtmp.AMFObject{{Key: "app", Value: "live"}}}},
		{Name: "createStream", TransactionID: 2, Args: []any{nil}},
		{Name: "publish", TransactionID: 3, Args: []any{nil, "deaf", "live"}},
	} {
		m, err := c.Message(3, uint32(i/2)) // publish on stream 1
		require.NoError(t, err)
		require.NoError(t, conn.WriteMessage(m))
	}
	info := waitEnded(t, s, 1, 10*time.Second)
	require.Equal(t, "write_timeout", info.Verdict.Rule)
	require.Equal(t, "client_not_reading", info.Verdict.Cause)
	require.Equal(t, ActionRST, info.Verdict.Action)
}
