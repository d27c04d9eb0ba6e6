package interop_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/internal/testpeer"
)

// go2rtcPlayable is how long after a publish began the tests trust
// go2rtc's RTMP playback of it: short of the 42 s after which its
// timestamps break.
const go2rtcPlayable = 40 * time.Second

// go2rtc v1.9.9's RTMP playback breaks its timestamps 42-48 s after a
// publish began, whoever publishes: here plain ffmpeg (`-re -c copy` of the
// sample, no fmspush code), played back by ffprobe for 55 s. The video DTS
// jump about 3h56m ahead, then back to near 0, and ffprobe reports "DTS …
// out of order". A likely cause: go2rtc's FLV reader turns FLV milliseconds
// into RTP ticks in uint32 (pkg/flv/producer.go, TimeToRTP: timeMS *
// clockRate / 1000), which overflows at 47.7 s for 90 kHz video. The other
// tests play go2rtc for the first go2rtcPlayable of a publish only. When a
// go2rtc release fixes it, this test fails: drop checks.playable and the
// note in docs/compatibility.md.
func TestGo2RTCPlaybackTimestampsBreak(t *testing.T) {
	t.Parallel()
	testpeer.Need(t, "ffmpeg")
	s := testpeer.StartGo2RTCStreams(t, "plain")
	testpeer.PublishSample(t, s.PublishURL("plain"))
	began := time.Now()

	pb := play(t, s, "plain", 55*time.Second)
	// play returns when ffprobe exits: its start was pb.wall before now.
	started := time.Since(began) - pb.wall
	var broke time.Duration
	for i := 1; i < len(pb.video); i++ {
		step := pb.video[i].dts - pb.video[i-1].dts
		if step < 0 || step > time.Second {
			at := started + pb.video[i].at
			t.Logf("go2rtc playback: video DTS %v → %v, printed %v after the publish began", pb.video[i-1].dts, pb.video[i].dts, at.Round(time.Millisecond))
			if broke == 0 {
				broke = at
			}
		}
	}
	require.NotZero(t, broke, "go2rtc's playback timestamps did not break in 55 s: a fixed release? (see the test's doc)")
	require.Greater(t, broke, go2rtcPlayable, "the break came before go2rtcPlayable")
}
