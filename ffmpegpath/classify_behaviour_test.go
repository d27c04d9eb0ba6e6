package ffmpegpath

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
)

// transcriptAt builds stderr lines, each at t0 plus its offset in ms.
func transcriptAt(t0 time.Time, lines ...any) []LogLine {
	var out []LogLine
	at := t0
	for _, x := range lines {
		switch v := x.(type) {
		case int:
			at = t0.Add(time.Duration(v) * time.Millisecond)
		case string:
			out = append(out, ParseLogLine(v, at))
		}
	}
	return out
}

const behaviourTarget = "rtmp://127.0.0.1:1935/live/key"

// setupLines is ffmpeg's debug transcript of the output's setup up to the
// step named: "dial", "handshake", "connect", "createStream", "publish".
func setupLines(s0 int, upTo string) []any {
	l := []any{0, "[debug] Opening an output file: " + behaviourTarget + ".",
		"[tcp @ 0x1] [verbose] Starting connection attempt to 127.0.0.1 port 1935"}
	if upTo == "dial" {
		return l
	}
	l = append(l, 1, "[tcp @ 0x1] [verbose] Successfully connected to 127.0.0.1 port 1935",
		"[rtmp @ 0x2] [debug] Handshaking...")
	if upTo == "handshake" {
		return l
	}
	l = append(l, 2, "[rtmp @ 0x2] [debug] Type answer "+strconv.Itoa(s0), "[rtmp @ 0x2] [debug] Server version 0.0.0.0",
		"[rtmp @ 0x2] [debug] Proto = rtmp, path = /live/key, app = live, fname = key")
	if upTo == "connect" {
		return l
	}
	l = append(l, 50, "[rtmp @ 0x2] [debug] Window acknowledgement size = 2500000",
		"[rtmp @ 0x2] [debug] Releasing stream...", "[rtmp @ 0x2] [debug] FCPublish stream...",
		"[rtmp @ 0x2] [debug] Creating stream...")
	if upTo == "createStream" {
		return l
	}
	return append(l, 60, "[rtmp @ 0x2] [debug] Sending publish command for 'key'")
}

// The ffmpeg path's verdicts for server behaviours agree with the native
// path's where ffmpeg's stderr allows (interop's TestServerBehaviours runs
// both paths against real servers; these are the transcripts' rules).
func TestClassifyServerBehaviours(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	eio := "[error] " + behaviourTarget + ": Input/output error"
	tests := []struct {
		name      string
		lines     []any
		end       int // ms
		ioTimeout time.Duration
		setup     time.Duration // SetupStalledFor
		signal    string
		layer     health.Layer
		cause     string
		detail    string
	}{
		{name: "server closes during connect", lines: append(setupLines(3, "connect"), 40, eio), end: 45,
			ioTimeout: 4 * time.Second, layer: health.LayerConnect, cause: "connect_closed"},
		{name: "silent server during connect: EIO at the read timeout", lines: append(setupLines(3, "connect"), 4010, eio),
			end: 4015, ioTimeout: 4 * time.Second, layer: health.LayerConnect, cause: "connect_timeout",
			detail: "no answer to connect for 4s (ffmpeg's read timeout)"},
		{name: "read timeout unknown: closed as before", lines: append(setupLines(3, "connect"), 4010, eio), end: 4015,
			layer: health.LayerConnect, cause: "connect_closed"},
		{name: "silent server after connect", lines: append(setupLines(3, "createStream"), 4060, eio), end: 4065,
			ioTimeout: 4 * time.Second, layer: health.LayerPublish, cause: "publish_timeout"},
		{name: "silent server after publish sent", lines: append(setupLines(3, "publish"), 4070, eio), end: 4075,
			ioTimeout: 4 * time.Second, layer: health.LayerPublish, cause: "publish_timeout"},
		{name: "bad S0, then a silent server", lines: append(setupLines(10, "connect"), 4010, eio), end: 4015,
			ioTimeout: 4 * time.Second, layer: health.LayerHandshake, cause: "handshake_failed", detail: "S0 version 10, want 3"},
		{name: "bad S0, then a refusal", lines: append(setupLines(10, "connect"), 30,
			"[rtmp @ 0x2] [error] Server error: Connection rejected", eio), end: 35,
			layer: health.LayerHandshake, cause: "handshake_failed"},
		{name: "flood instead of connect's result", lines: setupLines(3, "connect"), end: 5100, setup: 5 * time.Second,
			signal: "killed", layer: health.LayerConnect, cause: "connect_timeout", detail: "advanced the connect for 5s"},
		{name: "flood after connect", lines: setupLines(3, "createStream"), end: 5100, setup: 5 * time.Second,
			signal: "killed", layer: health.LayerPublish, cause: "publish_timeout", detail: "advanced the createStream"},
		{name: "dial that never completes", lines: setupLines(3, "dial"), end: 5100, setup: 5 * time.Second,
			signal: "killed", layer: health.LayerNetwork, cause: "dial_timeout"},
		{name: "ffmpeg's own dial timeout", lines: append(setupLines(3, "dial"), 4000,
			"[tcp @ 0x1] [error] Connection to tcp://127.0.0.1:1935?tcp_nodelay=0 failed: Connection timed out",
			"[rtmp @ 0x2] [error] Cannot open connection tcp://127.0.0.1:1935?tcp_nodelay=0",
			"[error] "+behaviourTarget+": Connection timed out"),
			end: 4005, layer: health.LayerNetwork, cause: "dial_timeout"},
		{name: "BadName code without a description", lines: append(setupLines(3, "publish"), 70,
			"[rtmp @ 0x2] [error] Server error: NetStream.Publish.BadName", eio), end: 75,
			layer: health.LayerPublish, cause: "publish_bad_name"},
		{name: "a refusal's description only", lines: append(setupLines(3, "publish"), 70,
			"[rtmp @ 0x2] [error] Server error: auth token missing", eio), end: 75,
			layer: health.LayerPublish, cause: "publish_rejected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := Exit{Source: "/s.flv", Target: behaviourTarget, Binary: "ffmpeg", Start: t0,
				Lines: transcriptAt(t0, tc.lines...), End: t0.Add(time.Duration(tc.end) * time.Millisecond),
				ExitCode: 1, IOTimeout: tc.ioTimeout, SetupStalledFor: tc.setup, Signal: tc.signal}
			if tc.signal != "" {
				e.ExitCode = -1
			}
			v := Classify(e)
			require.NotNil(t, v, "no verdict")
			require.True(t, v.Layer == tc.layer && v.Cause == tc.cause, "%v, want %s %s", v, tc.layer, tc.cause)
			assert.Contains(t, v.Detail, tc.detail, "detail lacks it")
			assert.GreaterOrEqual(t, v.SinceDial, time.Duration(0), "no SinceDial: %v", v)
		})
	}
}

