package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
)

// FLV tag types.
const (
	FLVTagAudio  uint8 = 8
	FLVTagVideo  uint8 = 9
	FLVTagScript uint8 = 18
)

// FLV codec ids: the legacy VideoTagHeader's CodecID and the
// AudioTagHeader's SoundFormat (also onMetaData's videocodecid and
// audiocodecid), declared once for the project.
const (
	// FLVCodecAVC is H.264.
	FLVCodecAVC = 7
	// FLVCodecHEVC is H.265 the way Chinese CDNs extended FLV before
	// Enhanced RTMP (AVC-like packets).
	FLVCodecHEVC = 12
	// FLVSoundAAC is AAC.
	FLVSoundAAC = 10
)

// FLV frame types and Enhanced RTMP packet types and FourCCs.
const (
	flvFrameKey      = 1
	flvFrameCommand  = 5
	flvExHeader      = 0x80
	exSequenceStart  = 0
	exCodedFrames    = 1
	exCodedFramesX   = 3
	fourCCHEVC       = "hvc1"
	fourCCAVC        = "avc1"
	maxFLVHeaderSkip = 1 << 16
)

// ErrNotFLV is returned when a stream does not start with an FLV header.
var ErrNotFLV = errors.New("media: not an FLV stream")

// UnsupportedError reports a tag whose codec or packet kind fmspush does not
// carry. The tag was consumed; reading may continue after it.
type UnsupportedError struct{ What string }

// Error describes what is unsupported.
func (e *UnsupportedError) Error() string { return "media: unsupported " + e.What }

// FLVHeader is the FLV file header.
type FLVHeader struct {
	Version  uint8
	HasAudio bool
	HasVideo bool
}

// FLVTag is one raw FLV tag.
type FLVTag struct {
	Type uint8
	// Timestamp is the tag time in milliseconds (with the extension byte).
	Timestamp uint32
	Data      []byte
}

// FLVPacket is one decoded FLV tag. Exactly one field is set.
type FLVPacket struct {
	Metadata map[string]any // onMetaData (also from @setDataFrame)
	Video    *VideoParams   // a video sequence header
	Audio    *AudioParams   // an AAC sequence header
	Unit     *Unit          // a video or audio frame
}

// FLVReader reads FLV tags from a byte stream and decodes them into
// parameters and units.
type FLVReader struct {
	r          io.Reader
	header     FLVHeader
	lengthSize int
	frameRate  float64
	video      *VideoParams
}

// NewFLVReader reads the FLV header from r.
func NewFLVReader(r io.Reader) (*FLVReader, error) {
	var h [13]byte
	if _, err := io.ReadFull(r, h[:9]); err != nil {
		return nil, fmt.Errorf("media: FLV header: %w", err)
	}
	if h[0] != 'F' || h[1] != 'L' || h[2] != 'V' {
		return nil, ErrNotFLV
	}
	off := binary.BigEndian.Uint32(h[5:9])
	if off < 9 || off > maxFLVHeaderSkip {
		return nil, fmt.Errorf("media: FLV header size %d", off)
	}
	// Skip the rest of the header and PreviousTagSize0.
	if _, err := io.CopyN(io.Discard, r, int64(off-9)+4); err != nil {
		return nil, fmt.Errorf("media: FLV header: %w", err)
	}
	return &FLVReader{
		r:          r,
		header:     FLVHeader{Version: h[3], HasAudio: h[4]&4 != 0, HasVideo: h[4]&1 != 0},
		lengthSize: 4,
	}, nil
}

// Header returns the FLV header.
func (r *FLVReader) Header() FLVHeader { return r.header }

// ReadTag reads the next raw tag and its trailing PreviousTagSize.
func (r *FLVReader) ReadTag() (FLVTag, error) {
	var h [11]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		return FLVTag{}, err
	}
	size := int64(h[1])<<16 | int64(h[2])<<8 | int64(h[3])
	ts := uint32(h[7])<<24 | uint32(h[4])<<16 | uint32(h[5])<<8 | uint32(h[6])
	data, err := readN(r.r, size+4)
	if err != nil {
		return FLVTag{}, fmt.Errorf("media: FLV tag body: %w", unexpected(err))
	}
	return FLVTag{Type: h[0] & 0x1f, Timestamp: ts, Data: data[:size:size]}, nil
}

