package httpapi

import (
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/prometheus/client_golang/prometheus"
)

// The metrics, all built from a status snapshot at each scrape. Every stream
// series carries the labels stream and target (the target block's name, ""
// for a stream with a single target); path is "ffmpeg" or "native"; layer is
// a health.Layer's short name (L0..L5, source, process, unknown); cause is a
// word of the verdicts' snake_case vocabulary. No label carries a URL, a
// key or a server's words. docs/metrics.md describes them.
var (
	streamLabels = []string{"stream", "target"}
	pathLabels   = []string{"stream", "target", "path"}

	descBuild = prometheus.NewDesc("fmspush_build_info",
		"Always 1; the version label names the running build.", []string{"version"}, nil)
	descStarted = prometheus.NewDesc("fmspush_start_time_seconds",
		"When the service started, in seconds since the Unix epoch.", nil, nil)
	descReloadOK = prometheus.NewDesc("fmspush_config_last_reload_success",
		"1 when the last config reload (or the first load) was applied, 0 when it was refused and the previous config runs on.", nil, nil)
	descReloadAt = prometheus.NewDesc("fmspush_config_last_reload_success_timestamp_seconds",
		"When the running config was applied, in seconds since the Unix epoch.", nil, nil)
	descReloads = prometheus.NewDesc("fmspush_config_reloads_total",
		"Config reloads by result: success (applied) or failure (refused, the previous config kept).", []string{"result"}, nil)

	descUp = prometheus.NewDesc("fmspush_stream_up",
		"1 when the stream is live (or deliberately idle), 0 otherwise.", streamLabels, nil)
	descState = prometheus.NewDesc("fmspush_stream_state",
		"1 for the stream's current state, 0 for every other state.", []string{"stream", "target", "state"}, nil)
	descSourceUp = prometheus.NewDesc("fmspush_source_up",
		"1 while the stream's source gives media (or is not known to be away), 0 while the stream waits for it.", streamLabels, nil)
	descStreamStarted = prometheus.NewDesc("fmspush_stream_started_timestamp_seconds",
		"When the stream's run loop started (unchanged by reloads that do not touch the stream), in seconds since the Unix epoch.", streamLabels, nil)
	descLiveSince = prometheus.NewDesc("fmspush_stream_live_since_timestamp_seconds",
		"When the session publishing now went live, in seconds since the Unix epoch; absent while no session is live.", streamLabels, nil)
	descLiveFor = prometheus.NewDesc("fmspush_stream_live_seconds",
		"How long the session publishing now has been live; 0 while no session is live.", streamLabels, nil)
	descBackupIngest = prometheus.NewDesc("fmspush_backup_ingest_active",
		"1 while a target with a cold backup ingest publishes to the backup; absent for a target without one.", streamLabels, nil)
	descActive = prometheus.NewDesc("fmspush_active_path",
		"1 for the path currently publishing the stream.", pathLabels, nil)
	descFailovers = prometheus.NewDesc("fmspush_failovers_total",
		"Switches from one path to the other (or between a primary and a backup ingest, to=\"<path>@backup\" or \"<path>@primary\"), by the layer that caused them.",
		[]string{"stream", "target", "from", "to", "layer"}, nil)
	descStreamFailovers = prometheus.NewDesc("fmspush_stream_failovers_total",
		"Switches from one path to the other (and moves between a primary and a backup ingest), every layer together; present from the start (0).", streamLabels, nil)
	descFailbacks = prometheus.NewDesc("fmspush_failbacks_total",
		"Returns to the preferred path (or the primary ingest) after its probes passed.", streamLabels, nil)
	descAttempts = prometheus.NewDesc("fmspush_publish_attempts_total",
		"Publish sessions started, the first one included.", streamLabels, nil)
	descReconnects = prometheus.NewDesc("fmspush_reconnects_total",
		"Publish sessions started again after a failure.", streamLabels, nil)
	descVerdicts = prometheus.NewDesc("fmspush_verdicts_total",
		"Failures of the paths' sessions, by path, layer and cause.", []string{"stream", "target", "path", "layer", "cause"}, nil)
	descBytes = prometheus.NewDesc("fmspush_bytes_sent_total",
		"Media bytes written to the target.", streamLabels, nil)
	descFrames = prometheus.NewDesc("fmspush_frames_sent_total",
		"Media frames written to the target.", streamLabels, nil)
	descAcked = prometheus.NewDesc("fmspush_bytes_acked_total",
		"Bytes the server has taken, over every session.", streamLabels, nil)
	descDropped = prometheus.NewDesc("fmspush_dropped_frames_total",
		"Video frames dropped to keep the delivery delay bounded.", streamLabels, nil)
	descNameLock = prometheus.NewDesc("fmspush_name_lock_retries_total",
		"Publish attempts made again because the server still held the name for a previous session.", streamLabels, nil)

	descLag = prometheus.NewDesc("fmspush_delivery_lag_seconds",
		"Media written by the active path but not yet taken by the server, in seconds of media.", pathLabels, nil)
	descUnacked = prometheus.NewDesc("fmspush_delivery_unacked_seconds",
		"How long the server has taken nothing while data waited (a stall grows it), on the active path.", pathLabels, nil)
	descCongested = prometheus.NewDesc("fmspush_delivery_congested",
		"1 while the uplink takes less than the active path's media needs.", pathLabels, nil)
	descThroughput = prometheus.NewDesc("fmspush_throughput_bits_per_second",
		"Rate at which the server takes the active path's bytes.", pathLabels, nil)
	descNeeded = prometheus.NewDesc("fmspush_needed_bits_per_second",
		"The media's own rate on the active path (what real time needs).", pathLabels, nil)

	descCircuit = prometheus.NewDesc("fmspush_circuit_state",
		"The path's circuit breaker: 0 closed, 1 half-open, 2 open.", pathLabels, nil)
	descReady = prometheus.NewDesc("fmspush_path_ready",
		"1 when the path's driver check passes (ffmpeg found, native path built).", pathLabels, nil)
	descPathFailures = prometheus.NewDesc("fmspush_path_failures_total",
		"Failures counted against the path (source failures and name locks are not).", pathLabels, nil)
	descBackoff = prometheus.NewDesc("fmspush_path_backoff_seconds",
		"The path's current retry backoff.", pathLabels, nil)
	descProbeOK = prometheus.NewDesc("fmspush_probe_ok",
		"1 when the last layered probe of the target for the path passed; absent before the first probe.", pathLabels, nil)
	descProbe = prometheus.NewDesc("fmspush_probe_duration_seconds",
		"Duration of the last layered probe of the target for a path.", pathLabels, nil)
	descVerdict = prometheus.NewDesc("fmspush_last_verdict_layer",
		"Layer of the path's last failure: 0 none/unknown, 1-6 for L0-L5, 7 source, 8 process.", pathLabels, nil)
)

