package fmsim

import (
	"context"
	"testing"
	"time"

	"github.com/fmspush/fmspush/rtmp"

	"github.com/stretchr/testify/require"
)

// publishSample publishes d of the sample with the rtmp package's Publisher,
// paced at real time, then closes it cleanly.
func publishSample(t *testing.T, target string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := rtmp.Dial(ctx, target, rtmp.PublishOptions{})
	require.NoError(t, err)
	start := time.Now()
	for _, tag := range loadSample(t) {
		at := time.Duration(tag.ts) * time.Millisecond
		if at > d {
			break
		}
		if wait := at - time.Since(start); wait > 0 {
			time.Sleep(wait) // pacing a real-time publish, not waiting for a condition
		}
		require.NoError(t, p.WriteTag(tag.typ, tag.ts, tag.data))
	}
	require.NoError(t, p.Close())
}

// TestRTMPPublisherPassesEveryProfile: fmspush's own publisher (package rtmp)
// passes the three profiles with every rule on, and in companion its
// transcript is compared with ffmpeg's (the divergence is logged).
func TestRTMPPublisherPassesEveryProfile(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t"
	for _, tc := range []struct {
		profile string
		rules   []string
		name    string
	}{
		{ProfileLenient, nil, "plain"},
		{ProfileCloud, []string{"auth_secret=" + secret, "ack_timeout=2s", "ping_interval=200ms", "ping_timeout=2s"},
			SignedName(secret, "cam", time.Now().Add(time.Hour))},
		{ProfileCompanion, nil, "companion"},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, tc.profile, tc.rules...)
			publishSample(t, s.URL("live", tc.name), 2*time.Second)
			info := waitEnded(t, s, 1, 5*time.Second)
			requireSampleReceived(t, info, 2)
			require.Equal(t, "unpublished", info.Verdict.Cause, "Close sends FCUnpublish/deleteStream")
			if tc.profile == ProfileCloud {
				require.Positive(t, info.AcksReceived)
				require.Positive(t, info.PingResponses)
			}
			if tc.profile != ProfileCompanion {
				return
			}
			out, err := runFFmpeg(t, s.URL("live", tc.name), 1)
			require.NoError(t, err, "ffmpeg: %s", out)
			ff := waitEnded(t, s, 2, 10*time.Second)
			t.Logf("fmspush diff ffmpeg.jsonl native.jsonl:\n%s", diffFiles(t, ff.Transcript, info.Transcript))
		})
	}
}
