package interop_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// The layered probe (what `fmspush probe -media` runs) against each server
// built by other people: every layer L0-L5 passes, with media sent for 2 s.
func TestProbeIndependentServers(t *testing.T) {
	for name, start := range map[string]func(testing.TB) *testpeer.Server{
		"lal": testpeer.StartLal, "go2rtc": testpeer.StartGo2RTC, "nms": testpeer.StartNMS,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := start(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := health.Probe(ctx, srv.AppURL+"/probekey", health.ProbeOptions{Media: true, MediaDuration: 2 * time.Second})
			require.NoError(t, err)
			t.Log(res.String())
			require.True(t, res.OK(), "probe of %s: %s", name, res.String())
			for _, l := range []health.Layer{health.LayerNetwork, health.LayerHandshake, health.LayerConnect,
				health.LayerPublish, health.LayerUpkeep, health.LayerMedia} {
				lr := res.Layer(l)
				require.NotNil(t, lr, "%s missing", l)
				require.Equal(t, health.StatusOK, lr.Status, "%s at %s: %+v", name, l, lr)
			}
			require.NotContains(t, res.String(), "probekey")
		})
	}
}
