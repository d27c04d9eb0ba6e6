package ffmpegpath

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/rtmp"
)

// A publish taken back at ffmpeg's first video frame, with credentials in
// the target, is L3 publish_refused; the same with frames muxed before the
// reset (a server that judged a frame), or without credentials, stays L5.
func TestRefusedAtFirstFrame(t *testing.T) {
	const sample = "/work/main/media/sample/sample.flv"
	tests := []struct {
		name, target string
		muxed        string // the video packets muxed, as ffmpeg prints them
		layer        health.Layer
		cause        string
	}{
		{"first_frame_with_sign", "rtmp://127.0.0.1:19350/live/cam?sign=1700000000-0123abcd", "1", health.LayerPublish, rtmp.CausePublishRefused},
		{"first_frame_bilibili", "rtmp://127.0.0.1:19350/live-bvc/?streamname=cam&key=0123abcd", "1", health.LayerPublish, rtmp.CausePublishRefused},
		{"seventh_frame_with_sign", "rtmp://127.0.0.1:19350/live/cam?sign=1700000000-0123abcd", "7", health.LayerMedia, "reset_after_first_frame"},
		{"first_frame_no_query", "rtmp://127.0.0.1:19350/live/cam", "1", health.LayerMedia, "reset_after_first_frame"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := loadCapture(t, "l5_reset_after_first_frame", sample, tc.target)
			for i, l := range e.Lines {
				e.Lines[i].Msg = strings.Replace(l.Msg, "(video): 7 packets muxed", "(video): "+tc.muxed+" packets muxed", 1)
			}
			v := Classify(e)
			require.True(t, v.Layer == tc.layer && v.Cause == tc.cause, "got %v, want %s %s", v, tc.layer, tc.cause)
			if tc.layer == health.LayerPublish {
				require.Contains(t, v.Detail, "authentication", "the verdict does not name authentication: %v", v)
			}
			require.NotContains(t, v.Error(), "0123abcd", "a secret in the verdict")
		})
	}
}
