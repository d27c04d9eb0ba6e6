package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// ErrShortConfig is returned when a decoder configuration record is truncated.
var ErrShortConfig = errors.New("media: decoder configuration record too short")

// ParseAVCConfig decodes an AVCDecoderConfigurationRecord (ISO 14496-15
// 5.3.3.1) into video parameters. Width, height and frame rate come from the
// first SPS. It also returns the NALU length size (1, 2 or 4).
func ParseAVCConfig(b []byte) (VideoParams, int, error) {
	if len(b) < 7 {
		return VideoParams{}, 0, ErrShortConfig
	}
	if b[0] != 1 {
		return VideoParams{}, 0, fmt.Errorf("media: avcC version %d, want 1", b[0])
	}
	lengthSize := int(b[4]&3) + 1
	if lengthSize == 3 {
		return VideoParams{}, 0, errors.New("media: avcC NALU length size 3 is invalid")
	}
	p := VideoParams{Codec: CodecH264}
	sps, rest, err := readFirstOf(b[6:], int(b[5]&0x1f))
	if err != nil {
		return VideoParams{}, 0, err
	}
	if len(rest) < 1 {
		return VideoParams{}, 0, ErrShortConfig
	}
	pps, _, err := readFirstOf(rest[1:], int(rest[0]))
	if err != nil {
		return VideoParams{}, 0, err
	}
	if sps == nil || pps == nil {
		return VideoParams{}, 0, errors.New("media: avcC without SPS or PPS")
	}
	p.SPS, p.PPS = sps, pps
	if err := p.parseSPS(); err != nil {
		return VideoParams{}, 0, err
	}
	return p, lengthSize, nil
}

// readFirstOf reads n 16-bit length-prefixed NAL units and returns the
// first one and what follows them.
func readFirstOf(b []byte, n int) ([]byte, []byte, error) {
	var first []byte
	for i := 0; i < n; i++ {
		nalu, rest, err := readU16Prefixed(b)
		if err != nil {
			return nil, nil, err
		}
		if first == nil {
			first = nalu
		}
		b = rest
	}
	return first, b, nil
}

// readU16Prefixed splits a 16-bit length-prefixed byte string off b. The
// returned slice is a copy, so callers may keep it after b is reused.
func readU16Prefixed(b []byte) ([]byte, []byte, error) {
	if len(b) < 2 {
		return nil, nil, ErrShortConfig
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n || n == 0 {
		return nil, nil, ErrShortConfig
	}
	return append([]byte(nil), b[2:2+n]...), b[2+n:], nil
}

// AVCConfig encodes p (H.264) as an AVCDecoderConfigurationRecord with
// 4-byte NALU lengths, the body of an FLV AVC sequence header.
func AVCConfig(p VideoParams) ([]byte, error) {
	if len(p.SPS) < 4 || len(p.PPS) == 0 || len(p.SPS) > 0xffff || len(p.PPS) > 0xffff {
		return nil, errors.New("media: avcC needs an SPS of 4+ bytes and a PPS")
	}
	b := make([]byte, 0, 11+len(p.SPS)+len(p.PPS))
	b = append(b, 1, p.SPS[1], p.SPS[2], p.SPS[3], 0xff, 0xe1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.SPS)))
	b = append(b, p.SPS...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.PPS)))
	return append(b, p.PPS...), nil
}

// ParseHEVCConfig decodes an HEVCDecoderConfigurationRecord (ISO 14496-15
// 8.3.3.1) into video parameters. It also returns the NALU length size.
func ParseHEVCConfig(b []byte) (VideoParams, int, error) {
	if len(b) < 23 {
		return VideoParams{}, 0, ErrShortConfig
	}
	lengthSize := int(b[21]&3) + 1
	if lengthSize == 3 {
		return VideoParams{}, 0, errors.New("media: hvcC NALU length size 3 is invalid")
	}
	p := VideoParams{Codec: CodecH265}
	n, rest := int(b[22]), b[23:]
	for i := 0; i < n; i++ {
		var err error
		if rest, err = p.readHEVCArray(rest); err != nil {
			return VideoParams{}, 0, err
		}
	}
	if p.VPS == nil || p.SPS == nil || p.PPS == nil {
		return VideoParams{}, 0, errors.New("media: hvcC without VPS, SPS or PPS")
	}
	if err := p.parseSPS(); err != nil {
		return VideoParams{}, 0, err
	}
	return p, lengthSize, nil
}

// readHEVCArray reads one NAL unit array of an hvcC record, keeping the
// first VPS, SPS and PPS.
func (p *VideoParams) readHEVCArray(b []byte) ([]byte, error) {
	if len(b) < 3 {
		return nil, ErrShortConfig
	}
	typ := h265.NALUType(b[0] & 0x3f)
	n, rest := int(binary.BigEndian.Uint16(b[1:])), b[3:]
	for i := 0; i < n; i++ {
		var nalu []byte
		var err error
		if nalu, rest, err = readU16Prefixed(rest); err != nil {
			return nil, err
		}
		switch {
		case typ == h265.NALUType_VPS_NUT && p.VPS == nil:
			p.VPS = nalu
		case typ == h265.NALUType_SPS_NUT && p.SPS == nil:
			p.SPS = nalu
		case typ == h265.NALUType_PPS_NUT && p.PPS == nil:
			p.PPS = nalu
		}
	}
	return rest, nil
}

