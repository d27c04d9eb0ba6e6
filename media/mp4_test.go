package media

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/stretchr/testify/require"
)

// remux runs the real ffmpeg on the sample with args, writing name in a
// temporary directory.
func remux(t testing.TB, name string, args ...string) string {
	t.Helper()
	testpeer.Need(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append(append([]string{"-nostdin", "-v", "error"}, args...), "-y", out)
	b, err := exec.CommandContext(ctx, "ffmpeg", full...).CombinedOutput()
	require.NoError(t, err, "ffmpeg %v: %s", args, b)
	return out
}

func byTrack(us []Unit, video bool) []Unit {
	var out []Unit
	for _, u := range us {
		if u.Codec.IsVideo() == video {
			out = append(out, u)
		}
	}
	return out
}

// The sample remuxed to MP4 by ffmpeg reads back with the same parameters,
// the same frames byte for byte, and the same timing.
func TestMP4MatchesFLV(t *testing.T) {
	flv := loadSample(t)
	path := remux(t, "sample.mp4", "-i", testpeer.SamplePath(t), "-c", "copy")
	c, err := OpenClip(path)
	require.NoError(t, err)
	require.Equal(t, *flv.Video, *c.Video)
	require.Equal(t, *flv.Audio, *c.Audio)
	for _, video := range []bool{true, false} {
		a, b := byTrack(flv.Units, video), byTrack(c.Units, video)
		require.Equal(t, len(a), len(b), "units of track video=%v", video)
		for i := range a {
			require.Equal(t, a[i].NALUs, b[i].NALUs, "NALUs %v", i)
			require.Equal(t, a[i].Payload, b[i].Payload, "payload %v", i)
			require.Equal(t, a[i].Key, b[i].Key, "key %v", i)
			require.InDelta(t, float64(a[i].DTS-a[0].DTS), float64(b[i].DTS-b[0].DTS), float64(time.Millisecond), "DTS %v", i)
		}
	}
	l, err := OpenFileLooper(path)
	require.NoError(t, err)
	require.Equal(t, 640, l.Video().Width)
}

// H.265 with B-frames in MP4 (hvc1): composition offsets survive, DTS rises,
// the first frame is a keyframe.
func TestMP4H265BFrames(t *testing.T) {
	path := remux(t, "hevc.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "2",
		"-c:v", "libx265", "-x265-params", "bframes=3:keyint=25:log-level=error", "-tag:v", "hvc1")
	c, err := OpenClip(path)
	require.NoError(t, err)
	require.Equal(t, CodecH265, c.Video.Codec)
	require.Equal(t, 320, c.Video.Width)
	require.Len(t, c.Units, 50)
	require.True(t, c.Units[0].Key, "first frame is a keyframe")
	reordered := false
	for i := 1; i < len(c.Units); i++ {
		require.True(t, c.Units[i].DTS > c.Units[i-1].DTS, "DTS rises")
		require.True(t, c.Units[i].PTS >= c.Units[i].DTS, "PTS before DTS at %v", i)
		reordered = reordered || c.Units[i].PTS < c.Units[i-1].PTS
	}
	require.True(t, reordered, "expected B-frame reordering")
}

// Fragmented MP4 is refused clearly; garbage is an error, not a panic.
func TestMP4Unsupported(t *testing.T) {
	path := remux(t, "frag.mp4", "-i", testpeer.SamplePath(t), "-t", "1", "-c", "copy",
		"-movflags", "frag_keyframe+empty_moov")
	_, err := OpenClip(path)
	require.ErrorIs(t, err, ErrNotSupported)
	_, err = ReadMP4Clip(bytes.NewReader([]byte("\x00\x00\x00\x10ftypisom\x00\x00\x00\x00")))
	require.Error(t, err, "no moov")
}

func TestParseESDS(t *testing.T) {
	// ES_Descriptor(3) > DecoderConfigDescriptor(4) > DecSpecificInfo(5) = 12 10
	esds := []byte{0, 0, 0, 0, 3, 0x80, 0x80, 0x80, 25, 0, 1, 0, 4, 17, 0x40, 0x15, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 5, 2, 0x12, 0x10, 6, 1, 2}
	asc, err := ParseESDS(esds)
	require.NoError(t, err)
	require.Equal(t, []byte{0x12, 0x10}, asc)
	_, err = ParseESDS(esds[:12])
	require.Error(t, err, "truncated")
}

// FuzzMP4 feeds arbitrary bytes to the MP4 reader: errors only.
func FuzzMP4(f *testing.F) {
	b, err := os.ReadFile(remux(f, "seed.mp4", "-i", testpeer.SamplePath(f), "-t", "0.2", "-c", "copy"))
	require.NoError(f, err)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ReadMP4Clip(bytes.NewReader(b))
	})
}

// FuzzESDS feeds arbitrary esds payloads.
func FuzzESDS(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 3, 25, 0, 1, 0xe0, 0, 0, 4, 17, 0x40, 0x15, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 5, 2, 0x12, 0x10, 6, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseESDS(b) })
}

// A time-to-sample entry claiming four billion samples is refused before
// anything expands it.
func TestMP4SampleCountBomb(t *testing.T) {
	b, err := os.ReadFile(remux(t, "small.mp4", "-i", testpeer.SamplePath(t), "-t", "0.2", "-c", "copy"))
	require.NoError(t, err)
	i := bytes.Index(b, []byte("stts"))
	require.True(t, i > 0, "no stts box")
	// stts: size, "stts", version/flags, entry count, then {count, delta}.
	copy(b[i+12:], []byte{0xff, 0xff, 0xff, 0xff})
	_, err = ReadMP4Clip(bytes.NewReader(b))
	require.ErrorContains(t, err, "too many samples", "sample count bomb")
}