// readN reads exactly n bytes, growing the buffer as data arrives so that a
// forged size cannot force a large allocation up front.
func readN(r io.Reader, n int64) ([]byte, error) {
	const step = 64 << 10
	b := make([]byte, 0, min(n, step))
	for int64(len(b)) < n {
		k := min(n-int64(len(b)), step)
		start := len(b)
		b = append(b, make([]byte, k)...)
		if _, err := io.ReadFull(r, b[start:]); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadPacket reads tags until one decodes into a packet. It returns io.EOF
// at a clean end of stream and an *UnsupportedError for tags of codecs it
// does not carry (the caller may keep reading).
func (r *FLVReader) ReadPacket() (FLVPacket, error) {
	for {
		tag, err := r.ReadTag()
		if err != nil {
			return FLVPacket{}, err
		}
		p, ok, err := r.decode(tag)
		if err != nil || ok {
			return p, err
		}
	}
}

// decode turns one tag into a packet; ok is false for tags that carry
// nothing for fmspush (end of sequence, unknown script data, empty tags).
func (r *FLVReader) decode(tag FLVTag) (FLVPacket, bool, error) {
	if len(tag.Data) == 0 {
		return FLVPacket{}, false, nil
	}
	switch tag.Type {
	case FLVTagScript:
		return r.decodeScript(tag.Data)
	case FLVTagAudio:
		return r.decodeAudio(tag)
	case FLVTagVideo:
		return r.decodeVideo(tag)
	}
	return FLVPacket{}, false, nil
}

func (r *FLVReader) decodeScript(b []byte) (FLVPacket, bool, error) {
	d, err := amf0.Unmarshal(b)
	if err != nil {
		// Script data fmspush cannot decode (AMF0 dates, AMF3) is skipped,
		// not fatal: the media does not depend on it.
		return FLVPacket{}, false, &UnsupportedError{What: "FLV script data: " + err.Error()}
	}
	if len(d) > 0 && d[0] == "@setDataFrame" {
		d = d[1:]
	}
	if len(d) < 2 || d[0] != "onMetaData" {
		return FLVPacket{}, false, nil
	}
	m := amfMap(d[1])
	if m == nil {
		return FLVPacket{}, false, nil
	}
	if fr, ok := m["framerate"].(float64); ok && fr > 0 && fr < 1000 {
		r.frameRate = fr
		if r.video != nil && r.video.FrameRate == 0 {
			r.video.FrameRate = fr
		}
	}
	return FLVPacket{Metadata: m}, true, nil
}

// amfMap converts an AMF0 object or ECMA array into a map.
func amfMap(v any) map[string]any {
	var entries []amf0.ObjectEntry
	switch o := v.(type) {
	case amf0.Object:
		entries = o
	case amf0.ECMAArray:
		entries = o
	default:
		return nil
	}
	m := make(map[string]any, len(entries))
	for _, e := range entries {
		m[e.Key] = e.Value
	}
	return m
}

func (r *FLVReader) decodeAudio(tag FLVTag) (FLVPacket, bool, error) {
	b := tag.Data
	if b[0]>>4 != FLVSoundAAC {
		return FLVPacket{}, false, &UnsupportedError{What: fmt.Sprintf("FLV sound format %d", b[0]>>4)}
	}
	if len(b) < 2 {
		return FLVPacket{}, false, nil
	}
	if b[1] == 0 {
		p, err := ParseAudioConfig(b[2:])
		if err != nil {
			return FLVPacket{}, false, err
		}
		return FLVPacket{Audio: &p}, true, nil
	}
	if len(b) == 2 {
		return FLVPacket{}, false, nil
	}
	d := msDuration(tag.Timestamp)
	u := Unit{Codec: CodecAAC, DTS: d, PTS: d, Key: true, Payload: b[2:]}
	return FLVPacket{Unit: &u}, true, nil
}

// videoTag is a video tag header in either legacy or Enhanced RTMP form.
type videoTag struct {
	codec     Codec
	frameType uint8
	seqHeader bool
	frames    bool
	cts       int32
	body      []byte
}

func (r *FLVReader) decodeVideo(tag FLVTag) (FLVPacket, bool, error) {
	v, err := parseVideoTag(tag.Data)
	if err != nil || (!v.seqHeader && !v.frames) {
		return FLVPacket{}, false, err
	}
	if v.seqHeader {
		return r.videoConfig(v)
	}
	nalus, err := SplitAVCC(v.body, r.lengthSize)
	if err != nil {
		return FLVPacket{}, false, err
	}
	if len(nalus) == 0 {
		return FLVPacket{}, false, nil
	}
	dts := msDuration(tag.Timestamp)
	u := Unit{Codec: v.codec, DTS: dts, PTS: dts + time.Duration(v.cts)*time.Millisecond,
		Key: v.frameType == flvFrameKey, NALUs: nalus}
	return FLVPacket{Unit: &u}, true, nil
}

func (r *FLVReader) videoConfig(v videoTag) (FLVPacket, bool, error) {
	var p VideoParams
	var ls int
	var err error
	if v.codec == CodecH264 {
		p, ls, err = ParseAVCConfig(v.body)
	} else {
		p, ls, err = ParseHEVCConfig(v.body)
	}
	if err != nil {
		return FLVPacket{}, false, err
	}
	if p.FrameRate == 0 {
		p.FrameRate = r.frameRate
	}
	r.lengthSize, r.video = ls, &p
	out := p
	return FLVPacket{Video: &out}, true, nil
}

func parseVideoTag(b []byte) (videoTag, error) {
	if b[0]&flvExHeader != 0 {
		return parseExVideoTag(b)
	}
	v := videoTag{frameType: b[0] >> 4}
	switch b[0] & 0x0f {
	case FLVCodecAVC:
		v.codec = CodecH264
	case FLVCodecHEVC:
		v.codec = CodecH265
	default:
		return v, &UnsupportedError{What: fmt.Sprintf("FLV video codec id %d", b[0]&0x0f)}
	}
	if v.frameType == flvFrameCommand || len(b) < 5 {
		return v, nil
	}
	v.seqHeader, v.frames = b[1] == 0, b[1] == 1
	v.cts, v.body = int24(b[2:5]), b[5:]
	return v, nil
}

func parseExVideoTag(b []byte) (videoTag, error) {
	v := videoTag{frameType: (b[0] >> 4) & 7}
	if len(b) < 5 || v.frameType == flvFrameCommand {
		return v, nil
	}
	switch string(b[1:5]) {
	case fourCCHEVC:
		v.codec = CodecH265
	case fourCCAVC:
		v.codec = CodecH264
	default:
		return v, &UnsupportedError{What: fmt.Sprintf("Enhanced RTMP FourCC %q", b[1:5])}
	}
	switch b[0] & 0x0f {
	case exSequenceStart:
		v.seqHeader, v.body = true, b[5:]
	case exCodedFrames:
		if len(b) >= 8 {
			v.frames, v.cts, v.body = true, int24(b[5:8]), b[8:]
		}
	case exCodedFramesX:
		v.frames, v.body = true, b[5:]
	}
	return v, nil
}

// int24 decodes a signed 24-bit big-endian integer.
func int24(b []byte) int32 {
	return int32(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8) >> 8
}

func msDuration(ms uint32) time.Duration { return time.Duration(ms) * time.Millisecond }

// SplitAVCC splits length-prefixed NAL units (lengthSize 1, 2 or 4 bytes).
// The returned NALUs alias b. Empty NAL units are skipped.
func SplitAVCC(b []byte, lengthSize int) ([][]byte, error) {
	if lengthSize != 1 && lengthSize != 2 && lengthSize != 4 {
		return nil, fmt.Errorf("media: NALU length size %d", lengthSize)
	}
	var out [][]byte
	for len(b) > 0 {
		if len(b) < lengthSize {
			return nil, errors.New("media: truncated NALU length")
		}
		var n uint64
		for _, c := range b[:lengthSize] {
			n = n<<8 | uint64(c)
		}
		b = b[lengthSize:]
		if n > uint64(len(b)) {
			return nil, fmt.Errorf("media: NALU length %d exceeds the %d bytes left", n, len(b))
		}
		if n > 0 {
			out = append(out, b[:n:n])
		}
		b = b[n:]
	}
	return out, nil
}
