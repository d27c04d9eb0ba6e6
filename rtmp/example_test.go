package rtmp_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/media/sample"
	"github.com/fmspush/fmspush/rtmp"
)

// Publishing media.Units the way the native path does: Dial walks L0-L3,
// then metadata, sequence headers and frames; every failure is an
// *rtmp.Error with its layer and timings.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := rtmp.Dial(ctx, "rtmp://127.0.0.1:1935/live/streamkey?wsSecret=abc&wsTime=1", rtmp.PublishOptions{})
	if err != nil {
		var re *rtmp.Error
		if errors.As(err, &re) {
			log.Printf("failed at %s (%s) after %v", re.Layer, re.Cause, re.SinceDial)
		}
		return
	}
	defer p.Close()
	clip, err := sample.Clip()
	if err != nil {
		return
	}
	p.WriteMetadata(media.MetadataFor(clip.Video, clip.Audio, media.HEVCEnhanced))
	p.WriteVideoConfig(*clip.Video, 0)
	p.WriteAudioConfig(*clip.Audio, 0)
	for _, u := range clip.Units {
		if err := p.WriteUnit(u); err != nil {
			log.Print(err) // e.g. "L5 media: reset_after_first_frame: ..."
			return
		}
	}
}
