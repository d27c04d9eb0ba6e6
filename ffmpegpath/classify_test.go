package ffmpegpath

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/rtmp"
)

// The testdata/*.log files are real ffmpeg 5.1.9 runs (the command is on
// their first line) against loopback peers that fail at each layer: nginx
// 1.22 + nginx-rtmp, and a small scripted RTMP server that closes, resets,
// hangs or answers _error/onStatus error at each step. Each line is
// "ms|S|stderr line" or "ms|P|progress report", ms since the start.

// loadCapture turns a capture into an Exit as the exec driver builds it.
func loadCapture(t *testing.T, name, source, target string) Exit {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".log"))
	require.NoError(t, err)
	defer f.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := Exit{Source: source, Target: target, Start: t0, Binary: "ffmpeg"}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# exit=") {
			var end int
			fmt.Sscanf(line, "# exit=%d end=%d", &e.ExitCode, &end)
			e.End = t0.Add(time.Duration(end) * time.Millisecond)
			continue
		}
		ms, rest, ok := strings.Cut(line, "|")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		n, _ := strconv.Atoi(ms)
		at := t0.Add(time.Duration(n) * time.Millisecond)
		kind, text, _ := strings.Cut(rest, "|")
		if kind == "S" {
			e.Lines = append(e.Lines, ParseLogLine(text, at))
			continue
		}
		var frame, us int64
		fmt.Sscanf(text, "frame=%d out_time_us=%d", &frame, &us)
		if e.PublishedAt.IsZero() {
			e.PublishedAt = at
		}
		if frame > 0 && e.FirstFrameAt.IsZero() {
			e.FirstFrameAt = FirstFrameEstimate(e.PublishedAt, at, time.Duration(us)*time.Microsecond)
		}
	}
	return e
}

func TestClassifyCaptures(t *testing.T) {
	const sample = "/work/main/media/sample/sample.flv"
	const scripted = "rtmp://127.0.0.1:19350/live/sekrit?token=abc"
	tests := []struct {
		capture, source, target string
		layer                   health.Layer
		cause, words            string
		rstMin, rstMax          time.Duration
	}{
		{"l0_refused", sample, scripted, health.LayerNetwork, "connection_refused", "", 0, 0},
		{"l1_closed", sample, scripted, health.LayerHandshake, "handshake_closed", "", 0, 0},
		{"l1_c1_closed", sample, scripted, health.LayerHandshake, "handshake_closed", "", 0, 0},
		{"l1_c1_reset", sample, scripted, health.LayerHandshake, "handshake_reset", "", 0, 0},
		{"l1_timeout", sample, scripted, health.LayerHandshake, "handshake_timeout", "", 0, 0},
		{"l2_closed", sample, scripted, health.LayerConnect, "connect_closed", "", 0, 0},
		{"l2_reset", sample, scripted, health.LayerConnect, "connect_closed", "", 0, 0},
		{"l2_rejected", sample, scripted, health.LayerConnect, "connect_rejected", "Connection rejected: bad flashVer", 0, 0},
		{"l2_nginx_unknown_app", sample, "rtmp://127.0.0.1:19360/nosuchapp/sekrit", health.LayerConnect, "connect_closed", "", 0, 0},
		{"l3_badname", sample, scripted, health.LayerPublish, "publish_rejected", "Stream key is invalid", 0, 0},
		{"l3_closed", sample, scripted, health.LayerPublish, "publish_closed", "", 0, 0},
		{"l3_nginx_already_publishing", sample, "rtmp://127.0.0.1:19360/live/sekrit", health.LayerPublish, health.CauseNameLocked, "Already publishing", 0, 0},
		{"l3_already_publishing_echo", sample, "rtmp://127.0.0.1:19360/live/sekrit9/", health.LayerPublish, health.CauseNameLocked, "*** is already publishing", 0, 0},
		{"l4_reset_after_publish", sample, scripted, health.LayerUpkeep, "reset_after_publish", "", 2500 * time.Millisecond, 3500 * time.Millisecond},
		{"l5_reset_after_first_frame", sample, scripted, health.LayerMedia, "reset_after_first_frame", "", 50 * time.Millisecond, 500 * time.Millisecond},
		{"source_missing", "/nonexistent/cam.flv", scripted, health.LayerSource, "source_missing", "", 0, 0},
		{"source_rtsp_refused", "rtsp://127.0.0.1:1/cam", scripted, health.LayerSource, "source_refused", "", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.capture, func(t *testing.T) {
			v := Classify(loadCapture(t, tc.capture, tc.source, tc.target))
			require.NotNil(t, v, "no verdict")
			t.Logf("%v (since dial %v, since publish %v)", v, v.SinceDial, v.SincePublish)
			require.True(t, v.Layer == tc.layer && v.Cause == tc.cause && v.ServerWords == tc.words,
				"got %s/%s [%s], want %s/%s [%s]", v.Layer, v.Cause, v.ServerWords, tc.layer, tc.cause, tc.words)
			assert.True(t, v.TimeToRST >= tc.rstMin && v.TimeToRST <= tc.rstMax, "TimeToRST %v outside [%v, %v]", v.TimeToRST, tc.rstMin, tc.rstMax)
			assert.True(t, v.Path == "ffmpeg" && strings.Contains(v.Detail, "exit status 1"), "path %q, detail %q: want ffmpeg and the exit status", v.Path, v.Detail)
			for _, secret := range []string{"sekrit", "token=abc", "abc"} {
				assert.NotContains(t, v.Error(), secret, "verdict leaks the key: %v", v)
			}
			if tc.layer.IsTarget() && tc.layer > health.LayerNetwork {
				assert.GreaterOrEqual(t, v.SinceDial, time.Duration(0), "no SinceDial for a failure after the dial")
			}
		})
	}
}

