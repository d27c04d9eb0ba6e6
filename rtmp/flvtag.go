package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/fmspush/fmspush/media"
)

// FLV codec ids.
const (
	FLVCodecAVC        = 7  // H.264
	FLVCodecHEVCLegacy = 12 // H.265 the way Chinese CDNs extended FLV
	FLVCodecAAC        = 10 // AAC
)

// FourCCHEVC is the Enhanced RTMP FourCC of H.265, also used as onMetaData videocodecid.
const FourCCHEVC = 0x68766331 // "hvc1"

// H265Mode chooses how H.265 goes into FLV tags.
type H265Mode int

// H.265 carriage modes.
const (
	// H265Enhanced is Enhanced RTMP (ExVideoTagHeader, FourCC hvc1).
	H265Enhanced H265Mode = iota
	// H265Legacy is the pre-Enhanced-RTMP codec id 12 with AVC-like packets.
	H265Legacy
)

// FLV video tag packet types (AVCPacketType / legacy HEVC).
const (
	flvPacketSequenceHeader = 0
	flvPacketNALU           = 1
	exPacketSequenceStart   = 0
	exPacketCodedFrames     = 1
	flvFrameKey             = 1
	flvFrameInter           = 2
	flvAACHeaderByte        = 0xAF // AAC, 44.1 kHz, 16 bit, stereo: what every AAC tag says
)

// AVCDecoderConfig builds an AVCDecoderConfigurationRecord from one SPS and one PPS.
func AVCDecoderConfig(sps, pps []byte) ([]byte, error) {
	if len(sps) < 4 || len(pps) < 1 {
		return nil, errors.New("rtmp: AVC config needs an SPS (4+ bytes) and a PPS")
	}
	b := []byte{1, sps[1], sps[2], sps[3], 0xFF, 0xE1}
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	return append(b, pps...), nil
}

// ParseAVCDecoderConfig returns the SPSs and PPSs of an AVCDecoderConfigurationRecord.
func ParseAVCDecoderConfig(b []byte) (spss, ppss [][]byte, err error) {
	if len(b) < 6 || b[0] != 1 {
		return nil, nil, errors.New("rtmp: bad AVCDecoderConfigurationRecord")
	}
	rest := b[5:]
	for i, list := range []*[][]byte{&spss, &ppss} {
		if len(rest) < 1 {
			return nil, nil, errors.New("rtmp: short AVCDecoderConfigurationRecord")
		}
		n := int(rest[0])
		if i == 0 {
			n &= 0x1F
		}
		rest = rest[1:]
		for range n {
			if len(rest) < 2 || len(rest) < 2+int(binary.BigEndian.Uint16(rest)) {
				return nil, nil, errors.New("rtmp: short AVCDecoderConfigurationRecord")
			}
			l := int(binary.BigEndian.Uint16(rest))
			*list = append(*list, rest[2:2+l])
			rest = rest[2+l:]
		}
	}
	return spss, ppss, nil
}

// AVCSequenceHeader is the FLV video tag body `17 00 000000` + AVCDecoderConfigurationRecord.
func AVCSequenceHeader(sps, pps []byte) ([]byte, error) {
	rec, err := AVCDecoderConfig(sps, pps)
	if err != nil {
		return nil, err
	}
	return append([]byte{flvFrameKey<<4 | FLVCodecAVC, flvPacketSequenceHeader, 0, 0, 0}, rec...), nil
}

// AppendAVCC appends NAL units each prefixed with its 4-byte length.
func AppendAVCC(b []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		b = binary.BigEndian.AppendUint32(b, uint32(len(n)))
		b = append(b, n...)
	}
	return b
}

// SplitAVCC splits 4-byte-length-prefixed NAL units, failing on a length
// that runs past the end.
func SplitAVCC(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("rtmp: AVCC: %d trailing bytes", len(b))
		}
		l := binary.BigEndian.Uint32(b)
		if l == 0 || uint64(l) > uint64(len(b)-4) {
			return nil, fmt.Errorf("rtmp: AVCC: NALU length %d with %d bytes left", l, len(b)-4)
		}
		out = append(out, b[4:4+l])
		b = b[4+l:]
	}
	return out, nil
}

func appendCTS(b []byte, cts int32) []byte {
	return append(b, byte(cts>>16), byte(cts>>8), byte(cts))
}

func frameType(key bool) byte {
	if key {
		return flvFrameKey
	}
	return flvFrameInter
}

// avccSize is the size of nalus in AVCC form (4-byte lengths).
func avccSize(nalus [][]byte) int {
	n := 0
	for _, u := range nalus {
		n += 4 + len(u)
	}
	return n
}

// videoBody allocates a video tag body once: head, then nalus as AVCC.
func videoBody(head []byte, cts int32, nalus [][]byte) []byte {
	b := make([]byte, 0, len(head)+3+avccSize(nalus))
	return AppendAVCC(appendCTS(append(b, head...), cts), nalus)
}

// AVCFrame is the FLV video tag body of one H.264 access unit.
func AVCFrame(key bool, cts int32, nalus [][]byte) []byte {
	return videoBody([]byte{frameType(key)<<4 | FLVCodecAVC, flvPacketNALU}, cts, nalus)
}

// AACSequenceHeader is the FLV audio tag body `af 00` + AudioSpecificConfig.
func AACSequenceHeader(config []byte) []byte {
	return append([]byte{flvAACHeaderByte, 0}, config...)
}

// AACFrame is the FLV audio tag body `af 01` + one raw AAC frame.
func AACFrame(frame []byte) []byte {
	return append([]byte{flvAACHeaderByte, 1}, frame...)
}

