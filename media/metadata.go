package media

import "github.com/bluenviron/gortmplib/pkg/amf0"

// FourCCHEVC is the Enhanced RTMP FourCC of H.265 as a number, onMetaData's
// videocodecid for Enhanced RTMP H.265.
const FourCCHEVC = 0x68766331 // "hvc1"

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
func MetadataFor(v *VideoParams, a *AudioParams, h265 HEVCMode) Metadata {
	md := Metadata{Encoder: DefaultEncoder}
	if v != nil {
		md.HasVideo = true
		md.Width, md.Height, md.FrameRate = float64(v.Width), float64(v.Height), v.FrameRate
		md.VideoCodecID = FLVCodecAVC
		if v.Codec == CodecH265 {
			md.VideoCodecID = FourCCHEVC
			if h265 == HEVCLegacy {
				md.VideoCodecID = FLVCodecHEVC
			}
		}
	}
	if a != nil {
		md.HasAudio = true
		md.AudioSampleRate, md.AudioSampleSize = float64(a.SampleRate), 16
		md.Stereo = a.Channels >= 2
		md.AudioCodecID = FLVSoundAAC
	}
	return md
}

// ECMAArray renders the metadata as an ECMA array with ffmpeg's keys and order.
func (md Metadata) ECMAArray() amf0.ECMAArray {
	var a amf0.ECMAArray
	add := func(k string, v any) { a = append(a, amf0.ObjectEntry{Key: k, Value: v}) }
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
