// Package nativepath is fmspush's pure-Go path: it ingests the source itself
// (builtin sample, FLV file, RTSP camera, RTMP pull), keeps the last GOP, and
// publishes through rtmp.Publisher with FMS-compatible settings. It
// implements the supervisor's Path interface without importing it.
package nativepath

import (
	"context"
	"fmt"
	"time"

	"github.com/fmspush/fmspush/media"
)

// Sink receives what a source produces, in order, from one goroutine.
type Sink interface {
	// SetVideo announces (or changes) the video track's parameters.
	SetVideo(media.VideoParams)
	// SetAudio announces the audio track's parameters.
	SetAudio(media.AudioParams)
	// WriteUnit delivers one access unit. Timestamps are the source's own:
	// they may restart at zero when the source reconnects.
	WriteUnit(media.Unit)
}

// Source is a camera or a file. Run delivers into sink until ctx ends (nil)
// or the source fails (an error saying why, already redacted).
type Source interface {
	Run(ctx context.Context, sink Sink) error
}

// clipSource replays an in-memory FLV clip forever, paced at real time, with
// timestamps that continue across loops.
type clipSource struct {
	clip *media.Clip
	// now and sleep are the clock; tests and benchmarks may replace them.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

func newClipSource(c *media.Clip) *clipSource {
	return &clipSource{clip: c, now: time.Now, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run implements Source.
func (s *clipSource) Run(ctx context.Context, sink Sink) error {
	c := s.clip
	if c.Video != nil {
		sink.SetVideo(*c.Video)
	}
	if c.Audio != nil {
		sink.SetAudio(*c.Audio)
	}
	if len(c.Units) == 0 {
		return fmt.Errorf("the clip has no media")
	}
	loopSpan := c.Span()
	start := s.now()
	first := c.Units[0].DTS
	for loop := time.Duration(0); ; loop += loopSpan {
		for _, u := range c.Units {
			u.DTS += loop - first
			u.PTS += loop - first
			if err := s.sleep(ctx, u.DTS-s.now().Sub(start)); err != nil {
				return nil
			}
			sink.WriteUnit(u)
		}
	}
}