// The setup watch sees a setup that stopped advancing once the output is
// being opened, never while the input is, nor once the output is open.
func TestSetupWatch(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var w setupWatch
	feed := func(ms int, s string) { w.line(ParseLogLine(s, t0.Add(time.Duration(ms)*time.Millisecond))) }
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	feed(0, "[debug] Opening an input file: /s.flv.")
	feed(10, "[debug] Successfully opened the file.")
	_, ok := w.stuck(at(60000), time.Second, nil)
	require.False(t, ok, "stuck while the input is opened")
	feed(20, "[debug] Opening an output file: "+behaviourTarget+".")
	feed(21, "[tcp @ 0x1] [verbose] Starting connection attempt to 127.0.0.1 port 1935")
	feed(22, "[tcp @ 0x1] [verbose] Successfully connected to 127.0.0.1 port 1935")
	feed(23, "[rtmp @ 0x2] [debug] Handshaking...")
	feed(24, "[rtmp @ 0x2] [debug] Proto = rtmp, path = /live/key, app = live, fname = key")
	// A flood's lines are no progress.
	for ms := 100; ms < 5000; ms += 100 {
		feed(ms, "[rtmp @ 0x2] [debug] Server bandwidth = 2500000")
	}
	d, ok := w.stuck(at(1000), time.Second, nil)
	require.False(t, ok, "stuck after %v", d)
	d, ok = w.stuck(at(1024), time.Second, nil)
	require.True(t, ok && d == time.Second, "not stuck at 1s after the last step: %v %v", d, ok)
	feed(1030, "[rtmp @ 0x2] [debug] Releasing stream...")
	_, ok = w.stuck(at(1500), time.Second, nil)
	require.False(t, ok, "a step did not restart the clock")
	feed(1100, "[debug] Successfully opened the file.")
	_, ok = w.stuck(at(60000), time.Second, nil)
	require.False(t, ok, "stuck once the output is open")
}

// A flood's lines may push the stage lines out of the bounded transcript:
// the setup's moments the exec driver saw still name the step.
func TestClassifySetupStallWithoutStageLines(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var w setupWatch
	for _, l := range transcriptAt(t0, setupLines(3, "createStream")...) {
		w.line(l)
	}
	var flood []any
	for ms := 100; ms < 5000; ms += 10 {
		flood = append(flood, ms, "[rtmp @ 0x2] [debug] Server bandwidth = 2500000")
	}
	e := Exit{Source: "/s.flv", Target: behaviourTarget, Binary: "ffmpeg", Start: t0, Lines: transcriptAt(t0, flood...),
		End: t0.Add(5100 * time.Millisecond), ExitCode: -1, Signal: "killed", SetupStalledFor: 5 * time.Second,
		setup: w.st.marks()}
	v := Classify(e)
	require.True(t, v != nil && v.Layer == health.LayerPublish && v.Cause == "publish_timeout" && v.SinceDial >= 0,
		"%v, want L3 publish_timeout with the time since the dial", v)
}