// unescapeRBSP removes emulation prevention bytes (00 00 03 -> 00 00).
func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

// HEVCDecoderConfig builds an HEVCDecoderConfigurationRecord from VPS, SPS
// and PPS, taking the general profile/tier/level from the SPS and assuming
// 4:2:0 8-bit.
func HEVCDecoderConfig(vps, sps, pps []byte) ([]byte, error) {
	rbsp := unescapeRBSP(sps)
	if len(vps) < 2 || len(pps) < 2 || len(rbsp) < 15 {
		return nil, errors.New("rtmp: HEVC config needs VPS, SPS (15+ bytes) and PPS")
	}
	b := []byte{1}
	b = append(b, rbsp[3:15]...) // general profile_tier_level: 12 bytes
	b = append(b, 0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0, 0, 0x0F, 3)
	for _, n := range []struct {
		typ  byte
		nalu []byte
	}{{32, vps}, {33, sps}, {34, pps}} {
		b = append(b, 0x80|n.typ, 0, 1)
		b = binary.BigEndian.AppendUint16(b, uint16(len(n.nalu)))
		b = append(b, n.nalu...)
	}
	return b, nil
}

// HEVCSequenceHeader is the FLV video tag body announcing H.265 parameters.
func HEVCSequenceHeader(vps, sps, pps []byte, mode H265Mode) ([]byte, error) {
	rec, err := HEVCDecoderConfig(vps, sps, pps)
	if err != nil {
		return nil, err
	}
	if mode == H265Legacy {
		return append([]byte{flvFrameKey<<4 | FLVCodecHEVCLegacy, flvPacketSequenceHeader, 0, 0, 0}, rec...), nil
	}
	return append([]byte{0x80 | flvFrameKey<<4 | exPacketSequenceStart, 'h', 'v', 'c', '1'}, rec...), nil
}

// HEVCFrame is the FLV video tag body of one H.265 access unit.
func HEVCFrame(key bool, cts int32, nalus [][]byte, mode H265Mode) []byte {
	if mode == H265Legacy {
		return videoBody([]byte{frameType(key)<<4 | FLVCodecHEVCLegacy, flvPacketNALU}, cts, nalus)
	}
	return videoBody([]byte{0x80 | frameType(key)<<4 | exPacketCodedFrames, 'h', 'v', 'c', '1'}, cts, nalus)
}

// Metadata is onMetaData as ffmpeg's FLV muxer writes it. HasVideo and
// HasAudio choose which keys appear; the others keep ffmpeg's order.
type Metadata struct {
	HasVideo, HasAudio bool
	Duration           float64
	Width, Height      float64
	VideoDataRate      float64 // kbit/s
	FrameRate          float64
	VideoCodecID       float64 // 7 H.264, 12 legacy H.265, FourCCHEVC
	AudioDataRate      float64 // kbit/s
	AudioSampleRate    float64
	AudioSampleSize    float64
	Stereo             bool
	AudioCodecID       float64 // 10 AAC
	Encoder            string
	FileSize           float64
}

// DefaultEncoder is onMetaData's encoder value unless set.
const DefaultEncoder = "fmspush"

// MetadataFor fills Metadata from codec parameters (either may be nil).
func MetadataFor(v *media.VideoParams, a *media.AudioParams, h265 H265Mode) Metadata {
	md := Metadata{Encoder: DefaultEncoder}
	if v != nil {
		md.HasVideo = true
		md.Width, md.Height, md.FrameRate = float64(v.Width), float64(v.Height), v.FrameRate
		md.VideoCodecID = FLVCodecAVC
		if v.Codec == media.CodecH265 {
			md.VideoCodecID = FourCCHEVC
			if h265 == H265Legacy {
				md.VideoCodecID = FLVCodecHEVCLegacy
			}
		}
	}
	if a != nil {
		md.HasAudio = true
		md.AudioSampleRate, md.AudioSampleSize = float64(a.SampleRate), 16
		md.Stereo = a.Channels >= 2
		md.AudioCodecID = FLVCodecAAC
	}
	return md
}

// ECMAArray renders the metadata as an ECMA array with ffmpeg's keys and order.
func (md Metadata) ECMAArray() AMFECMAArray {
	var a AMFECMAArray
	add := func(k string, v any) { a = append(a, AMFObjectEntry{Key: k, Value: v}) }
	add("duration", md.Duration)
	if md.HasVideo {
		add("width", md.Width)
		add("height", md.Height)
		add("videodatarate", md.VideoDataRate)
		add("framerate", md.FrameRate)
		add("videocodecid", md.VideoCodecID)
	}
	if md.HasAudio {
		add("audiodatarate", md.AudioDataRate)
		add("audiosamplerate", md.AudioSampleRate)
		add("audiosamplesize", md.AudioSampleSize)
		add("stereo", md.Stereo)
		add("audiocodecid", md.AudioCodecID)
	}
	enc := md.Encoder
	if enc == "" {
		enc = DefaultEncoder
	}
	add("encoder", enc)
	add("filesize", md.FileSize)
	return a
}

// SetDataFrame is the TypeDataAMF0 payload "@setDataFrame", "onMetaData", ECMA array.
func (md Metadata) SetDataFrame() ([]byte, error) {
	return EncodeAMF("@setDataFrame", "onMetaData", md.ECMAArray())
}

// ScriptTag is the FLV script tag body "onMetaData", ECMA array (no @setDataFrame).
func (md Metadata) ScriptTag() ([]byte, error) {
	return EncodeAMF("onMetaData", md.ECMAArray())
}
