package rtmp

import (
	"context"
	"errors"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"

	"github.com/stretchr/testify/require"
)

func checkRecording(t *testing.T, path string, wantVideoFrames int) *testpeer.Probe {
	t.Helper()
	pr := testpeer.FFprobe(t, path)
	v, a := pr.Video(), pr.Audio()
	require.True(t, v != nil && a != nil, "recording lacks a track: %+v", pr.Streams)
	require.Equal(t, "h264", v.CodecName)
	require.Equal(t, 640, v.Width)
	require.Equal(t, 360, v.Height)
	require.Equal(t, "aac", a.CodecName)
	if wantVideoFrames > 0 {
		require.Equal(t, wantVideoFrames, v.FrameCount())
	}
	return pr
}

// The sample, fed as media.Units, arrives complete at nginx-rtmp under both
// header policies and both handshakes: its recording is h264 640x360 + aac
// with all 250 video frames.
func TestPublishNginx(t *testing.T) {
	ng := testpeer.StartNginx(t)
	s := loadSample(t)
	for i, tc := range []PublishOptions{
		{},
		{HeaderPolicy: HeaderType0, SimpleHandshake: true},
	} {
		name := "cam" + strconv.Itoa(i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p, err := Dial(ctx, ng.AppURL+"/"+name+"?token=secret", tc)
		cancel()
		require.NoError(t, err)
		require.Equal(t, "live", p.Target().App)
		require.Equal(t, !tc.SimpleHandshake, p.Handshake().ServerDigestValid)
		publishUnits(t, p, s)
		require.NoError(t, p.Close())
		st := p.Stats()
		require.Equal(t, int64(251), st.VideoFrames)
		checkRecording(t, ng.Recording(name), 250)
	}
}

// The sample's FLV tags go through WriteTag to `ffmpeg -listen`, which
// finishes cleanly after Close and holds both codecs and ~10 s.
func TestPublishFFmpegListen(t *testing.T) {
	l := testpeer.StartFFmpegListen(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := Dial(ctx, l.URL, PublishOptions{})
	require.NoError(t, err)
	publishTags(t, p, readSampleTags(t))
	require.NoError(t, p.Close())
	out := l.Wait(t, 20*time.Second)
	pr := checkRecording(t, out, 0)
	d := pr.DurationSeconds()
	require.InDelta(t, 10, d, 0.5, "received duration %.2fs, sent ~10s", d)
}

// L0: nothing listens; the error is typed, at L0, and carries no key.
func TestDialRefused(t *testing.T) {
	port := testpeer.FreePort(t)
	_, err := Dial(context.Background(), "rtmp://127.0.0.1:"+strconv.Itoa(port)+"/live/SECRETKEY?wsSecret=abc", PublishOptions{})
	var re *Error
	require.True(t, errors.As(err, &re), "%v", err)
	require.Equal(t, health.LayerNetwork, re.Layer)
	require.Equal(t, "connection_refused", re.Cause)
	require.False(t, strings.Contains(err.Error(), "SECRETKEY") || strings.Contains(err.Error(), "abc"))
	require.Equal(t, time.Duration(-1), re.SincePublish)
}

// Timestamps that cross 0xFFFFFF mid-stream (4.66 h into a session) reach
// `ffmpeg -listen` intact under both policies: with HeaderAuto as small
// deltas across the boundary, with HeaderType0 as extended timestamps on
// every chunk, fmt 3 continuations of keyframes included. The receiver gets
// all 250 video frames with ~10 s between its first and last packet.
func TestPublishExtendedTimestampsFFmpeg(t *testing.T) {
	for _, policy := range []HeaderPolicy{HeaderAuto, HeaderType0} {
		l := testpeer.StartFFmpegListen(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p, err := Dial(ctx, l.URL, PublishOptions{HeaderPolicy: policy})
		cancel()
		require.NoError(t, err)
		const offset = 0xFFFFFF - 4000 // crosses the boundary 4 s into the sample
		for _, tag := range readSampleTags(t) {
			ts := tag.Timestamp
			if tag.Type != TypeDataAMF0 {
				ts += offset
			}
			require.NoError(t, p.WriteTag(tag.Type, ts, tag.Data))
		}
		require.NoError(t, p.Close())
		out := l.Wait(t, 20*time.Second)
		pr := checkRecording(t, out, 250)
		a := pr.Audio()
		require.GreaterOrEqual(t, a.FrameCount(), 400, "policy %v: audio frames %d", policy, a.FrameCount())
		// ffmpeg rebases the output to start near 0; a broken timestamp at the
		// boundary would show as a jump (a span far from 10 s) or lost frames.
		first, last := packetSpan(t, out)
		require.InDelta(t, 10, last-first, 0.5, "policy %v: packets from %.3fs to %.3fs; want a ~10 s span", policy, first, last)
	}
}

// packetSpan returns the first and last video packet times ffprobe reads.
func packetSpan(t *testing.T, path string) (first, last float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
		"-of", "csv=p=0", path).Output()
	require.NoError(t, err)
	lines := strings.Fields(string(out))
	require.GreaterOrEqual(t, len(lines), 2, "ffprobe packets: %q", out)
	first, _ = strconv.ParseFloat(lines[0], 64)
	last = first
	for _, s := range lines {
		v, _ := strconv.ParseFloat(strings.TrimSuffix(s, ","), 64)
		first, last = math.Min(first, v), math.Max(last, v)
	}
	return first, last
}

// Units buffered in bursts (a video frame and the audio after it, as a
// paced source releases them) leave in one socket write a burst: far fewer
// writes than one a unit, and nginx still records every frame.
func TestBufferedBurstsLeaveInOneWrite(t *testing.T) {
	ng := testpeer.StartNginx(t)
	s := loadSample(t)
	writes := map[bool]uint64{}
	for i, burst := range []bool{false, true} {
		name := "burst" + strconv.Itoa(i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p, err := Dial(ctx, ng.AppURL+"/"+name, PublishOptions{})
		cancel()
		require.NoError(t, err)
		before := p.Conn().SocketWrites()
		if burst {
			publishBursts(t, p, s)
		} else {
			publishUnits(t, p, s)
		}
		writes[burst] = p.Conn().SocketWrites() - before
		require.NoError(t, p.Close())
		pr := checkRecording(t, ng.Recording(name), 250)
		require.GreaterOrEqual(t, pr.Audio().FrameCount(), 400)
	}
	t.Logf("socket writes for the sample: %d one by one, %d in bursts", writes[false], writes[true])
	require.Less(t, float64(writes[true]), 0.6*float64(writes[false]))
}

// publishBursts is publishUnits with each video frame and the audio after
// it buffered and sent by one Service.
func publishBursts(t testing.TB, p *Publisher, s *sampleUnits) {
	t.Helper()
	publishHeaders(t, p, s)
	for i, u := range s.units {
		require.NoError(t, p.BufferUnit(u))
		if i+1 == len(s.units) || s.units[i+1].Codec.IsVideo() {
			require.NoError(t, p.Service())
		}
	}
}