func TestClassifyStop(t *testing.T) {
	e := loadCapture(t, "stop_sigint", "/s.flv", "rtmp://127.0.0.1:19360/live/sekrit")
	e.Stopped = true
	require.Nil(t, Classify(e), "a stop we asked for gave a verdict")
	e.Stopped = false
	v := Classify(e)
	require.True(t, v != nil && v.Layer == health.LayerProcess && v.Cause == "signalled" && strings.Contains(v.Detail, "exit status 255"),
		"an unexpected SIGINT gave %v", v)
}

func TestClassifyProcess(t *testing.T) {
	now := time.Now()
	base := Exit{Source: "/s.flv", Target: "rtmp://h/live/key", Binary: "/usr/bin/ffmpeg", Start: now, End: now.Add(time.Second)}
	tests := []struct {
		name  string
		edit  func(*Exit)
		cause string
	}{
		{"missing", func(e *Exit) { e.StartErr = &os.PathError{Op: "fork/exec", Path: "/x", Err: os.ErrNotExist} }, "binary_missing"},
		{"lookpath", func(e *Exit) { e.StartErr = &exec.Error{Name: "ffmpeg", Err: exec.ErrNotFound} }, "binary_missing"},
		{"permission", func(e *Exit) { e.StartErr = &os.PathError{Op: "fork/exec", Path: "/x", Err: os.ErrPermission} }, "binary_not_executable"},
		{"other", func(e *Exit) { e.StartErr = errors.New("too many open files") }, "start_failed"},
		{"kill9", func(e *Exit) { e.ExitCode, e.Signal = -1, "killed" }, "killed"},
		{"segv", func(e *Exit) { e.ExitCode, e.Signal = -1, "segmentation fault" }, "crashed"},
		{"stall", func(e *Exit) { e.Stalled, e.StaleFor, e.ExitCode, e.Signal = true, 5*time.Second, -1, "killed" }, "stalled"},
		{"stall during our stop", func(e *Exit) { e.Stalled, e.Stopped = true, true }, "stalled"},
	}
	for _, tc := range tests {
		e := base
		tc.edit(&e)
		v := Classify(e)
		assert.True(t, v != nil && v.Layer == health.LayerProcess && v.Cause == tc.cause, "%s: %v, want process/%s", tc.name, v, tc.cause)
	}
	e := base
	e.ExitCode, e.Signal, e.NoVideoFor = -1, "killed", 15*time.Second
	v := Classify(e)
	assert.True(t, v != nil && v.Layer == health.LayerSource && v.Cause == "no_video", "no video: %v, want source/no_video", v)
	e = base
	e.ExitCode = 0
	v = Classify(e)
	assert.True(t, v != nil && v.Layer == health.LayerSource && v.Cause == "source_ended", "exit 0: %v, want source/source_ended", v)
	e.ExitCode = 1
	v = Classify(e)
	assert.True(t, v != nil && v.Layer == health.LayerUnknown && strings.Contains(v.Detail, "exit status 1"), "silent exit 1: %v", v)
}

