package prober

import (
	"context"
	"fmt"
	"time"

	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/media/sample"
	"github.com/fmspush/fmspush/rtmp"
)

// sendSample publishes the embedded sample on sess in real time for d
// (at most one pass of the sample) and returns what it sent and the
// session's error, if it failed meanwhile.
func sendSample(ctx context.Context, sess *rtmp.Publisher, v mediaVariant, d time.Duration) (string, error) {
	clip, err := sample.Clip()
	if err != nil {
		return "", err
	}
	if err := sendHeaders(sess, clip, v); err != nil {
		return "headers", err
	}
	start := time.Now()
	var video, audio int
	for _, u := range clip.Units {
		if u.DTS > d {
			break
		}
		if v.noAudio && !u.Codec.IsVideo() {
			continue
		}
		if err := waitUntil(ctx, sess, start.Add(u.DTS)); err != nil {
			return counts(video, audio), err
		}
		if err := sess.WriteUnit(u); err != nil {
			return counts(video, audio), err
		}
		if u.Codec.IsVideo() {
			video++
		} else {
			audio++
		}
	}
	if err := waitUntil(ctx, sess, start.Add(d)); err != nil {
		return counts(video, audio), err
	}
	return counts(video, audio), sess.Err()
}

func counts(video, audio int) string {
	return fmt.Sprintf("%d video and %d audio frames", video, audio)
}

func sendHeaders(sess *rtmp.Publisher, clip *media.Clip, v mediaVariant) error {
	var a *media.AudioParams
	if !v.noAudio {
		a = clip.Audio
	}
	if v.fullMetadata {
		if err := sess.WriteMetadata(media.MetadataFor(clip.Video, a, media.HEVCEnhanced)); err != nil {
			return err
		}
	} else if err := writeMinimalMetadata(sess, clip.Video); err != nil {
		return err
	}
	if err := sess.WriteVideoConfig(*clip.Video, 0); err != nil {
		return err
	}
	if a != nil {
		return sess.WriteAudioConfig(*a, 0)
	}
	return nil
}

func writeMinimalMetadata(sess *rtmp.Publisher, v *media.VideoParams) error {
	body, err := rtmp.EncodeAMF("onMetaData", rtmp.AMFECMAArray{
		{Key: "width", Value: float64(v.Width)},
		{Key: "height", Value: float64(v.Height)},
		{Key: "framerate", Value: v.FrameRate},
	})
	if err != nil {
		return err
	}
	return sess.WriteTag(rtmp.TypeDataAMF0, 0, body)
}

// waitUntil waits for t, the context, or the session's end (then its error),
// sending the replies (acks, PingResponses) the session queues meanwhile.
func waitUntil(ctx context.Context, sess *rtmp.Publisher, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return sess.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return sess.Err()
		case <-sess.Wake():
			if err := sess.Service(); err != nil {
				return err
			}
		case <-sess.Done():
			return sess.Err()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
