package media

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/stretchr/testify/require"
)

func loadSample(t testing.TB) *Clip {
	t.Helper()
	b, err := os.ReadFile(testpeer.SamplePath(t))
	require.NoError(t, err)
	c, err := ParseClip(b)
	require.NoError(t, err)
	return c
}

// The sample parses into the facts ffprobe reports for it.
func TestReadSampleClip(t *testing.T) {
	c := loadSample(t)
	require.NotNil(t, c.Video, "video params")
	require.Equal(t, CodecH264, c.Video.Codec)
	require.Equal(t, 640, c.Video.Width)
	require.Equal(t, 360, c.Video.Height)
	require.InDelta(t, 25, c.Video.FrameRate, 0.01)
	require.Equal(t, byte(7), c.Video.SPS[0]&0x1f)
	require.Equal(t, byte(8), c.Video.PPS[0]&0x1f)
	require.NotNil(t, c.Audio, "audio params")
	require.Equal(t, AudioParams{Codec: CodecAAC, Config: c.Audio.Config, SampleRate: 44100, Channels: 2}, *c.Audio)
	require.Equal(t, 640.0, c.Metadata["width"])
	require.Equal(t, 0, c.Skipped)

	var video, audio, keys int
	var lastKey time.Duration = -1
	for _, u := range c.Units {
		if u.Codec == CodecAAC {
			audio++
			require.True(t, len(u.Payload) > 0, "empty AAC frame")
			continue
		}
		video++
		require.Equal(t, u.DTS, u.PTS, "no B-frames in the sample")
		for _, n := range u.NALUs {
			require.Equal(t, byte(0), n[0]&0x80, "forbidden_zero_bit")
		}
		if u.Key {
			keys++
			if lastKey >= 0 {
				require.Equal(t, 2*time.Second, u.DTS-lastKey)
			}
			lastKey = u.DTS
		}
	}
	require.Equal(t, 250, video)
	require.InDelta(t, 431, float64(audio), 3)
	require.Equal(t, 5, keys)
	require.True(t, firstVideo(c.Units).Key, "first video unit is a keyframe")
	require.InDelta(t, float64(10*time.Second), float64(c.Span()), float64(50*time.Millisecond))
}

func firstVideo(us []Unit) Unit {
	for _, u := range us {
		if u.Codec.IsVideo() {
			return u
		}
	}
	return Unit{}
}

// writeClip writes a clip with FLVWriter.
func writeClip(t testing.TB, c *Clip, mode HEVCMode) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewFLVWriter(&buf, c.Video != nil, c.Audio != nil)
	require.NoError(t, err)
	w.HEVC = mode
	require.NoError(t, w.WriteMetadata(MetadataFor(c.Video, c.Audio, HEVCLegacy).ECMAArray()))
	if c.Video != nil {
		require.NoError(t, w.WriteVideoParams(0, *c.Video))
	}
	if c.Audio != nil {
		require.NoError(t, w.WriteAudioParams(0, *c.Audio))
	}
	for _, u := range c.Units {
		require.NoError(t, w.WriteUnit(u))
	}
	return buf.Bytes()
}

// What FLVWriter writes, FLVReader reads back unchanged.
func TestFLVRoundTripH264(t *testing.T) {
	c := loadSample(t)
	back, err := ParseClip(writeClip(t, c, HEVCEnhanced))
	require.NoError(t, err)
	require.Equal(t, *c.Video, *back.Video)
	require.Equal(t, *c.Audio, *back.Audio)
	require.Equal(t, c.Units, back.Units)
	require.Equal(t, 360.0, back.Metadata["height"])
	require.Equal(t, "fmspush", back.Metadata["encoder"])
}

// H.265 round-trips both as Enhanced RTMP hvc1 and as legacy codec id 12,
// with width and height parsed from a real x265 SPS.
func TestFLVRoundTripH265(t *testing.T) {
	c := hevcClip(t)
	require.Equal(t, 320, c.Video.Width)
	require.Equal(t, 240, c.Video.Height)
	for _, mode := range []HEVCMode{HEVCEnhanced, HEVCLegacy} {
		b := writeClip(t, c, mode)
		back, err := ParseClip(b)
		require.NoError(t, err)
		require.Equal(t, *c.Video, *back.Video)
		require.Equal(t, c.Units, back.Units)
		tag := firstTag(t, b, FLVTagVideo)
		if mode == HEVCLegacy {
			require.Equal(t, byte(0x1c), tag[0])
		} else {
			require.Equal(t, "hvc1", string(tag[1:5]))
		}
	}
}

