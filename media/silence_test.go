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
)

func TestSilentAACParams(t *testing.T) {
	p, err := SilentAACParams(44100, 2)
	noErr(t, err)
	equal(t, []byte{0x12, 0x10}, p.Config, "AAC-LC 44.1 kHz stereo")
	back, err := ParseAudioConfig(p.Config)
	noErr(t, err)
	equal(t, p, back)
	p, err = SilentAACParams(48000, 1)
	noErr(t, err)
	equal(t, []byte{0x11, 0x88}, p.Config, "AAC-LC 48 kHz mono")
	_, err = SilentAACParams(44100, 6)
	isErr(t, err, "6 channels")
	_, err = SilentAACParams(44000, 2)
	isErr(t, err, "odd rate")
	mono, _ := SilentAACFrame(1)
	stereo, _ := SilentAACFrame(2)
	equal(t, 4, len(mono), "SCE+END is 32 bits")
	equal(t, 7, len(stereo), "CPE+END is 55 bits")
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
	noErr(t, err)
	video := videoOnly(loadSample(t).Units)
	var out []Unit
	for _, v := range video {
		out = append(out, g.Feed(v)...)
	}
	var audio []Unit
	last := time.Duration(-1)
	for _, u := range out {
		isTrue(t, u.DTS >= last, "interleaved output must not go back in time")
		last = u.DTS
		if u.Codec == CodecAAC {
			audio = append(audio, u)
		}
	}
	equal(t, video[0].DTS, audio[0].DTS, "audio starts with the video")
	for i, a := range audio {
		want := video[0].DTS + time.Duration(int64(i)*1024*int64(time.Second)/44100)
		equal(t, want, a.DTS, "audio frame ", i)
	}
	span := video[len(video)-1].DTS - video[0].DTS
	equal(t, int(span*44100/1024/time.Second)+1, len(audio))

	leap := video[0]
	leap.DTS += time.Hour
	burst := g.Feed(leap)
	equal(t, 2, len(burst), "one audio frame at the new time, then the video")
	equal(t, leap.DTS, burst[0].DTS)
}

// The proof that the silence is valid AAC: the real ffmpeg decodes an FLV of
// the sample's video plus generated silence without a single error, ffprobe
// sees an aac stream, and every decoded sample is zero.
func TestSilenceDecodesWithFFmpeg(t *testing.T) {
	testpeer.Need(t, "ffmpeg", "ffprobe")
	c := loadSample(t)
	for _, tc := range []struct{ rate, channels int }{{44100, 2}, {48000, 1}} {
		g, err := NewSilenceGenerator(tc.rate, tc.channels)
		noErr(t, err)
		path := filepath.Join(t.TempDir(), "out.flv")
		writeWithSilence(t, path, c, g)

		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-")
		cmd.Stderr = &stderr
		noErr(t, cmd.Run(), "ffmpeg decode: ", stderr.String())
		equal(t, "", stderr.String(), "ffmpeg decode errors")

		p := testpeer.FFprobe(t, path)
		a := p.Audio()
		isTrue(t, a != nil && a.CodecName == "aac", "no aac stream in ", p.Streams)
		near(t, 10*float64(tc.rate)/1024, float64(a.FrameCount()), 3, "decoded audio frames")
		equal(t, "h264", p.Video().CodecName)

		pcm, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", path,
			"-map", "0:a", "-f", "s16le", "-").Output()
		noErr(t, err, "decode to PCM")
		isTrue(t, len(pcm) > tc.rate*tc.channels*2*9, "too little PCM: ", len(pcm))
		isTrue(t, bytes.Count(pcm, []byte{0}) == len(pcm), "decoded audio is not silent")
	}
}

func writeWithSilence(t *testing.T, path string, c *Clip, g *SilenceGenerator) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewFLVWriter(&buf, true, true)
	noErr(t, err)
	ap := g.Params()
	noErr(t, w.WriteMetadata(FLVMetadata(c.Video, &ap)))
	noErr(t, w.WriteVideoParams(0, *c.Video))
	noErr(t, w.WriteAudioParams(0, ap))
	for _, v := range videoOnly(c.Units) {
		for _, u := range g.Feed(v) {
			noErr(t, w.WriteUnit(u))
		}
	}
	noErr(t, os.WriteFile(path, buf.Bytes(), 0o644))
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
