package fmsim

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/fmspush/fmspush/media"
)

// packet is one decoded FLV tag body (an RTMP audio or video message).
type packet struct {
	video bool
	codec string // "h264", "hevc", "aac", ...
	kind  string // "avc_seq", "avc_nalu key", "hevc_seq", "aac_seq", "aac_raw", ...
	seq   bool   // a sequence header
	frame bool   // a coded frame
	key   bool
	data  []byte // the NALUs (length-prefixed) or the raw audio frame / config
}

// Legacy FLV codec ids and Enhanced RTMP packet types.
const (
	flvSoundEx = 9
	exSeqStart = 0
	exFrames   = 1
	exSeqEnd   = 2
	exFramesX  = 3
)

var errShort = errors.New("tag body too short")

// parseVideo decodes a video tag body: legacy AVC (7) / HEVC (12) or an
// Enhanced RTMP ex header (hvc1, avc1, av01, vp09).
func parseVideo(b []byte) (packet, error) {
	p := packet{video: true}
	if len(b) < 1 {
		return p, errShort
	}
	if b[0]&0x80 != 0 {
		return parseVideoEx(b)
	}
	frameType, codecID := b[0]>>4, b[0]&0x0f
	p.key = frameType == 1
	switch codecID {
	case media.FLVCodecAVC:
		p.codec = "h264"
	case media.FLVCodecHEVC:
		p.codec = "hevc"
	default:
		p.codec, p.kind = fmt.Sprintf("video_codec_%d", codecID), "video_other"
		return p, nil
	}
	if frameType == 5 {
		p.kind = "video_info"
		return p, nil
	}
	if len(b) < 5 {
		return p, errShort
	}
	p.data = b[5:]
	setVideoKind(&p, b[1])
	return p, nil
}

// setVideoKind names a legacy AVC/HEVC packet from its AVCPacketType.
func setVideoKind(p *packet, pktType byte) {
	prefix := "avc"
	if p.codec == "hevc" {
		prefix = "hevc"
	}
	switch pktType {
	case 0:
		p.seq, p.kind = true, prefix+"_seq"
	case 1:
		p.frame, p.kind = true, prefix+"_nalu"
		if p.key {
			p.kind += " key"
		}
	case 2:
		p.kind = prefix + "_eos"
	default:
		p.kind = prefix + "_unknown"
	}
}

func parseVideoEx(b []byte) (packet, error) {
	p := packet{video: true, key: (b[0]>>4)&7 == 1}
	if len(b) < 5 {
		return p, errShort
	}
	pktType := b[0] & 0x0f
	fourcc := string(b[1:5])
	prefix := "ex_" + fourcc
	switch fourcc {
	case "hvc1":
		p.codec, prefix = "hevc", "hvc1"
	case "avc1":
		p.codec, prefix = "h264", "avc1"
	case "av01":
		p.codec = "av1"
	case "vp09":
		p.codec = "vp9"
	default:
		p.codec = "ex_" + fourcc
	}
	body := b[5:]
	switch pktType {
	case exSeqStart:
		p.seq, p.kind, p.data = true, prefix+"_seq", body
	case exFrames, exFramesX:
		if pktType == exFrames && (p.codec == "hevc" || p.codec == "h264") {
			if len(body) < 3 {
				return p, errShort
			}
			body = body[3:]
		}
		p.frame, p.kind, p.data = true, prefix+"_frame", body
		if p.key {
			p.kind += " key"
		}
	case exSeqEnd:
		p.kind = prefix + "_eos"
	default:
		p.kind = fmt.Sprintf("%s_pkt%d", prefix, pktType)
	}
	return p, nil
}

// parseAudio decodes an audio tag body: AAC (10), Enhanced RTMP audio (9) or
// another legacy format counted as a frame.
func parseAudio(b []byte) (packet, error) {
	p := packet{}
	if len(b) < 1 {
		return p, errShort
	}
	switch format := b[0] >> 4; format {
	case media.FLVSoundAAC:
		p.codec = "aac"
		if len(b) < 2 {
			return p, errShort
		}
		p.data = b[2:]
		if b[1] == 0 {
			p.seq, p.kind = true, "aac_seq"
		} else {
			p.frame, p.kind = true, "aac_raw"
		}
	case flvSoundEx:
		if len(b) < 5 {
			return p, errShort
		}
		p.codec = "ex_" + string(b[1:5])
		p.data = b[5:]
		if b[0]&0x0f == exSeqStart {
			p.seq, p.kind = true, "audio_ex_seq"
		} else {
			p.frame, p.kind = true, "audio_ex_frame"
		}
	default:
		p.codec, p.frame, p.kind = fmt.Sprintf("audio_format_%d", format), true, "audio_other"
		p.data = b[1:]
	}
	return p, nil
}

