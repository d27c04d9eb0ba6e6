// Package sample embeds a short recording so fmspush works with no camera and
// no ffmpeg installed: H.264 main 640x360 25 fps, keyframe every 2 s, AAC LC
// stereo 44.1 kHz, about 10 s, with onMetaData (builtin:sample).
package sample

import (
	_ "embed"
	"sync"

	"github.com/fmspush/fmspush/media"
)

//go:embed sample.flv
var flv []byte

var parsed struct {
	sync.Once
	clip *media.Clip
	err  error
}

// Bytes returns the embedded FLV file. Do not modify it.
func Bytes() []byte { return flv }

// Clip returns the parsed sample, parsed once and shared: treat it as
// read-only.
func Clip() (*media.Clip, error) {
	parsed.Do(func() { parsed.clip, parsed.err = media.ParseClip(flv) })
	return parsed.clip, parsed.err
}

// NewLooper replays the sample forever with continuous timestamps, paced by
// clock (media.SystemClock for real time, nil for unpaced).
func NewLooper(clock media.Clock) (*media.Looper, error) {
	c, err := Clip()
	if err != nil {
		return nil, err
	}
	return media.NewLooper(c, clock)
}
