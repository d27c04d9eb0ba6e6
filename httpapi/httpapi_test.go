package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/stretchr/testify/require"
)

type staticSource health.ServiceStatus

func (s staticSource) Snapshot() health.ServiceStatus { return health.ServiceStatus(s) }

func serve(t *testing.T, src StatusSource, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	(&API{Source: src}).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func congestedStream() health.StreamStatus {
	return health.StreamStatus{Name: "cam", Enabled: true, State: health.StateCongested, ActivePath: "native",
		Reason: "uplink takes 2.4 Mbit/s of the 4.0 Mbit/s the stream needs; dropping frames to keep the delay under 2 s",
		Paths:  []health.PathStatus{{Kind: "native", Active: true, DroppedFrames: 9}, {Kind: "ffmpeg"}},
		Delivery: &health.Delivery{LagMillis: 1800, BytesAcked: 5000, DroppedFrames: 9, ThroughputBps: 2_400_000,
			NeededBps: 4_000_000, UnackedMillis: 0, Congested: true},
		Counters: health.Counters{BytesAcked: 5000, DroppedFrames: 9, NameLockRetries: 3}}
}

func TestHealthzCongestedIsHealthyWithAWarning(t *testing.T) {
	code, body := serve(t, staticSource{Streams: []health.StreamStatus{congestedStream()}}, "/healthz")
	require.Equal(t, http.StatusOK, code, body)
	var rep HealthReport
	require.NoError(t, json.Unmarshal([]byte(body), &rep))
	require.True(t, rep.Healthy)
	require.Empty(t, rep.Unhealthy)
	require.Equal(t, []UnhealthyItem{{Stream: "cam", State: health.StateCongested, Reason: congestedStream().Reason}}, rep.Warnings)
}

func TestHealthzNameLockedAndFailingOverAreUnhealthy(t *testing.T) {
	for _, st := range []health.State{health.StateNameLocked, health.StateFailingOver} {
		src := staticSource{Streams: []health.StreamStatus{congestedStream(), {Name: "b", State: st, Reason: "why"}}}
		code, body := serve(t, src, "/healthz")
		require.Equal(t, http.StatusServiceUnavailable, code, body)
		var rep HealthReport
		require.NoError(t, json.Unmarshal([]byte(body), &rep))
		require.False(t, rep.Healthy)
		require.Equal(t, []UnhealthyItem{{Stream: "b", State: st, Reason: "why"}}, rep.Unhealthy)
		require.Len(t, rep.Warnings, 1)
	}
}

func TestStreamJSONHasDelivery(t *testing.T) {
	code, body := serve(t, staticSource{Streams: []health.StreamStatus{congestedStream()}}, "/v1/streams/cam")
	require.Equal(t, http.StatusOK, code)
	var m struct {
		Delivery map[string]any `json:"delivery"`
		Counters map[string]any `json:"counters"`
		Paths    []map[string]any
	}
	require.NoError(t, json.Unmarshal([]byte(body), &m))
	require.Equal(t, map[string]any{"lag_ms": 1800.0, "bytes_acked": 5000.0, "dropped_frames": 9.0, "throughput_bps": 2.4e6,
		"needed_bps": 4e6, "unacked_for_ms": 0.0, "congested": true, "lag": "1.8s", "unacked_for": "0s"}, m.Delivery)
	require.Equal(t, 3.0, m.Counters["name_lock_retries"])
	require.Equal(t, 9.0, m.Paths[0]["dropped_frames"])
}

func TestMetricsHaveDeliverySeries(t *testing.T) {
	idle := health.StreamStatus{Name: "idle", State: health.StateIdle}
	code, body := serve(t, staticSource{Streams: []health.StreamStatus{congestedStream(), idle}}, "/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, line := range []string{
		`fmspush_delivery_lag_seconds{path="native",stream="cam",target=""} 1.8`,
		`fmspush_throughput_bits_per_second{path="native",stream="cam",target=""} 2.4e+06`,
		`fmspush_needed_bits_per_second{path="native",stream="cam",target=""} 4e+06`,
		`fmspush_bytes_acked_total{stream="cam",target=""} 5000`,
		`fmspush_dropped_frames_total{stream="cam",target=""} 9`,
		`fmspush_name_lock_retries_total{stream="cam",target=""} 3`,
		`fmspush_stream_up{stream="cam",target=""} 1`,
		`fmspush_bytes_sent_total{stream="cam",target=""} 0`,
		`fmspush_name_lock_retries_total{stream="idle",target=""} 0`,
	} {
		require.Contains(t, body, line)
	}
	require.NotContains(t, body, `fmspush_delivery_lag_seconds{path="native",stream="idle",target=""}`, "no gauge without a session")
}

// /v1/fleet serves the fleet's status, 404 without one; a push another
// node runs is healthy and has no metrics series here.
func TestFleetStatus(t *testing.T) {
	code, _ := serve(t, staticSource{}, "/v1/fleet")
	require.Equal(t, http.StatusNotFound, code)
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	src := staticSource{
		Streams: []health.StreamStatus{{Name: "cam", State: health.StateElsewhere, Owner: "b"}},
		Fleet: &health.FleetStatus{Node: "a", State: "member", Nodes: []health.FleetNode{{Name: "a", Since: since}, {Name: "b", Since: since}},
			Owners: []health.FleetOwner{{ID: "cam", Node: "b", Since: since}}},
	}
	code, body := serve(t, src, "/v1/fleet")
	require.Equal(t, http.StatusOK, code)
	var f health.FleetStatus
	require.NoError(t, json.Unmarshal([]byte(body), &f))
	require.Equal(t, *src.Fleet, f)
	code, _ = serve(t, src, "/healthz")
	require.Equal(t, http.StatusOK, code, "a push run elsewhere is healthy here")
	_, body = serve(t, src, "/metrics")
	require.NotContains(t, body, `stream="cam"`, "no series for a push run elsewhere")
}
