package fmsim

import (
	"fmt"
	"time"

	"github.com/fmspush/fmspush/rtmp"
)

// onMedia decodes, validates and counts one audio or video message.
func (s *session) onMedia(m *rtmp.Message, e Entry) {
	var p packet
	var err error
	if m.Type == rtmp.TypeVideo {
		p, err = parseVideo(m.Payload)
	} else {
		p, err = parseAudio(m.Payload)
	}
	e.Kind = p.kind
	if err != nil {
		e.Kind, e.Note = "malformed", err.Error()
	}
	s.tr.write(e)
	if !s.info.Published() {
		return // FMS ignores media before publish
	}
	s.firstMedia()
	if r := s.rules(); r.StrictStreamID && m.StreamID != s.info.StreamID {
		s.violate("strict_msid", "wrong_msid",
			fmt.Sprintf("media on message stream %d, createStream gave %d", m.StreamID, s.info.StreamID))
		return
	}
	if err != nil {
		if s.rules().ValidateNALU {
			s.violate("validate_nalu", "bad_media", err.Error())
		}
		return
	}
	if s.rules().RequireFmt0 && m.Fmt != 0 {
		s.violate("require_fmt0", "chunk_header_not_fmt0", fmt.Sprintf("%s message started with a fmt %d chunk", typeName(m.Type), m.Fmt))
		return
	}
	if p.video {
		s.onVideo(m, p)
	} else {
		s.onAudio(m, p)
	}
}

func (s *session) firstMedia() {
	if s.info.FirstMediaAt.IsZero() {
		s.info.FirstMediaAt = time.Now()
		s.armFaults()
	}
}

func (s *session) onVideo(m *rtmp.Message, p packet) {
	r := s.rules()
	if p.seq {
		s.videoSequence(p)
		return
	}
	if !p.frame {
		return
	}
	if s.info.Violation != nil {
		return // nothing is accepted once a violation is pending
	}
	if r.RequireSeqHeader && !s.videoSeq {
		s.violate("require_seq_header", "seq_header_missing", "video frame before the sequence header")
		return
	}
	if r.RequireMetadata && s.info.VideoFrames == 0 && !s.metadataComplete() {
		s.violate("require_metadata", "metadata_missing", "no onMetaData with width, height and framerate before the first video frame")
		return
	}
	if rule, cause, detail := s.gopRefusal(m, p); rule != "" {
		s.violate(rule, cause, detail)
		return
	}
	if r.ValidateNALU && (p.codec == "h264" || p.codec == "hevc") {
		if err := checkNALUs(p.data, s.nalLen); err != nil {
			s.violate("validate_nalu", "bad_nalu", err.Error())
			return
		}
	}
	s.acceptVideo(m, p)
}

// gopRefusal checks keyframe_first and max_gop for a coded video frame.
func (s *session) gopRefusal(m *rtmp.Message, p packet) (rule, cause, detail string) {
	r := s.rules()
	if r.KeyframeFirst && s.info.VideoFrames == 0 && !p.key {
		return "keyframe_first", "no_keyframe_first", "the first video frame is not a keyframe"
	}
	if p.key {
		s.lastKeyTS, s.sawKey = m.Timestamp, true
		return "", "", ""
	}
	if r.MaxGOP <= 0 || !s.sawKey || m.Timestamp < s.lastKeyTS {
		return "", "", ""
	}
	if gap := time.Duration(m.Timestamp-s.lastKeyTS) * time.Millisecond; gap > r.MaxGOP {
		return "max_gop", "gop_too_long", fmt.Sprintf("%v since the last keyframe (max_gop %v)", gap, r.MaxGOP)
	}
	return "", "", ""
}

func (s *session) videoSequence(p packet) {
	var vp videoParams
	var err error
	switch p.codec {
	case "h264":
		vp, err = parseAVCConfig(p.data)
	case "hevc":
		vp, err = parseHEVCConfig(p.data)
	default:
		s.info.VideoCodec, s.videoSeq = p.codec, true
		return
	}
	if err != nil {
		if s.rules().ValidateNALU {
			s.violate("validate_nalu", "bad_seq_header", err.Error())
		}
		return
	}
	s.videoSeq, s.nalLen = true, vp.nalLen
	s.info.VideoCodec, s.info.Width, s.info.Height, s.info.FrameRate = p.codec, vp.width, vp.height, vp.fps
}

func (s *session) acceptVideo(m *rtmp.Message, p packet) {
	if s.info.VideoCodec == "" {
		s.info.VideoCodec = p.codec
	}
	if s.info.VideoFrames == 0 {
		s.info.FirstFrameAt = time.Now()
		s.info.FirstVideoTS = m.Timestamp
		s.info.FirstFrameKey = p.key
		if d := s.rules().AudioWithin; d > 0 && !s.audioSeen {
			s.after("audio_within", d)
		}
		s.armFaults()
	} else if m.Timestamp < s.info.LastVideoTS {
		s.info.VideoTSRegressions++
	}
	s.info.LastVideoTS = m.Timestamp
	s.info.LastFrameAt = time.Now()
	s.info.VideoFrames++
	if p.key {
		s.info.KeyFrames++
	}
}

func (s *session) onAudio(m *rtmp.Message, p packet) {
	s.audioSeen = true
	s.cancel("audio_within")
	if s.info.AudioCodec == "" {
		s.info.AudioCodec = p.codec
	}
	if p.seq {
		s.audioSeq = true
		if p.codec == "aac" {
			if ap, err := parseAACConfig(p.data); err == nil {
				s.info.SampleRate, s.info.Channels = ap.sampleRate, ap.channels
			} else if s.rules().ValidateNALU {
				s.violate("validate_nalu", "bad_seq_header", "AAC config: "+err.Error())
			}
		}
		return
	}
	if !p.frame || s.info.Violation != nil {
		return
	}
	if s.rules().RequireSeqHeader && p.codec == "aac" && !s.audioSeq {
		s.violate("require_seq_header", "seq_header_missing", "AAC frame before the sequence header")
		return
	}
	if s.info.AudioFrames == 0 {
		s.info.FirstAudioTS = m.Timestamp
	} else if m.Timestamp < s.info.LastAudioTS {
		s.info.AudioTSRegressions++
	}
	s.info.LastAudioTS = m.Timestamp
	s.info.AudioFrames++
}
