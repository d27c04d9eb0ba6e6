// Package media holds what flows through the native path: access units with
// their codec parameters, the GOP cache, timestamp rebasing, silent AAC and
// the embedded sample.
package media

import "time"

// Codec identifies the codec of a track.
type Codec uint8

// Codecs fmspush carries.
const (
	CodecUnknown Codec = iota
	CodecH264
	CodecH265
	CodecAAC
)

// String names the codec as ffprobe does.
func (c Codec) String() string {
	switch c {
	case CodecH264:
		return "h264"
	case CodecH265:
		return "hevc"
	case CodecAAC:
		return "aac"
	}
	return "unknown"
}

// IsVideo reports whether c is a video codec.
func (c Codec) IsVideo() bool { return c == CodecH264 || c == CodecH265 }

// Unit is one access unit: a video frame (all its NAL units) or one audio frame.
type Unit struct {
	Codec Codec
	// DTS is the decode time relative to the stream start; PTS-DTS is the composition offset.
	DTS time.Duration
	PTS time.Duration
	// Key marks a video keyframe (IDR/IRAP); always true for audio.
	Key bool
	// NALUs are the video NAL units without start codes or length prefixes.
	NALUs [][]byte
	// Payload is one raw AAC frame (no ADTS header).
	Payload []byte
}

// VideoParams are the parameter sets and picture facts of a video track.
type VideoParams struct {
	Codec     Codec
	VPS       []byte // H.265 only
	SPS       []byte
	PPS       []byte
	Width     int
	Height    int
	FrameRate float64
}

// AudioParams describe an AAC track.
type AudioParams struct {
	Codec Codec
	// Config is the AudioSpecificConfig (2+ bytes).
	Config     []byte
	SampleRate int
	Channels   int
}