var allDescs = []*prometheus.Desc{descBuild, descStarted, descReloadOK, descReloadAt, descReloads,
	descUp, descState, descSourceUp, descStreamStarted, descLiveSince, descLiveFor, descBackupIngest, descActive,
	descFailovers, descStreamFailovers, descFailbacks, descAttempts, descReconnects, descVerdicts,
	descBytes, descFrames, descAcked, descDropped, descNameLock,
	descLag, descUnacked, descCongested, descThroughput, descNeeded,
	descCircuit, descReady, descPathFailures, descBackoff, descProbeOK, descProbe, descVerdict}

// circuitValues are fmspush_circuit_state's values, by the supervisor's
// circuit names.
var circuitValues = map[string]float64{"closed": 0, "half_open": 1, "open": 2}

// collector exports snapshots as Prometheus metrics. Labels carry stream,
// target and path names and the verdicts' fixed vocabulary only, never a URL.
type collector struct {
	source StatusSource
	now    func() time.Time
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.source.Snapshot()
	e := emitter{ch}
	e.gauge(descBuild, 1, snap.Version)
	if !snap.Started.IsZero() {
		e.gauge(descStarted, unixSeconds(snap.Started))
	}
	cfg := snap.Config
	e.gauge(descReloadOK, boolFloat(cfg.LastReloadOK()))
	if !cfg.LoadedAt.IsZero() {
		e.gauge(descReloadAt, unixSeconds(cfg.LoadedAt))
	}
	e.counter(descReloads, float64(cfg.Reloads), "success")
	e.counter(descReloads, float64(cfg.ReloadFailures), "failure")
	now := c.now()
	for _, s := range snap.Streams {
		if s.State == health.StateElsewhere {
			continue // another fleet node runs it and exports its series
		}
		collectStream(e, s, now)
	}
}

