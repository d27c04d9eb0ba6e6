package prober_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/fmsim/fmsimtest"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/prober"
	"github.com/fmspush/fmspush/rtmp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// noLeaks checks, after every cleanup of the test, that the test left no goroutine behind.
func noLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

func probe(t testing.TB, url string, opts prober.Options) *prober.Result {
	t.Helper()
	res, err := prober.Probe(context.Background(), url, opts)
	require.NoError(t, err, "probe")
	return res
}

func startSim(t *testing.T, profile string, rules ...string) *fmsim.Server {
	t.Helper()
	return fmsimtest.StartEmulator(t, &fmsim.Server{Profile: profile, Rules: rules})
}

func wantStatuses(t *testing.T, res *prober.Result, want ...string) {
	t.Helper()
	for i, w := range want {
		require.Equal(t, w, res.Layers[i].Status, "%s: status\n%s", res.Layers[i].Layer, res)
	}
}

func wantFinding(t *testing.T, res *prober.Result, substr string) {
	t.Helper()
	for _, f := range res.Findings {
		if strings.Contains(f, substr) {
			return
		}
	}
	require.Failf(t, "no finding", "no finding containing %q\n%s", substr, res)
}

// nginx-rtmp passes every layer, media included; the bisection learns that
// it takes both handshakes and any flashVer.
func TestProbeNginxAllOK(t *testing.T) {
	noLeaks(t)
	ng := testpeer.StartNginx(t)
	res := probe(t, ng.AppURL+"/probe?token=SECRET", prober.Options{Media: true, MediaDuration: 1500 * time.Millisecond})
	t.Log("\n" + res.String())
	require.True(t, res.OK(), "not ok:\n%s", res)
	wantStatuses(t, res, "ok", "ok", "ok", "ok", "ok", "ok")
	wantFinding(t, res, "server also accepts simple handshake")
	wantFinding(t, res, "server also accepts flashVer LNX")
	require.NotContains(t, res.String(), "SECRET", "secret in output")
}

// Without Publish the probe stops after connect: the emulator sees no publish
// in any of the probe's sessions.
func TestProbeWithoutPublishNeverPublishes(t *testing.T) {
	noLeaks(t)
	sim := startSim(t, fmsim.ProfileLenient)
	res := probe(t, sim.URL("live", "livekey"), prober.Options{})
	wantStatuses(t, res, "ok", "ok", "ok", "skipped", "skipped", "skipped")
	testpeer.Eventually(t, 5*time.Second, "probe sessions to end", func() bool {
		ss := sim.Sessions()
		for _, s := range ss {
			if s.EndedAt.IsZero() {
				return false
			}
		}
		return len(ss) == 3
	})
	for _, s := range sim.Sessions() {
		require.True(t, s.PublishedAt.IsZero() && s.StreamName == "", "session %d published", s.ID)
	}
}

// The companion profile needs a digest and an FMLE flashVer: all ok with the
// defaults, and the bisection names both requirements.
func TestProbeCompanion(t *testing.T) {
	noLeaks(t)
	sim := startSim(t, fmsim.ProfileCompanion)
	res := probe(t, sim.URL("live", "key"), prober.Options{Publish: true})
	wantStatuses(t, res, "ok", "ok", "ok", "ok", "skipped", "skipped")
	wantFinding(t, res, "server refuses simple handshake")
	wantFinding(t, res, "server refuses flashVer LNX 9,0,124,2 at L2")
	require.Contains(t, res.Layer(health.LayerPublish).Server, "stream id 7", "L3 server")
}

// Configured with a simple handshake, the companion fails at L1; the probe
// finds that a digest works and walks on with it.
func TestProbeBisectsHandshake(t *testing.T) {
	noLeaks(t)
	sim := startSim(t, fmsim.ProfileCompanion)
	res := probe(t, sim.URL("live", "key"), prober.Options{Session: rtmp.PublishOptions{SimpleHandshake: true}})
	require.True(t, res.Verdict != nil && res.Verdict.Layer == health.LayerHandshake, "want an L1 verdict:\n%s", res)
	wantStatuses(t, res, "ok", "fail", "ok")
	wantFinding(t, res, "digest handshake (C1 09 00 7c 02, scheme A) works")
}

// A flashVer rejected at connect is L2; the other family works.
func TestProbeBisectsFlashVer(t *testing.T) {
	noLeaks(t)
	sim := startSim(t, fmsim.ProfileLenient, "reject_flashver=FMSc")
	res := probe(t, sim.URL("live", "key"), prober.Options{})
	require.True(t, res.Verdict != nil && res.Verdict.Layer == health.LayerConnect && res.Verdict.Cause == "connect_rejected",
		"want an L2 connect_rejected verdict:\n%s", res)
	wantFinding(t, res, "flashVer LNX 9,0,124,2 works")
}

// A RST soon after the first frame is L5, with the time to RST; a close well
// after publish is L4.
func TestProbeMediaFaults(t *testing.T) {
	noLeaks(t)
	sim := startSim(t, fmsim.ProfileLenient, "rst_after_first_frame=100ms")
	res := probe(t, sim.URL("live", "key"), prober.Options{Media: true, MediaDuration: 1500 * time.Millisecond})
	t.Log("\n" + res.String())
	require.True(t, res.Verdict != nil && res.Verdict.Layer == health.LayerMedia, "want an L5 verdict:\n%s", res)
	l5 := res.Layer(health.LayerMedia)
	require.GreaterOrEqual(t, l5.TimeToRST, 100*time.Millisecond, "L5 time to RST %v:\n%s", l5.TimeToRST, res)
	wantFinding(t, res, "without audio also fails")

	sim2 := startSim(t, fmsim.ProfileLenient, "close_after_publish=1500ms")
	res = probe(t, sim2.URL("live", "key"), prober.Options{Media: true, MediaDuration: 3 * time.Second})
	t.Log("\n" + res.String())
	require.True(t, res.Verdict != nil && res.Verdict.Layer == health.LayerUpkeep, "want an L4 verdict:\n%s", res)
	wantStatuses(t, res, "ok", "ok", "ok", "ok", "fail", "ok")
}

// The cloud profile's acks and pings are kept (short timeouts so the test is quick).
func TestProbeCloudUpkeep(t *testing.T) {
	noLeaks(t)
	sim := startSim(t, fmsim.ProfileCloud, "ack_timeout=500ms", "ping_interval=200ms", "ping_timeout=500ms")
	res := probe(t, sim.URL("live", "key"), prober.Options{Media: true, MediaDuration: 1500 * time.Millisecond, NoBisect: true})
	require.True(t, res.OK(), "not ok:\n%s", res)
	wantStatuses(t, res, "ok", "ok", "ok", "ok", "ok", "ok")
}

// BenchmarkProbeL3 is a full L0-L3 probe (with bisection) on loopback
// against nginx-rtmp; the target is well under 100 ms.
func BenchmarkProbeL3(b *testing.B) {
	ng := testpeer.StartNginx(b)
	url := ng.AppURL + "/bench"
	for _, tc := range []struct {
		name string
		opts prober.Options
	}{
		{"bisect", prober.Options{Publish: true}},
		{"nobisect", prober.Options{Publish: true, NoBisect: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if res := probe(b, url, tc.opts); !res.OK() {
					b.Fatalf("not ok:\n%s", res)
				}
			}
		})
	}
}