func firstTag(t *testing.T, b []byte, typ uint8) []byte {
	r, err := NewFLVReader(bytes.NewReader(b))
	require.NoError(t, err)
	for {
		tag, err := r.ReadTag()
		require.NoError(t, err)
		if tag.Type == typ {
			return tag.Data
		}
	}
}

// Enhanced RTMP CodedFramesX (no composition time) decodes too.
func TestFLVEnhancedCodedFramesX(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewFLVWriter(&buf, true, false)
	require.NoError(t, err)
	body := []byte{0x80 | 2<<4 | exCodedFramesX, 'h', 'v', 'c', '1', 0, 0, 0, 3, 0x02, 0x01, 0xaa}
	require.NoError(t, w.WriteTag(FLVTagVideo, 80*time.Millisecond, body))
	r, err := NewFLVReader(&buf)
	require.NoError(t, err)
	p, err := r.ReadPacket()
	require.NoError(t, err)
	require.Equal(t, Unit{Codec: CodecH265, DTS: 80 * time.Millisecond, PTS: 80 * time.Millisecond,
		NALUs: [][]byte{{0x02, 0x01, 0xaa}}}, *p.Unit)
}

// Bad input gives errors, never panics or huge allocations.
func TestFLVBadInput(t *testing.T) {
	_, err := NewFLVReader(bytes.NewReader([]byte("GIF89a.......")))
	require.ErrorIs(t, err, ErrNotFLV)

	c := loadSample(t)
	b := writeClip(t, c, HEVCEnhanced)
	for _, n := range []int{0, 5, 13, 20, 100} {
		_, err := ParseClip(b[:n])
		require.Error(t, err, "truncated at %v", n)
	}
	// Cut after the headers: what came before plays (a clip, Truncated), or
	// there is no frame yet (an error).
	if c, err := ParseClip(b[:1000]); err == nil {
		require.True(t, c.Truncated, "a clip cut at 1000 bytes is marked truncated")
	}
	// A tag claiming 16 MiB with 10 bytes behind it: no frame, no clip.
	huge := append(append([]byte{}, b[:13]...), 9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3)
	_, err = ParseClip(huge)
	require.Error(t, err, "a 16 MiB tag with 10 bytes")
	_, err = NewFLVReader(bytes.NewReader(huge))
	require.NoError(t, err)
	r0, _ := NewFLVReader(bytes.NewReader(huge))
	_, err = r0.ReadTag()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)

	var buf bytes.Buffer
	w, _ := NewFLVWriter(&buf, true, true)
	require.NoError(t, w.WriteTag(FLVTagAudio, 0, []byte{0x2f, 1, 2})) // MP3
	require.NoError(t, w.WriteTag(FLVTagVideo, 0, []byte{0x12, 1, 2})) // Sorenson
	r, _ := NewFLVReader(&buf)
	var ue *UnsupportedError
	_, err = r.ReadPacket()
	require.ErrorAs(t, err, &ue)
	_, err = r.ReadPacket()
	require.ErrorAs(t, err, &ue)
	_, err = r.ReadPacket()
	require.Equal(t, io.EOF, err)
}

func TestSplitAVCC(t *testing.T) {
	n, err := SplitAVCC([]byte{0, 2, 9, 9, 0, 0, 0, 2, 1, 7}, 2)
	require.NoError(t, err)
	require.Equal(t, [][]byte{{9, 9}, {1, 7}}, n)
	_, err = SplitAVCC([]byte{0, 0, 0, 9, 1}, 4)
	require.Error(t, err)
	_, err = SplitAVCC([]byte{0, 0}, 3)
	require.Error(t, err)
}

// Script data the AMF0 decoder does not know (here an AMF0 date) is
// skipped; the frames around it still read.
func TestFLVUndecodableScriptSkipped(t *testing.T) {
	c := loadSample(t)
	var buf bytes.Buffer
	w, err := NewFLVWriter(&buf, true, false)
	require.NoError(t, err)
	require.NoError(t, w.WriteTag(FLVTagScript, 0, []byte{2, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}))
	require.NoError(t, w.WriteVideoParams(0, *c.Video))
	require.NoError(t, w.WriteUnit(firstVideo(c.Units)))
	back, err := ParseClip(buf.Bytes())
	require.NoError(t, err)
	require.Equal(t, 1, back.Skipped)
	require.Len(t, back.Units, 1)
}