// videoParams are what a sequence header says about the picture.
type videoParams struct {
	nalLen int // NALU length prefix size
	width  int
	height int
	fps    float64
}

// parseAVCConfig reads an AVCDecoderConfigurationRecord and its first SPS.
func parseAVCConfig(b []byte) (videoParams, error) {
	vp := videoParams{nalLen: 4}
	if len(b) < 7 {
		return vp, errShort
	}
	vp.nalLen = int(b[4]&3) + 1
	nSPS := int(b[5] & 0x1f)
	pos := 6
	for i := 0; i < nSPS; i++ {
		if pos+2 > len(b) {
			return vp, errShort
		}
		n := int(binary.BigEndian.Uint16(b[pos:]))
		pos += 2
		if pos+n > len(b) {
			return vp, errShort
		}
		if i == 0 {
			var sps h264.SPS
			if err := sps.Unmarshal(b[pos : pos+n]); err != nil {
				return vp, fmt.Errorf("sps: %w", err)
			}
			vp.width, vp.height, vp.fps = sps.Width(), sps.Height(), sps.FPS()
		}
		pos += n
	}
	if nSPS == 0 {
		return vp, errors.New("no SPS in AVC configuration")
	}
	return vp, nil
}

// parseHEVCConfig reads an HEVCDecoderConfigurationRecord and its SPS.
func parseHEVCConfig(b []byte) (videoParams, error) {
	vp := videoParams{nalLen: 4}
	if len(b) < 23 {
		return vp, errShort
	}
	vp.nalLen = int(b[21]&3) + 1
	arrays, pos := int(b[22]), 23
	found := false
	for i := 0; i < arrays; i++ {
		if pos+3 > len(b) {
			return vp, errShort
		}
		typ, n := b[pos]&0x3f, int(binary.BigEndian.Uint16(b[pos+1:]))
		pos += 3
		for j := 0; j < n; j++ {
			if pos+2 > len(b) {
				return vp, errShort
			}
			l := int(binary.BigEndian.Uint16(b[pos:]))
			pos += 2
			if pos+l > len(b) {
				return vp, errShort
			}
			if typ == 33 && !found {
				var sps h265.SPS
				if err := sps.Unmarshal(b[pos : pos+l]); err != nil {
					return vp, fmt.Errorf("sps: %w", err)
				}
				vp.width, vp.height, vp.fps, found = sps.Width(), sps.Height(), sps.FPS(), true
			}
			pos += l
		}
	}
	if !found {
		return vp, errors.New("no SPS in HEVC configuration")
	}
	return vp, nil
}

// checkNALUs verifies that the length-prefixed NALUs tile b exactly, that none
// is empty and that no NAL header has its forbidden bit set.
func checkNALUs(b []byte, nalLen int) error {
	if len(b) == 0 {
		return errors.New("empty frame")
	}
	for pos := 0; pos < len(b); {
		if pos+nalLen > len(b) {
			return fmt.Errorf("truncated NALU length at byte %d", pos)
		}
		var n int
		for _, c := range b[pos : pos+nalLen] {
			n = n<<8 | int(c)
		}
		pos += nalLen
		if n == 0 || n > len(b)-pos {
			return fmt.Errorf("NALU length %d at byte %d does not fit the %d-byte frame", n, pos-nalLen, len(b))
		}
		if b[pos]&0x80 != 0 {
			return fmt.Errorf("NALU at byte %d has the forbidden bit set", pos)
		}
		pos += n
	}
	return nil
}

// audioParams are what an AAC sequence header says.
type audioParams struct {
	sampleRate int
	channels   int
}

func parseAACConfig(b []byte) (audioParams, error) {
	var c mpeg4audio.AudioSpecificConfig
	if err := c.Unmarshal(b); err != nil {
		return audioParams{}, err
	}
	ch := int(c.ChannelConfig)
	if ch == 7 {
		ch = 8
	}
	return audioParams{sampleRate: c.SampleRate, channels: ch}, nil
}