func TestClassifyWithoutDebugLines(t *testing.T) {
	// Info-level transcripts (an operator overriding -loglevel) still classify.
	at := time.Now()
	target := "rtmp://127.0.0.1:1/live/key"
	lines := func(ss ...string) []LogLine {
		var out []LogLine
		for _, s := range ss {
			out = append(out, ParseLogLine(s, at))
		}
		return out
	}
	tests := []struct {
		lines []LogLine
		layer health.Layer
		cause string
	}{
		{lines("[tcp @ 0x1] [error] Connection to tcp://127.0.0.1:1?tcp_nodelay=0 failed: Connection refused",
			"[rtmp @ 0x2] [error] Cannot open connection tcp://127.0.0.1:1?tcp_nodelay=0",
			"[error] "+target+": Connection refused"), health.LayerNetwork, "connection_refused"},
		{lines("[rtmp @ 0x2] [error] Cannot read RTMP handshake response", "[error] "+target+": End of file"),
			health.LayerHandshake, "handshake_closed"},
		{lines("[tcp @ 0x1] [error] Failed to resolve hostname nosuch.invalid: Name or service not known",
			"[error] rtmp://nosuch.invalid/live/key: Input/output error"), health.LayerNetwork, "dns_failed"},
		{lines("[flv @ 0x3] [error] Video codec hevc not compatible with flv",
			"[error] Could not write header for output file #0 (incorrect codec parameters ?): Function not implemented"),
			health.LayerSource, "unsupported_codec"},
	}
	for i, tc := range tests {
		e := Exit{Source: "/s.flv", Target: target, Lines: tc.lines, ExitCode: 1, End: at}
		if strings.Contains(tc.lines[0].Msg, "nosuch") {
			e.Target = "rtmp://nosuch.invalid/live/key"
		}
		v := Classify(e)
		assert.True(t, v != nil && v.Layer == tc.layer && v.Cause == tc.cause, "case %d: %v, want %s/%s", i, v, tc.layer, tc.cause)
	}
}

// Captures of ffmpeg 5.1.9 against the emulator's adobe_auth and llnw_auth
// (the password "Sup3r-s3cret"): a wrong password, a wrong user and no
// credentials are L3 auth_failed / auth_required, the native path's layer
// and causes, and no password shows in the verdict.
func TestClassifyAuthCaptures(t *testing.T) {
	const sample = "/work/main/media/sample/sample.flv"
	tests := []struct {
		capture, target, cause, words string
	}{
		{"l3_auth_failed_adobe", "rtmp://alice:Wr0ng-pass@127.0.0.1:19351/live/sekrit", rtmp.CauseAuthFailed,
			"[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=authfailed"},
		{"l3_auth_failed_llnw_user", "rtmp://mallory:Sup3r-s3cret@127.0.0.1:19352/live/sekrit", rtmp.CauseAuthFailed,
			"[ AccessManager.Reject ] : [ authmod=llnw ] : ?reason=nosuchuser&user=mallory"},
		{"l3_auth_required_llnw", "rtmp://127.0.0.1:19352/live/sekrit", rtmp.CauseAuthRequired,
			"[ AccessManager.Reject ] : [ code=403 need auth; authmod=llnw ] :"},
	}
	for _, tc := range tests {
		t.Run(tc.capture, func(t *testing.T) {
			v := Classify(loadCapture(t, tc.capture, sample, tc.target))
			require.NotNil(t, v, "no verdict")
			t.Logf("%v (since dial %v)", v, v.SinceDial)
			require.True(t, v.Layer == health.LayerPublish && v.Cause == tc.cause && strings.TrimSpace(v.ServerWords) == tc.words,
				"got %s/%s [%s], want L3/%s [%s]", v.Layer, v.Cause, v.ServerWords, tc.cause, tc.words)
			require.Positive(t, v.SinceDial, "timed from the first dial")
			for _, secret := range []string{"Sup3r-s3cret", "Wr0ng-pass", "sekrit"} {
				require.NotContains(t, v.Error()+v.Detail, secret, "verdict leaks a secret: %v", v)
			}
		})
	}
}
