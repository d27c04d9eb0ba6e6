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
	// Key marks a video keyframe (IDR/IRAP); always true for audio. (It
	// sits next to Codec so that the two share one word.)
	Key bool
	// DTS is the decode time relative to the stream start; PTS-DTS is the composition offset.
	DTS time.Duration
	PTS time.Duration
	// NALUs are the video NAL units without start codes or length prefixes.
	NALUs [][]byte
	// Payload is one raw AAC frame (no ADTS header).
	Payload []byte
	// Params are the stream's codec parameters current at this unit, set
	// by their one owner (the native path's hub) and never changed after:
	// a reader compares the pointer with the one it last sent to see a
	// change, in order with the frames, and never scans parameter sets.
	Params *Params
}

// Params is one version of a stream's codec parameters. A new version is
// a new value (with the next Epoch); a value is never modified, so it can
// be shared by every unit, cache and reader that holds it.
type Params struct {
	// Epoch counts the versions: 1 for the first, one more per change.
	Epoch uint64
	Video *VideoParams
	Audio *AudioParams
}

// WithVideo returns the next version with video parameters p (nil when
// they equal the current ones: same codec, parameter sets and size).
func (p *Params) WithVideo(v VideoParams) *Params {
	if p != nil && p.Video != nil && sameVideo(*p.Video, v) {
		return nil
	}
	return p.next(&v, p.audio())
}

// WithAudio returns the next version with audio parameters a (nil when
// they equal the current ones).
func (p *Params) WithAudio(a AudioParams) *Params {
	if old := p.audio(); old != nil && sameAudio(*old, a) {
		return nil
	}
	return p.next(p.video(), &a)
}

func (p *Params) next(v *VideoParams, a *AudioParams) *Params {
	n := &Params{Epoch: 1, Video: v, Audio: a}
	if p != nil {
		n.Epoch = p.Epoch + 1
	}
	return n
}

func (p *Params) video() *VideoParams {
	if p == nil {
		return nil
	}
	return p.Video
}

func (p *Params) audio() *AudioParams {
	if p == nil {
		return nil
	}
	return p.Audio
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
