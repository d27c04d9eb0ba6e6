package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// native.reconnect_request reaches the path: by default the native publish
// advertises Enhanced RTMP v2's reconnect (capsEx) and the emulator asks it
// to reconnect; with `reconnect_request = false` it advertises nothing and
// the emulator withholds its request.
func TestReconnectRequestSetting(t *testing.T) {
	for _, follow := range []bool{true, false} {
		name := "default"
		if !follow {
			name = "off"
		}
		t.Run(name, func(t *testing.T) {
			cfg := failoverConfig("lenient", map[string]string{"reconnect_request_after": "1s"}, "native", "")
			if !follow {
				cfg = strings.Replace(cfg, "  native {\n", "  native {\n    reconnect_request = false\n", 1)
			}
			r := startService(t, cfg)
			testpeer.Eventually(t, 30*time.Second, "live on native", liveOn(r, "native"))
			published := func() []fmsim.SessionInfo {
				var out []fmsim.SessionInfo
				for _, ss := range r.emu().Sessions() {
					if ss.Published() && ss.VideoFrames > 0 {
						out = append(out, ss)
					}
				}
				return out
			}
			if !follow {
				testpeer.Eventually(t, 15*time.Second, "the emulator's request withheld", func() bool {
					ss := published()
					return len(ss) > 0 && ss[0].ReconnectWithheld
				})
				ss := published()
				require.False(t, ss[0].ReconnectCapable, "capsEx reconnect bit in connect")
				require.Len(t, ss, 1, "the publish moved")
				return
			}
			testpeer.Eventually(t, 15*time.Second, "the publish moved to a new session", func() bool {
				return len(published()) >= 2
			})
			ss := published()
			require.True(t, ss[0].ReconnectCapable, "capsEx reconnect bit in connect")
			require.False(t, ss[0].ReconnectWithheld)
		})
	}
}
