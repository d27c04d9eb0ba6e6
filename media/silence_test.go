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

func TestSilentAACParams(t *testing.T) {
	p, err := SilentAACParams(44100, 2)
	require.NoError(t, err)
	require.Equal(t, []byte{0x12, 0x10}, p.Config, "AAC-LC 44.1 kHz stereo")
	back, err := ParseAudioConfig(p.Config)
	require.NoError(t, err)
	require.Equal(t, p, back)
	p, err = SilentAACParams(48000, 1)
	require.NoError(t, err)
	require.Equal(t, []byte{0x11, 0x88}, p.Config, "AAC-LC 48 kHz mono")
	_, err = SilentAACParams(44100, 6)
	require.Error(t, err, "6 channels")
	_, err = SilentAACParams(44000, 2)
	require.Error(t, err, "odd rate")
	mono, _ := SilentAACFrame(1)
	stereo, _ := SilentAACFrame(2)
	require.Len(t, mono, 4, "SCE+END is 32 bits")
	require.Len(t, stereo, 7, "CPE+END is 55 bits")
}

// videoOnly returns the sample's video units.
func videoOnly(us []Unit) []Unit {
	var out []Unit
	for _, u := range us {
		if u.Codec.IsVideo() {
			out = append(out, u)
		}
	}
	return out
}

// Audio timestamps count samples exactly from the first video frame and
// interleave in DTS order; a leap in video makes the audio skip, not burst.
func TestSilenceGeneratorTimestamps(t *testing.T) {
	g, err := NewSilenceGenerator(44100, 2)
	require.NoError(t, err)
	video := videoOnly(loadSample(t).Units)
	var out []Unit
	for _, v := range video {
		out = append(out, g.Feed(v)...)
	}
	var audio []Unit
	last := time.Duration(-1)
	for _, u := range out {
		require.True(t, u.DTS >= last, "interleaved output must not go back in time")
		last = u.DTS
		if u.Codec == CodecAAC {
			audio = append(audio, u)
		}
	}
	require.Equal(t, video[0].DTS, audio[0].DTS, "audio starts with the video")
	for i, a := range audio {
		want := video[0].DTS + time.Duration(int64(i)*1024*int64(time.Second)/44100)
		require.Equal(t, want, a.DTS, "audio frame %v", i)
	}
	span := video[len(video)-1].DTS - video[0].DTS
	require.Equal(t, int(span*44100/1024/time.Second)+1, len(audio))

	leap := video[0]
	leap.DTS += time.Hour
	burst := g.Feed(leap)
	require.Len(t, burst, 2, "one audio frame at the new time, then the video")
	require.Equal(t, leap.DTS, burst[0].DTS)
}

// The proof that the silence is valid AAC: the real ffmpeg decodes an FLV of
// the sample's video plus generated silence without a single error, ffprobe
// sees an aac stream, and every decoded sample is zero.
func TestSilenceDecodesWithFFmpeg(t *testing.T) {
	testpeer.Need(t, "ffmpeg", "ffprobe")
	c := loadSample(t)
	for _, tc := range []struct{ rate, channels int }{{44100, 2}, {48000, 1}} {
		g, err := NewSilenceGenerator(tc.rate, tc.channels)
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "out.flv")
		writeWithSilence(t, path, c, g)

		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-")
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Run(), "ffmpeg decode: %v", stderr.String())
		require.Equal(t, "", stderr.String(), "ffmpeg decode errors")

		p := testpeer.FFprobe(t, path)
		a := p.Audio()
		require.True(t, a != nil && a.CodecName == "aac", "no aac stream in %v", p.Streams)
		require.InDelta(t, 10*float64(tc.rate)/1024, float64(a.FrameCount()), 3, "decoded audio frames")
		require.Equal(t, "h264", p.Video().CodecName)

		pcm, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", path,
			"-map", "0:a", "-f", "s16le", "-").Output()
		require.NoError(t, err, "decode to PCM")
		require.True(t, len(pcm) > tc.rate*tc.channels*2*9, "too little PCM: %v", len(pcm))
		require.True(t, bytes.Count(pcm, []byte{0}) == len(pcm), "decoded audio is not silent")
	}
}

func writeWithSilence(t *testing.T, path string, c *Clip, g *SilenceGenerator) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewFLVWriter(&buf, true, true)
	require.NoError(t, err)
	ap := g.Params()
	require.NoError(t, w.WriteMetadata(MetadataFor(c.Video, &ap, HEVCLegacy).ECMAArray()))
	require.NoError(t, w.WriteVideoParams(0, *c.Video))
	require.NoError(t, w.WriteAudioParams(0, ap))
	for _, v := range videoOnly(c.Units) {
		for _, u := range g.Feed(v) {
			require.NoError(t, w.WriteUnit(u))
		}
	}
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

// BenchmarkSilenceGenerator measures interleaving silence with 25 fps video.
func BenchmarkSilenceGenerator(b *testing.B) {
	g, _ := NewSilenceGenerator(44100, 2)
	v := Unit{Codec: CodecH264, NALUs: [][]byte{{0x65}}}
	b.ReportAllocs()
	for b.Loop() {
		v.DTS += 40 * time.Millisecond
		g.Feed(v)
	}
}
