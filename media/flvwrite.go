package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
)

// HEVCMode selects how H.265 goes into FLV tags.
type HEVCMode uint8

// H.265 signalling in FLV.
const (
	HEVCEnhanced HEVCMode = iota // Enhanced RTMP, FourCC hvc1
	HEVCLegacy                   // legacy codec id 12 (Chinese CDNs)
)

const aacSoundFlags = FLVSoundAAC<<4 | 0x0f // AAC, 44 kHz, 16-bit, stereo, as the spec demands

// VideoSequenceHeaderTag returns the FLV video tag body of a sequence header
// for p (AVC legacy, H.265 by mode).
func VideoSequenceHeaderTag(p VideoParams, mode HEVCMode) ([]byte, error) {
	switch p.Codec {
	case CodecH264:
		rec, err := AVCConfig(p)
		if err != nil {
			return nil, err
		}
		return append([]byte{flvFrameKey<<4 | FLVCodecAVC, 0, 0, 0, 0}, rec...), nil
	case CodecH265:
		rec, err := HEVCConfig(p)
		if err != nil {
			return nil, err
		}
		if mode == HEVCLegacy {
			return append([]byte{flvFrameKey<<4 | FLVCodecHEVC, 0, 0, 0, 0}, rec...), nil
		}
		return append([]byte{flvExHeader | flvFrameKey<<4 | exSequenceStart, 'h', 'v', 'c', '1'}, rec...), nil
	}
	return nil, fmt.Errorf("media: no FLV sequence header for %v", p.Codec)
}

// VideoFrameTag returns the FLV video tag body of a video unit: its NAL units
// with 4-byte length prefixes after the codec header and composition time.
func VideoFrameTag(u Unit, mode HEVCMode) ([]byte, error) {
	return AppendVideoFrameTag(nil, u, mode)
}

// AppendVideoFrameTag appends VideoFrameTag's body to dst (a writer reuses
// one buffer from frame to frame instead of allocating each frame's).
func AppendVideoFrameTag(dst []byte, u Unit, mode HEVCMode) ([]byte, error) {
	cts := (u.PTS - u.DTS) / time.Millisecond
	if cts < -(1<<23) || cts >= 1<<23 {
		return nil, fmt.Errorf("media: composition offset %v out of range", u.PTS-u.DTS)
	}
	ft := byte(2)
	if u.Key {
		ft = flvFrameKey
	}
	var hdr [5]byte
	n := 2
	switch {
	case u.Codec == CodecH264:
		hdr[0], hdr[1] = ft<<4|FLVCodecAVC, 1
	case u.Codec == CodecH265 && mode == HEVCLegacy:
		hdr[0], hdr[1] = ft<<4|FLVCodecHEVC, 1
	case u.Codec == CodecH265:
		hdr, n = [5]byte{flvExHeader | ft<<4 | exCodedFrames, 'h', 'v', 'c', '1'}, 5
	default:
		return nil, fmt.Errorf("media: %v is not a video codec", u.Codec)
	}
	b := grow(dst, n+3+u.Size()+4*len(u.NALUs))
	b = append(b, hdr[:n]...)
	b = append(b, byte(cts>>16), byte(cts>>8), byte(cts))
	for _, n := range u.NALUs {
		b = binary.BigEndian.AppendUint32(b, uint32(len(n)))
		b = append(b, n...)
	}
	return b, nil
}

// grow returns b with room for n more bytes: b itself, or one allocation
// (slices.Grow takes two under the race detector).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}

// AudioSequenceHeaderTag returns the FLV audio tag body of an AAC sequence
// header.
func AudioSequenceHeaderTag(p AudioParams) []byte {
	return append([]byte{aacSoundFlags, 0}, p.Config...)
}

// AudioFrameTag returns the FLV audio tag body of one raw AAC frame.
func AudioFrameTag(u Unit) []byte { return AppendAudioFrameTag(nil, u) }

// AppendAudioFrameTag appends AudioFrameTag's body to dst.
func AppendAudioFrameTag(dst []byte, u Unit) []byte {
	return append(append(dst, aacSoundFlags, 1), u.Payload...)
}

// Size is the number of payload bytes in u (NAL units or audio frame).
func (u Unit) Size() int {
	n := len(u.Payload)
	for _, b := range u.NALUs {
		n += len(b)
	}
	return n
}

// FLVWriter writes an FLV stream: header, metadata, sequence headers and
// units. It is not safe for concurrent use.
type FLVWriter struct {
	w io.Writer
	// HEVC selects how H.265 is written (Enhanced RTMP by default).
	HEVC HEVCMode
}

// NewFLVWriter writes the FLV header announcing the given tracks.
func NewFLVWriter(w io.Writer, hasVideo, hasAudio bool) (*FLVWriter, error) {
	flags := byte(0)
	if hasAudio {
		flags |= 4
	}
	if hasVideo {
		flags |= 1
	}
	_, err := w.Write([]byte{'F', 'L', 'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0})
	if err != nil {
		return nil, err
	}
	return &FLVWriter{w: w}, nil
}

// WriteTag writes one tag with its PreviousTagSize at ts.
func (w *FLVWriter) WriteTag(typ uint8, ts time.Duration, body []byte) error {
	if ts < 0 {
		return errors.New("media: negative FLV timestamp")
	}
	if len(body) >= 1<<24 {
		return errors.New("media: FLV tag too large")
	}
	ms := uint32(ts / time.Millisecond)
	n := len(body)
	h := []byte{typ, byte(n >> 16), byte(n >> 8), byte(n), byte(ms >> 16), byte(ms >> 8), byte(ms), byte(ms >> 24), 0, 0, 0}
	b := make([]byte, 0, len(h)+n+4)
	b = append(append(append(b, h...), body...), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[len(b)-4:], uint32(11+n))
	_, err := w.w.Write(b)
	return err
}

// WriteMetadata writes an onMetaData script tag at time 0.
func (w *FLVWriter) WriteMetadata(m amf0.ECMAArray) error {
	b, err := amf0.Data{"onMetaData", m}.Marshal()
	if err != nil {
		return err
	}
	return w.WriteTag(FLVTagScript, 0, b)
}

// WriteVideoParams writes a video sequence header at ts.
func (w *FLVWriter) WriteVideoParams(ts time.Duration, p VideoParams) error {
	b, err := VideoSequenceHeaderTag(p, w.HEVC)
	if err != nil {
		return err
	}
	return w.WriteTag(FLVTagVideo, ts, b)
}

// WriteAudioParams writes an AAC sequence header at ts.
func (w *FLVWriter) WriteAudioParams(ts time.Duration, p AudioParams) error {
	return w.WriteTag(FLVTagAudio, ts, AudioSequenceHeaderTag(p))
}

// WriteUnit writes one video or audio unit at its DTS.
func (w *FLVWriter) WriteUnit(u Unit) error {
	if u.Codec == CodecAAC {
		return w.WriteTag(FLVTagAudio, u.DTS, AudioFrameTag(u))
	}
	b, err := VideoFrameTag(u, w.HEVC)
	if err != nil {
		return err
	}
	return w.WriteTag(FLVTagVideo, u.DTS, b)
}
