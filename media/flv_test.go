package media

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
)

func loadSample(t testing.TB) *Clip {
	t.Helper()
	b, err := os.ReadFile(testpeer.SamplePath(t))
	noErr(t, err)
	c, err := ParseClip(b)
	noErr(t, err)
	return c
}

// The sample parses into the facts ffprobe reports for it.
func TestReadSampleClip(t *testing.T) {
	c := loadSample(t)
	isTrue(t, c.Video != nil, "video params")
	equal(t, CodecH264, c.Video.Codec)
	equal(t, 640, c.Video.Width)
	equal(t, 360, c.Video.Height)
	near(t, 25, c.Video.FrameRate, 0.01)
	equal(t, byte(7), c.Video.SPS[0]&0x1f)
	equal(t, byte(8), c.Video.PPS[0]&0x1f)
	isTrue(t, c.Audio != nil, "audio params")
	equal(t, AudioParams{Codec: CodecAAC, Config: c.Audio.Config, SampleRate: 44100, Channels: 2}, *c.Audio)
	equal(t, 640.0, c.Metadata["width"])
	equal(t, 0, c.Skipped)

	var video, audio, keys int
	var lastKey time.Duration = -1
	for _, u := range c.Units {
		if u.Codec == CodecAAC {
			audio++
			isTrue(t, len(u.Payload) > 0, "empty AAC frame")
			continue
		}
		video++
		equal(t, u.DTS, u.PTS, "no B-frames in the sample")
		for _, n := range u.NALUs {
			equal(t, byte(0), n[0]&0x80, "forbidden_zero_bit")
		}
		if u.Key {
			keys++
			if lastKey >= 0 {
				equal(t, 2*time.Second, u.DTS-lastKey)
			}
			lastKey = u.DTS
		}
	}
	equal(t, 250, video)
	near(t, 431, float64(audio), 3)
	equal(t, 5, keys)
	isTrue(t, firstVideo(c.Units).Key, "first video unit is a keyframe")
	near(t, float64(10*time.Second), float64(c.Span()), float64(50*time.Millisecond))
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
	noErr(t, err)
	w.HEVC = mode
	noErr(t, w.WriteMetadata(FLVMetadata(c.Video, c.Audio)))
	if c.Video != nil {
		noErr(t, w.WriteVideoParams(0, *c.Video))
	}
	if c.Audio != nil {
		noErr(t, w.WriteAudioParams(0, *c.Audio))
	}
	for _, u := range c.Units {
		noErr(t, w.WriteUnit(u))
	}
	return buf.Bytes()
}

// What FLVWriter writes, FLVReader reads back unchanged.
func TestFLVRoundTripH264(t *testing.T) {
	c := loadSample(t)
	back, err := ParseClip(writeClip(t, c, HEVCEnhanced))
	noErr(t, err)
	equal(t, *c.Video, *back.Video)
	equal(t, *c.Audio, *back.Audio)
	equal(t, c.Units, back.Units)
	equal(t, 360.0, back.Metadata["height"])
	equal(t, "fmspush", back.Metadata["encoder"])
}

// H.265 round-trips both as Enhanced RTMP hvc1 and as legacy codec id 12,
// with width and height parsed from a real x265 SPS.
func TestFLVRoundTripH265(t *testing.T) {
	c := hevcClip(t)
	equal(t, 320, c.Video.Width)
	equal(t, 240, c.Video.Height)
	for _, mode := range []HEVCMode{HEVCEnhanced, HEVCLegacy} {
		b := writeClip(t, c, mode)
		back, err := ParseClip(b)
		noErr(t, err)
		equal(t, *c.Video, *back.Video)
		equal(t, c.Units, back.Units)
		tag := firstTag(t, b, FLVTagVideo)
		if mode == HEVCLegacy {
			equal(t, byte(0x1c), tag[0])
		} else {
			equal(t, "hvc1", string(tag[1:5]))
		}
	}
}

func firstTag(t *testing.T, b []byte, typ uint8) []byte {
	r, err := NewFLVReader(bytes.NewReader(b))
	noErr(t, err)
	for {
		tag, err := r.ReadTag()
		noErr(t, err)
		if tag.Type == typ {
			return tag.Data
		}
	}
}