// emitter sends const metrics.
type emitter struct{ ch chan<- prometheus.Metric }

func (e emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (e emitter) counter(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func collectStream(e emitter, s health.StreamStatus, now time.Time) {
	id := []string{s.Name, s.TargetName}
	e.gauge(descUp, boolFloat(s.State.Healthy()), id...)
	for _, st := range health.States() {
		e.gauge(descState, boolFloat(s.State == st), s.Name, s.TargetName, string(st))
	}
	if s.SourceStatus != "" {
		e.gauge(descSourceUp, boolFloat(s.SourceStatus != "down"), id...)
	}
	if !s.StartedAt.IsZero() {
		e.gauge(descStreamStarted, unixSeconds(s.StartedAt), id...)
	}
	liveFor := 0.0
	if !s.LiveSince.IsZero() {
		e.gauge(descLiveSince, unixSeconds(s.LiveSince), id...)
		liveFor = max(now.Sub(s.LiveSince).Seconds(), 0)
	}
	e.gauge(descLiveFor, liveFor, id...)
	if s.Ingest != "" {
		e.gauge(descBackupIngest, boolFloat(s.Ingest == "backup"), id...)
	}
	c := s.Counters
	e.counter(descStreamFailovers, float64(c.Failovers), id...)
	e.counter(descFailbacks, float64(c.Failbacks), id...)
	e.counter(descAttempts, float64(c.Attempts), id...)
	e.counter(descReconnects, float64(c.Reconnects), id...)
	e.counter(descBytes, float64(c.BytesSent), id...)
	e.counter(descFrames, float64(c.FramesSent), id...)
	e.counter(descAcked, float64(c.BytesAcked), id...)
	e.counter(descDropped, float64(c.DroppedFrames), id...)
	e.counter(descNameLock, float64(c.NameLockRetries), id...)
	for _, f := range s.Failovers {
		e.counter(descFailovers, float64(f.Count), s.Name, s.TargetName, f.From, f.To, f.Layer.String())
	}
	for _, v := range s.VerdictCounts {
		e.counter(descVerdicts, float64(v.Count), s.Name, s.TargetName, v.Path, v.Layer.String(), v.Cause)
	}
	if d := s.Delivery; d != nil && s.ActivePath != "" {
		p := []string{s.Name, s.TargetName, s.ActivePath}
		e.gauge(descLag, float64(d.LagMillis)/1000, p...)
		e.gauge(descUnacked, float64(d.UnackedMillis)/1000, p...)
		e.gauge(descCongested, boolFloat(d.Congested), p...)
		e.gauge(descThroughput, float64(d.ThroughputBps), p...)
		e.gauge(descNeeded, float64(d.NeededBps), p...)
	}
	for _, p := range s.Paths {
		collectPath(e, s, p)
	}
}

func collectPath(e emitter, s health.StreamStatus, p health.PathStatus) {
	l := []string{s.Name, s.TargetName, p.Kind}
	e.gauge(descActive, boolFloat(p.Active), l...)
	e.gauge(descReady, boolFloat(p.Ready), l...)
	if v, ok := circuitValues[p.Circuit]; ok {
		e.gauge(descCircuit, v, l...)
	}
	e.counter(descPathFailures, float64(p.Failures), l...)
	e.gauge(descBackoff, p.Backoff.Seconds(), l...)
	layer := 0.0
	if p.LastVerdict != nil {
		layer = float64(p.LastVerdict.Layer)
	}
	e.gauge(descVerdict, layer, l...)
	if p.LastProbe != nil {
		e.gauge(descProbeOK, boolFloat(p.LastProbe.OK), l...)
		e.gauge(descProbe, p.LastProbe.Duration.Seconds(), l...)
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
