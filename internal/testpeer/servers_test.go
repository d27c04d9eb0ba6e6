package testpeer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestServersStartAndRelay starts each independent server, publishes the
// sample to it with ffmpeg and plays it back: the harness itself works,
// whatever fmspush does.
func TestServersStartAndRelay(t *testing.T) {
	for name, start := range map[string]func(testing.TB) *Server{
		"lal": StartLal, "go2rtc": StartGo2RTC, "nms": StartNMS,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := start(t)
			require.Less(t, s.Started, 3*time.Second, "%s started slowly", s.Name)
			PublishSample(t, s.AppURL+"/relay")
			p := s.Capture(t, "relay", 2*time.Second)
			require.NotNil(t, p.Video(), "no video played back from %s", s.Name)
			require.Equal(t, "h264", p.Video().CodecName)
			require.Equal(t, 640, p.Video().Width)
			require.Equal(t, 360, p.Video().Height)
			require.NotNil(t, p.Audio(), "no audio played back from %s", s.Name)
			require.Equal(t, "aac", p.Audio().CodecName)
		})
	}
}