// Enhanced RTMP CodedFramesX (no composition time) decodes too.
func TestFLVEnhancedCodedFramesX(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewFLVWriter(&buf, true, false)
	noErr(t, err)
	body := []byte{0x80 | 2<<4 | exCodedFramesX, 'h', 'v', 'c', '1', 0, 0, 0, 3, 0x02, 0x01, 0xaa}
	noErr(t, w.WriteTag(FLVTagVideo, 80*time.Millisecond, body))
	r, err := NewFLVReader(&buf)
	noErr(t, err)
	p, err := r.ReadPacket()
	noErr(t, err)
	equal(t, Unit{Codec: CodecH265, DTS: 80 * time.Millisecond, PTS: 80 * time.Millisecond,
		NALUs: [][]byte{{0x02, 0x01, 0xaa}}}, *p.Unit)
}

// Bad input gives errors, never panics or huge allocations.
func TestFLVBadInput(t *testing.T) {
	_, err := NewFLVReader(bytes.NewReader([]byte("GIF89a.......")))
	errIs(t, err, ErrNotFLV)

	c := loadSample(t)
	b := writeClip(t, c, HEVCEnhanced)
	for _, n := range []int{0, 5, 13, 20, 100} {
		_, err := ParseClip(b[:n])
		isErr(t, err, "truncated at ", n)
	}
	// Cut after the headers: what came before plays (a clip, Truncated), or
	// there is no frame yet (an error).
	if c, err := ParseClip(b[:1000]); err == nil {
		isTrue(t, c.Truncated, "a clip cut at 1000 bytes is marked truncated")
	}
	// A tag claiming 16 MiB with 10 bytes behind it: no frame, no clip.
	huge := append(append([]byte{}, b[:13]...), 9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3)
	_, err = ParseClip(huge)
	isErr(t, err, "a 16 MiB tag with 10 bytes")
	_, err = NewFLVReader(bytes.NewReader(huge))
	noErr(t, err)
	r0, _ := NewFLVReader(bytes.NewReader(huge))
	_, err = r0.ReadTag()
	errIs(t, err, io.ErrUnexpectedEOF)

	var buf bytes.Buffer
	w, _ := NewFLVWriter(&buf, true, true)
	noErr(t, w.WriteTag(FLVTagAudio, 0, []byte{0x2f, 1, 2})) // MP3
	noErr(t, w.WriteTag(FLVTagVideo, 0, []byte{0x12, 1, 2})) // Sorenson
	r, _ := NewFLVReader(&buf)
	var ue *UnsupportedError
	_, err = r.ReadPacket()
	isTrue(t, errors.As(err, &ue), err)
	_, err = r.ReadPacket()
	isTrue(t, errors.As(err, &ue), err)
	_, err = r.ReadPacket()
	equal(t, io.EOF, err)
}

func TestSplitAVCC(t *testing.T) {
	n, err := SplitAVCC([]byte{0, 2, 9, 9, 0, 0, 0, 2, 1, 7}, 2)
	noErr(t, err)
	equal(t, [][]byte{{9, 9}, {1, 7}}, n)
	_, err = SplitAVCC([]byte{0, 0, 0, 9, 1}, 4)
	isErr(t, err)
	_, err = SplitAVCC([]byte{0, 0}, 3)
	isErr(t, err)
}

// Script data the AMF0 decoder does not know (here an AMF0 date) is
// skipped; the frames around it still read.
func TestFLVUndecodableScriptSkipped(t *testing.T) {
	c := loadSample(t)
	var buf bytes.Buffer
	w, err := NewFLVWriter(&buf, true, false)
	noErr(t, err)
	noErr(t, w.WriteTag(FLVTagScript, 0, []byte{2, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}))
	noErr(t, w.WriteVideoParams(0, *c.Video))
	noErr(t, w.WriteUnit(firstVideo(c.Units)))
	back, err := ParseClip(buf.Bytes())
	noErr(t, err)
	equal(t, 1, back.Skipped)
	equal(t, 1, len(back.Units))
}