// HEVCConfig encodes p (H.265) as an HEVCDecoderConfigurationRecord with
// 4-byte NALU lengths. The profile, tier and level come from the SPS.
func HEVCConfig(p VideoParams) ([]byte, error) {
	ptl, err := hevcProfileTierLevel(p.SPS)
	if err != nil {
		return nil, err
	}
	if len(p.VPS) == 0 || len(p.PPS) == 0 {
		return nil, errors.New("media: hvcC needs VPS, SPS and PPS")
	}
	b := make([]byte, 0, 64+len(p.VPS)+len(p.SPS)+len(p.PPS))
	b = append(b, 1)
	b = append(b, ptl...)
	// min_spatial_segmentation, parallelism, chroma 4:2:0, 8-bit depths,
	// avg frame rate 0, then 1 temporal layer, nested, 4-byte lengths.
	b = append(b, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 3)
	for _, a := range []struct {
		typ  h265.NALUType
		nalu []byte
	}{{h265.NALUType_VPS_NUT, p.VPS}, {h265.NALUType_SPS_NUT, p.SPS}, {h265.NALUType_PPS_NUT, p.PPS}} {
		if len(a.nalu) > 0xffff {
			return nil, errors.New("media: parameter set too large for hvcC")
		}
		b = append(b, 0x80|byte(a.typ), 0, 1)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.nalu)))
		b = append(b, a.nalu...)
	}
	return b, nil
}

// hevcProfileTierLevel returns the 12 bytes of general profile, tier and
// level that follow the 2-byte NAL header and one byte in an H.265 SPS.
func hevcProfileTierLevel(sps []byte) ([]byte, error) {
	if len(sps) < 3 {
		return nil, errors.New("media: hvcC needs an SPS")
	}
	raw := h264.EmulationPreventionRemove(sps[2:])
	if len(raw) < 13 {
		return nil, errors.New("media: H.265 SPS too short for profile_tier_level")
	}
	return raw[1:13], nil
}

// parseSPS fills Width, Height and FrameRate from p.SPS.
func (p *VideoParams) parseSPS() error {
	var w, h int
	var fps float64
	switch p.Codec {
	case CodecH264:
		var s h264.SPS
		if err := s.Unmarshal(p.SPS); err != nil {
			return fmt.Errorf("media: H.264 SPS: %w", err)
		}
		w, h, fps = s.Width(), s.Height(), s.FPS()
	case CodecH265:
		var s h265.SPS
		if err := s.Unmarshal(p.SPS); err != nil {
			return fmt.Errorf("media: H.265 SPS: %w", err)
		}
		w, h, fps = s.Width(), s.Height(), s.FPS()
	default:
		return fmt.Errorf("media: no SPS parser for %v", p.Codec)
	}
	if w <= 0 || h <= 0 {
		return fmt.Errorf("media: SPS gives a %dx%d picture", w, h)
	}
	p.Width, p.Height = w, h
	if fps > 0 && fps < 1000 && !math.IsNaN(fps) {
		p.FrameRate = fps
	}
	return nil
}

// ParseAudioConfig decodes an MPEG-4 AudioSpecificConfig into AAC audio
// parameters.
func ParseAudioConfig(b []byte) (AudioParams, error) {
	var c mpeg4audio.AudioSpecificConfig
	if err := c.Unmarshal(b); err != nil {
		return AudioParams{}, fmt.Errorf("media: AudioSpecificConfig: %w", err)
	}
	ch := int(c.ChannelConfig)
	if ch == 7 {
		ch = 8
	}
	if ch == 0 || ch > 8 || c.SampleRate <= 0 {
		return AudioParams{}, fmt.Errorf("media: unsupported AAC config: %d Hz, channel config %d",
			c.SampleRate, c.ChannelConfig)
	}
	return AudioParams{Codec: CodecAAC, Config: append([]byte(nil), b...), SampleRate: c.SampleRate, Channels: ch}, nil
}

// NewVideoParams builds video parameters from raw parameter sets (vps only
// for H.265), parsing width, height and frame rate from the SPS.
func NewVideoParams(c Codec, vps, sps, pps []byte) (VideoParams, error) {
	p := VideoParams{Codec: c, VPS: clone(vps), SPS: clone(sps), PPS: clone(pps)}
	if !complete(p) {
		return VideoParams{}, fmt.Errorf("media: incomplete %v parameter sets", c)
	}
	if err := p.parseSPS(); err != nil {
		return VideoParams{}, err
	}
	return p, nil
}
