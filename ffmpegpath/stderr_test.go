package ffmpegpath

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadLinesSplitsOnCRAndLF(t *testing.T) {
	in := "[info] a\r[info] frame=  1 fps=0.0\r[info] frame=  2\n\n[error] b\r\n[warning] tail-without-newline"
	out := make(chan LogLine, 10)
	ReadLines(strings.NewReader(in), out)
	close(out)
	var got []string
	for l := range out {
		got = append(got, l.Level+":"+l.Msg)
	}
	want := []string{"info:a", "info:frame=  1 fps=0.0", "info:frame=  2", "error:b", "warning:tail-without-newline"}
	require.Equal(t, fmt.Sprint(want), fmt.Sprint(got), "got %q, want %q", got, want)
}

func TestParseLogLine(t *testing.T) {
	tests := []struct {
		in             string
		comp, lvl, msg string
		hl             hclog.Level
	}{
		{"[rtmp @ 0x55d1] [error] Server error: Already publishing", "rtmp", "error", "Server error: Already publishing", hclog.Error},
		{"[tcp @ 0x55] [verbose] Starting connection attempt to 127.0.0.1 port 1", "tcp", "verbose", "Starting connection attempt to 127.0.0.1 port 1", hclog.Debug},
		{"[info] Output #0, flv, to 'x':", "", "info", "Output #0, flv, to 'x':", hclog.Info},
		{"[debug] Opening an output file: x.", "", "debug", "Opening an output file: x.", hclog.Trace},
		{"[flv @ 0x1] [warning] Failed to update header", "flv", "warning", "Failed to update header", hclog.Warn},
		{"[fatal] x", "", "fatal", "x", hclog.Error},
		{"plain line   ", "", "", "plain line", hclog.Info},
		{"[not a level] x", "", "", "[not a level] x", hclog.Info},
	}
	for _, tc := range tests {
		l := ParseLogLine(tc.in, time.Time{})
		assert.True(t, l.Component == tc.comp && l.Level == tc.lvl && l.Msg == tc.msg && l.HclogLevel() == tc.hl,
			"%q: got %+v (%v)", tc.in, l, l.HclogLevel())
	}
}

func TestRedactor(t *testing.T) {
	r := NewRedactor("rtsp://admin:campass1@10.0.0.9/stream1",
		"rtmp://127.0.0.1:1935/live-bvc/?streamname=live_123_456&key=deadbeef&schedule=rtmp", "")
	lines := []string{
		"Opening an output file: rtmp://127.0.0.1:1935/live-bvc/?streamname=live_123_456&key=deadbeef&schedule=rtmp.",
		"Proto = rtmp, path = /live-bvc/?streamname=live_123_456&key=deadbeef, app = live-bvc, fname = ?streamname=live_123_456&key=deadbeef",
		"Sending publish command for '?streamname=live_123_456&key=deadbeef&schedule=rtmp'",
		"Authorization: Basic YWRtaW46Y2FtcGFzczE=",
		"line='Authorization: Digest username=\"admin\", response=\"abc\"'",
		"rtsp://admin:campass1@10.0.0.9/stream1: Connection refused",
		"a bare live_123_456 mention",
	}
	for _, l := range lines {
		got := r.Text(l)
		for _, secret := range []string{"live_123_456", "deadbeef", "campass1", "YWRtaW46Y2FtcGFzczE", "response="} {
			assert.NotContains(t, got, secret, "%q leaks %q: %q", l, secret, got)
		}
	}
	short := NewRedactor("/s.flv", "rtmp://h/live/k1", "")
	assert.NotContains(t, short.Text("Proto = rtmp, path = /live/k1, app = live, fname = k1"), "k1", "short stream name leaks in the Proto line")
	assert.NotContains(t, short.Text("Sending publish command for 'k1'"), "k1", "short stream name leaks")
}

func TestTranscriptIsBounded(t *testing.T) {
	var tr transcript
	for i := 0; i < 10_000; i++ {
		tr.add(LogLine{Level: "debug", Component: "h264", Msg: "nal"})
		tr.add(LogLine{Level: "error", Msg: fmt.Sprint("e", i)})
	}
	got := tr.lines()
	require.Len(t, got, headLines+tailKeep)
	require.Equal(t, "e9999", got[len(got)-1].Msg, "the last line")
}

func TestRedactorMasksKeysServersEcho(t *testing.T) {
	for _, target := range []string{"rtmp://h/live/Sk3yXYZ", "rtmp://h/live/Sk3yXYZ/", "rtmp://h/live/Sk3yXYZ?token=t0kenVAL",
		"rtmp://h/live/?streamname=Sk3yXYZ&key=t0kenVAL"} {
		r := NewRedactor("/s.flv", target, "")
		log, buf := testLogger(t)
		lines := []string{
			"[rtmp @ 0x1] [error] Server error: Sk3yXYZ is already publishing",
			"[rtmp @ 0x1] [error] Server error: NetStream.Publish.BadName: stream Sk3yXYZ/ is held",
			"[error] " + target + ": Operation not permitted",
		}
		if strings.Contains(target, "t0kenVAL") {
			lines = append(lines, "[rtmp @ 0x1] [error] Server error: bad token t0kenVAL for Sk3yXYZ")
		}
		for _, l := range lines {
			logLine(log, r, ParseLogLine(l, time.Now()))
		}
		all := buf.String()
		require.NotContains(t, all, "Sk3yXYZ", target)
		require.NotContains(t, all, "t0kenVAL", target)
		require.Contains(t, all, "*** is already publishing", target)
	}
}
