package httpapi

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fullStatus is a snapshot with every field the collector reads set: two
// targets of one stream (one on its backup ingest) and a single-target
// stream that waits for its source.
func fullStatus() health.ServiceStatus {
	v := health.NewVerdict(health.LayerMedia, "reset_after_first_frame", "reset by rtmp://ingest.example/live/SECRETKEY")
	v.Path = "native"
	probe := &health.ProbeSummary{At: t0, OK: true, Depth: health.LayerPublish, Duration: 250 * time.Millisecond}
	live := health.StreamStatus{Name: "cam", TargetName: "main", Enabled: true, State: health.StateCongested,
		Source: "rtsp://user:pw@camera/stream", Target: "rtmp://ingest.example/live/SECRETKEY", Preferred: "native",
		Ingest: "backup", ActivePath: "ffmpeg", ActiveSince: t0, LiveSince: t0.Add(2 * time.Second), StartedAt: t0.Add(-time.Hour),
		SourceStatus: "ok",
		Paths: []health.PathStatus{
			{Kind: "native", Ready: true, Circuit: "open", Backoff: 8 * time.Second, LastProbe: probe, LastVerdict: v, Failures: 3},
			{Kind: "ffmpeg", Active: true, Ready: true, Circuit: "closed", LastProbe: &health.ProbeSummary{OK: false, Duration: time.Second}},
		},
		Delivery: &health.Delivery{LagMillis: 1500, UnackedMillis: 12000, ThroughputBps: 2e6, NeededBps: 4e6, Congested: true},
		Counters: health.Counters{Failovers: 2, Failbacks: 1, Reconnects: 4, Attempts: 5, BytesSent: 1000, FramesSent: 30,
			BytesAcked: 900, DroppedFrames: 7, NameLockRetries: 1},
		Failovers: []health.Failover{{From: "native", To: "ffmpeg", Layer: health.LayerMedia, Count: 2},
			{From: "ffmpeg", To: "ffmpeg@backup", Layer: health.LayerNetwork, Count: 1}},
		VerdictCounts: []health.VerdictCount{{Path: "native", Layer: health.LayerMedia, Cause: "reset_after_first_frame", Count: 2},
			{Path: "ffmpeg", Layer: health.LayerUpkeep, Cause: health.CauseStalled, Count: 1}},
		LastVerdicts: []health.Verdict{*v}, LastError: v.Error()}
	other := live
	other.TargetName, other.Ingest, other.State = "extra", "primary", health.StateLive
	waiting := health.StreamStatus{Name: "door", Enabled: true, State: health.StateWaitingForSource, SourceStatus: "down",
		StartedAt: t0, Paths: []health.PathStatus{{Kind: "native", Circuit: "half_open"}}}
	return health.ServiceStatus{Version: "1.2.3", Started: t0.Add(-2 * time.Hour), Streams: []health.StreamStatus{live, other, waiting},
		Config: health.ConfigStatus{Path: "config.hcl", LoadedAt: t0, LastError: "config.hcl:3:1: bad", ErrorAt: t0.Add(time.Minute),
			Reloads: 4, ReloadFailures: 2}}
}

// gather collects src's metrics at now.
func gather(t *testing.T, src StatusSource, now time.Time) map[string]bool {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&collector{source: src, now: func() time.Time { return now }})
	fams, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	return names
}

func TestEveryMetricIsCollectedFromAFullStatus(t *testing.T) {
	names := gather(t, staticSource(fullStatus()), t0.Add(time.Minute))
	ch := make(chan *prometheus.Desc, len(allDescs))
	(&collector{}).Describe(ch)
	close(ch)
	for d := range ch {
		name := regexp.MustCompile(`fqName: "([a-z_]+)"`).FindStringSubmatch(d.String())[1]
		require.True(t, names[name], "%s is described but not collected from a full status", name)
	}
	require.Len(t, names, len(allDescs))
}

func TestMetricsOfAFullStatus(t *testing.T) {
	src := staticSource(fullStatus())
	rec := serveMetricsAt(t, src, t0.Add(time.Minute))
	for _, line := range []string{
		`fmspush_build_info{version="1.2.3"} 1`,
		`fmspush_config_last_reload_success 0`,
		`fmspush_config_reloads_total{result="success"} 4`,
		`fmspush_config_reloads_total{result="failure"} 2`,
		`fmspush_verdicts_total{cause="reset_after_first_frame",layer="L5",path="native",stream="cam",target="main"} 2`,
		`fmspush_verdicts_total{cause="stalled",layer="L4",path="ffmpeg",stream="cam",target="main"} 1`,
		`fmspush_failovers_total{from="native",layer="L5",stream="cam",target="main",to="ffmpeg"} 2`,
		`fmspush_stream_failovers_total{stream="cam",target="main"} 2`,
		`fmspush_failbacks_total{stream="cam",target="main"} 1`,
		`fmspush_circuit_state{path="native",stream="cam",target="main"} 2`,
		`fmspush_circuit_state{path="ffmpeg",stream="cam",target="main"} 0`,
		`fmspush_circuit_state{path="native",stream="door",target=""} 1`,
		`fmspush_source_up{stream="cam",target="main"} 1`,
		`fmspush_source_up{stream="door",target=""} 0`,
		`fmspush_stream_state{state="congested",stream="cam",target="main"} 1`,
		`fmspush_stream_state{state="live",stream="cam",target="main"} 0`,
		`fmspush_stream_state{state="waiting_for_source",stream="door",target=""} 1`,
		`fmspush_stream_live_seconds{stream="cam",target="main"} 58`,
		`fmspush_stream_live_seconds{stream="door",target=""} 0`,
		`fmspush_backup_ingest_active{stream="cam",target="main"} 1`,
		`fmspush_backup_ingest_active{stream="cam",target="extra"} 0`,
		`fmspush_path_backoff_seconds{path="native",stream="cam",target="main"} 8`,
		`fmspush_path_failures_total{path="native",stream="cam",target="main"} 3`,
		`fmspush_probe_ok{path="ffmpeg",stream="cam",target="main"} 0`,
		`fmspush_delivery_unacked_seconds{path="ffmpeg",stream="cam",target="main"} 12`,
		`fmspush_delivery_congested{path="ffmpeg",stream="cam",target="main"} 1`,
		`fmspush_last_verdict_layer{path="native",stream="cam",target="main"} 6`,
		`fmspush_stream_up{stream="door",target=""} 0`,
	} {
		require.Contains(t, rec, line+"\n")
	}
	require.NotContains(t, rec, `fmspush_backup_ingest_active{stream="door"`, "no ingest series for a target without a backup")
	require.NotContains(t, rec, `fmspush_stream_live_since_timestamp_seconds{stream="door"`, "no live-since while not live")
	for _, secret := range []string{"SECRETKEY", "rtmp://", "rtsp://", "pw@", "ingest.example", "config.hcl"} {
		require.NotContains(t, rec, secret, "a label carries text from a URL or a message")
	}
}

// serveMetricsAt renders /metrics for src with the collector's clock at now.
func serveMetricsAt(t *testing.T, src StatusSource, now time.Time) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&collector{source: src, now: func() time.Time { return now }})
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return rec.Body.String()
}
