package prober_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/prober"
	"github.com/fmspush/fmspush/rtmp"
	"github.com/fmspush/fmspush/signurl"
)

const signKey = "pr0beSignKey"

// resultText is everything a probe result shows: its text and its JSON.
func resultText(t *testing.T, res *prober.Result) string {
	t.Helper()
	b, err := json.Marshal(res)
	require.NoError(t, err)
	return res.String() + string(b)
}

// TestProbeSignsEveryProbe: with Options.Sign and a 2 s ttl a probe
// publishes, and so does one made after the first probe's signature
// expired (the emulator refuses that signature by then).
func TestProbeSignsEveryProbe(t *testing.T) {
	noLeaks(t)
	for _, sc := range testpeer.SignSchemes {
		t.Run(sc.Scheme, func(t *testing.T) {
			sim := startSim(t, fmsim.ProfileLenient, sc.Rule+"="+signKey)
			auth := &signurl.Auth{Scheme: sc.Scheme, Key: signKey, TTL: 2 * time.Second}
			url := sim.URL("live", "cam")
			res := probe(t, url, prober.Options{Publish: true, Sign: auth, NoBisect: true})
			require.True(t, res.OK(), "%s", res)
			wantStatuses(t, res, "ok", "ok", "ok", "ok")
			first, err := auth.Sign(url, time.Now()) // expires no sooner than the probe's
			require.NoError(t, err)

			testpeer.Eventually(t, 10*time.Second, "the first signature expired", func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				pub, err := rtmp.Dial(ctx, first, rtmp.PublishOptions{})
				if err == nil {
					pub.Close()
					return false
				}
				return strings.Contains(err.Error(), "expired")
			})
			res = probe(t, url, prober.Options{Publish: true, Sign: auth, NoBisect: true})
			require.True(t, res.OK(), "a probe after the ttl did not sign afresh:\n%s", res)
			for _, v := range testpeer.SignatureValues(t, first) {
				require.NotContains(t, resultText(t, res), v)
			}
		})
	}
}

// TestProbeExpiredSignatureIsL3: a URL pasted with an expired signature
// (no Sign) fails the probe at L3, naming the expiry, and the result shows
// none of the signature's values.
func TestProbeExpiredSignatureIsL3(t *testing.T) {
	noLeaks(t)
	for _, sc := range testpeer.SignSchemes {
		t.Run(sc.Scheme, func(t *testing.T) {
			sim := startSim(t, fmsim.ProfileLenient, sc.Rule+"="+signKey)
			expired, err := signurl.Auth{Scheme: sc.Scheme, Key: signKey, TTL: time.Minute}.Sign(sim.URL("live", "cam"), time.Now().Add(-time.Hour))
			require.NoError(t, err)
			res := probe(t, expired, prober.Options{Publish: true})
			t.Log("\n" + res.String())
			require.NotNil(t, res.Verdict)
			require.Equal(t, health.LayerPublish, res.Verdict.Layer)
			require.Contains(t, res.Verdict.Error(), "expired")
			for _, v := range testpeer.SignatureValues(t, expired) {
				require.NotContains(t, resultText(t, res), v)
			}
		})
	}
}

func TestProbeRefusesAnUnsignableURL(t *testing.T) {
	_, err := prober.Probe(context.Background(), "rtmp://127.0.0.1:1/live", prober.Options{Sign: &signurl.Auth{Scheme: "tencent", Key: "k"}})
	require.ErrorIs(t, err, signurl.ErrNoStream)
}
