package nativepath

import (
	"time"

	"github.com/fmspush/fmspush/media"
)

// silence generates AAC-LC silence frames aligned with the video timeline.
type silence struct {
	next  time.Duration
	began bool
}

func newSilence() *silence { return &silence{} }

func (s *silence) params() media.AudioParams { return silenceParams() }

// until returns the silent frames due up to ts.
func (s *silence) until(ts time.Duration) []media.Unit {
	if !s.began {
		s.began, s.next = true, ts
	}
	step := media.AACFrameDuration(s.params().SampleRate)
	var out []media.Unit
	for s.next <= ts {
		out = append(out, media.Unit{Codec: media.CodecAAC, DTS: s.next, PTS: s.next, Key: true, Payload: silenceFrame()})
		s.next += step
	}
	return out
}
