package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// With an auth block, every connection carries a fresh signature: after
// the first one has expired (ttl 2 s), a reconnect is accepted by the
// emulator's token check, on either path. No key or signature shows in
// status or logs.
func TestSignedTargetReconnectsAfterTheTTL(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	const key = "SIGNKEY123"
	for _, prefer := range []string{"native", "ffmpeg"} {
		t.Run(prefer, func(t *testing.T) {
			cfg := failoverConfig("cloud", map[string]string{"auth_secret": key}, prefer, "")
			cfg = strings.Replace(cfg, `  target = "emulator://live/s"`+"\n",
				`  target = "emulator://live/s"`+"\n  auth {\n    scheme = \"tencent\"\n    key = \""+key+"\"\n    ttl = \"2s\"\n  }\n", 1)
			r := startService(t, cfg)
			testpeer.Eventually(t, 30*time.Second, "live on "+prefer, liveOn(r, prefer))
			first := r.emu().Sessions()
			require.NotEmpty(t, first)
			publishedAt := first[len(first)-1].PublishedAt
			testpeer.Eventually(t, 10*time.Second, "the first signature expired", func() bool {
				return time.Since(publishedAt) > 3*time.Second
			})
			before := len(r.emu().Sessions())
			require.Positive(t, r.emu().Reset(nil), "no live session to reset")
			testpeer.Eventually(t, 30*time.Second, "a new session publishing", func() bool {
				for _, ss := range r.emu().Sessions()[before:] {
					if ss.Published() && ss.VideoFrames > 10 {
						return true
					}
				}
				return false
			})
			testpeer.Eventually(t, 30*time.Second, "live again", func() bool { return r.stream().State == health.StateLive })
			_, _, status := r.get("/v1/streams")
			signature := regexp.MustCompile(`txSecret=[0-9a-f]{32}`)
			for _, text := range []string{string(status), r.logs.String()} {
				require.NotContains(t, text, key)
				require.False(t, signature.MatchString(text), "a signature shows: %s", signature.FindString(text))
			}
		})
	}
}
