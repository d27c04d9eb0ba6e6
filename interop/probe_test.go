package interop_test

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/nativepath"
	"github.com/fmspush/fmspush/prober"
	"github.com/fmspush/fmspush/rtmp"
)

// probeFacts is what the layered probe finds out about a server: what it is
// strict and lenient about. docs/compatibility.md states them per server.
type probeFacts struct {
	// serverDigest: its S1 carries a valid server digest (FMS style).
	serverDigest bool
	// simpleHandshake: it also accepts a simple handshake (C1 version 0):
	// the client's digest is not required.
	simpleHandshake bool
	// otherFlashVer: it also accepts a non-FMLE flashVer (LNX 9,0,124,2).
	otherFlashVer bool
	// window is the Window Acknowledgement Size it announces (0: none).
	window uint32
	// acks: it acknowledges at the publisher's window (16 KiB, the native
	// path's), so that the native path's stall detection is exact.
	acks bool
}

// wantProbe are the facts each server shows, pinned: a server release that
// changes one fails here, and the doc must follow.
var wantProbe = map[string]probeFacts{
	"nginx":  {serverDigest: true, simpleHandshake: true, otherFlashVer: true, window: 5000000, acks: true},
	"lal":    {serverDigest: true, simpleHandshake: true, otherFlashVer: true, window: 5000000},
	"go2rtc": {simpleHandshake: true, otherFlashVer: true},
	"nms":    {serverDigest: true, simpleHandshake: true, otherFlashVer: true, window: 5000000},
}

var (
	windowRe = regexp.MustCompile(`acking the server's window \((\d+)\)`)
	acksRe   = regexp.MustCompile(`it sent (\d+) acks`)
)

// The layered probe (what `fmspush probe -media` runs), asking for acks at
// the native path's window, against each server: every layer L0-L5 passes
// with media sent for 2 s, the key never shows in the report, and what it
// finds (digest, flashVer, window, acks) is wantProbe.
func TestProbeServers(t *testing.T) {
	t.Parallel()
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			// AppURL is the application of the first stream name (go2rtc's
			// stream is its application): the key is the stream name.
			s := srv.start(t, "probe")
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			res, err := prober.Probe(ctx, s.AppURL+"/probekey", prober.Options{Media: true, MediaDuration: 2 * time.Second,
				Session: rtmp.PublishOptions{AckWindow: nativepath.DefaultAckWindow}})
			require.NoError(t, err)
			t.Logf("%s:\n%s", s.Name, res.String())
			require.True(t, res.OK(), "probe of %s: %s", s.Name, res.String())
			for _, l := range []health.Layer{health.LayerNetwork, health.LayerHandshake, health.LayerConnect,
				health.LayerPublish, health.LayerUpkeep, health.LayerMedia} {
				lr := res.Layer(l)
				require.NotNil(t, lr, "%s missing", l)
				require.Equal(t, prober.StatusOK, lr.Status, "%s at %s: %+v", s.Name, l, lr)
			}
			require.NotContains(t, res.String(), "probekey")

			var got probeFacts
			got.serverDigest = strings.Contains(res.Layer(health.LayerHandshake).Server, "S1 with a valid server digest")
			findings := strings.Join(res.Findings, "\n")
			got.simpleHandshake = strings.Contains(findings, "server also accepts simple handshake")
			got.otherFlashVer = strings.Contains(findings, "server also accepts flashVer "+prober.AltFlashVer)
			up := res.Layer(health.LayerUpkeep)
			m := windowRe.FindStringSubmatch(up.Tried)
			require.NotNil(t, m, "no window in %q", up.Tried)
			w, _ := strconv.ParseUint(m[1], 10, 32)
			got.window = uint32(w)
			m = acksRe.FindStringSubmatch(up.Server)
			require.NotNil(t, m, "no ack count in %q", up.Server)
			got.acks = m[1] != "0"
			t.Logf("%s: %+v", s.Name, got)
			require.Equal(t, wantProbe[srv.name], got, "what the probe finds about %s", s.Name)
		})
	}
}
