package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/httpapi"
	"github.com/fmspush/fmspush/internal/testpeer"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if binPath != "" {
			os.RemoveAll(filepath.Dir(binPath))
		}
		os.Exit(code)
	}))
}

// running is a service started in-process on a config file in a temp dir.
type running struct {
	t      testing.TB
	dir    string
	path   string
	http   string
	logs   *testpeer.LogBuffer
	hup    chan os.Signal
	svc    *service
	cancel context.CancelFunc
	done   chan error
}

const secretTarget = `emulator://live/SECRETKEY123?wsSecret=abc123&wsTime=67000000`

func configText(httpAddr string, streams ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "service {\n  http_listen = %q\n  log_level = \"debug\"\n}\n", httpAddr)
	b.WriteString("emulator {\n  listen = \"127.0.0.1:0\"\n  profile = \"lenient\"\n}\n")
	for _, s := range streams {
		b.WriteString(s)
		b.WriteString("\n")
	}
	return b.String()
}

// idleStream is a disabled stream: it exercises reload without media.
func idleStream(name, target string) string {
	return fmt.Sprintf("stream %q {\n  enabled = false\n  source = \"builtin:sample\"\n  target = %q\n}\n", name, target)
}

func startService(t testing.TB, text string) *running {
	t.Helper()
	dir := t.TempDir()
	r := &running{t: t, dir: dir, path: filepath.Join(dir, "config.hcl"), logs: &testpeer.LogBuffer{},
		hup: make(chan os.Signal, 1), done: make(chan error, 1)}
	r.http = fmt.Sprintf("127.0.0.1:%d", testpeer.FreePort(t))
	require.NoError(t, os.WriteFile(r.path, []byte(fmt.Sprintf(text, r.http)), 0o644))
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.svc = &service{ConfigPath: r.path, Stderr: r.logs, Reload: r.hup}
	go func() { r.done <- r.svc.Run(ctx) }()
	t.Cleanup(r.stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the service's log (the end):\n%s", tailLines(r.logs.String(), 80))
		}
	})
	testpeer.WaitTCP(t, r.http, 10*time.Second)
	return r
}

// tailLines is the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

func (r *running) stop() {
	r.cancel()
	select {
	case err := <-r.done:
		assert.NoError(r.t, err, "service returned an error") // and goes on to hand r.done on
	case <-time.After(20 * time.Second):
		require.Fail(r.t, "service did not stop within 20s")
	}
	r.done <- nil
}

func (r *running) get(path string) (int, string, []byte) {
	r.t.Helper()
	resp, err := http.Get("http://" + r.http + path)
	require.NoError(r.t, err, "GET %s", path)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

func (r *running) status() health.ServiceStatus {
	r.t.Helper()
	_, _, body := r.get("/v1/streams")
	var st health.ServiceStatus
	require.NoError(r.t, json.Unmarshal(body, &st), "status JSON: %s", body)
	return st
}

func (r *running) streams() map[string]health.StreamStatus {
	out := map[string]health.StreamStatus{}
	for _, s := range r.status().Streams {
		out[s.ID()] = s
	}
	return out
}

// writeInPlace rewrites the file in place (truncate and write).
func (r *running) writeInPlace(text string) {
	r.t.Helper()
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_TRUNC, 0o644)
	require.NoError(r.t, err)
	defer f.Close()
	_, err = f.WriteString(fmt.Sprintf(text, r.http))
	require.NoError(r.t, err)
}

// writeByRename replaces the file the way editors do: write a temp file, rename over.
func (r *running) writeByRename(text string) {
	r.t.Helper()
	tmp := filepath.Join(r.dir, ".config.hcl.swp")
	require.NoError(r.t, os.WriteFile(tmp, []byte(fmt.Sprintf(text, r.http)), 0o644))
	require.NoError(r.t, os.Rename(tmp, r.path))
}

func withStreams(streams ...string) string {
	return strings.ReplaceAll(configText("%s", streams...), "%!s(MISSING)", "%s")
}

func TestReloadAddsChangesRemovesAndKeepsUntouched(t *testing.T) {
	r := startService(t, withStreams(idleStream("keep", "emulator://live/keep"), idleStream("change", "emulator://live/c1")))
	testpeer.Eventually(t, 5*time.Second, "two streams", func() bool { return len(r.streams()) == 2 })
	keepStart := r.streams()["keep"].StartedAt
	changeStart := r.streams()["change"].StartedAt
	// The load at start and the watcher's first read of the same file are
	// no reload.
	testpeer.Eventually(t, 5*time.Second, "the watcher's first read applied", func() bool {
		return strings.Count(r.logs.String(), "config applied") >= 2
	})
	require.Zero(t, r.status().Config.Reloads, "a reload counted at start")

	// In place: change one, add one.
	r.writeInPlace(withStreams(idleStream("keep", "emulator://live/keep"), idleStream("change", "emulator://live/c2"),
		idleStream("added", "emulator://live/a")))
	testpeer.Eventually(t, 5*time.Second, "added stream and changed stream restarted", func() bool {
		s := r.streams()
		return len(s) == 3 && !s["change"].StartedAt.Equal(changeStart)
	})
	got := r.streams()["keep"].StartedAt
	require.True(t, got.Equal(keepStart), "untouched stream restarted: %v -> %v", keepStart, got)

	// By atomic rename: remove two.
	r.writeByRename(withStreams(idleStream("keep", "emulator://live/keep")))
	testpeer.Eventually(t, 5*time.Second, "removal", func() bool { return len(r.streams()) == 1 })
	got = r.streams()["keep"].StartedAt
	require.True(t, got.Equal(keepStart), "untouched stream restarted by rename: %v -> %v", keepStart, got)

	// A broken file keeps the old config and shows the error with file:line.
	r.writeByRename(withStreams(idleStream("keep", "emulator://live/keep"), "stream \"bad\" {\n  source = \"builtin:sample\"\n  target = \"rtmp://h/live/x\"\n  prefer = \"bogus\"\n}\n"))
	testpeer.Eventually(t, 5*time.Second, "config.last_error", func() bool { return r.status().Config.LastError != "" })
	st := r.status()
	require.True(t, strings.Contains(st.Config.LastError, "config.hcl:") && strings.Contains(st.Config.LastError, "prefer"),
		"last_error lacks file:line or field: %q", st.Config.LastError)
	require.True(t, len(st.Streams) == 1 && st.Streams[0].StartedAt.Equal(keepStart), "a broken file changed the running streams: %+v", st.Streams)
	require.Positive(t, st.Config.ReloadFailures, "a refused reload is counted")
	require.False(t, st.Config.LastReloadOK())
	_, _, metrics := r.get("/metrics")
	require.Contains(t, string(metrics), "fmspush_config_last_reload_success 0")

	// Fixing the file recovers; SIGHUP also reloads.
	r.writeInPlace(withStreams(idleStream("keep", "emulator://live/keep"), idleStream("fixed", "emulator://live/f")))
	testpeer.Eventually(t, 5*time.Second, "recovery", func() bool {
		st := r.status()
		return st.Config.LastError == "" && len(st.Streams) == 2
	})
	st = r.status()
	require.GreaterOrEqual(t, st.Config.Reloads, int64(3), "every applied reload is counted: %+v", st.Config)
	require.True(t, st.Config.LastReloadOK())
	_, _, metrics = r.get("/metrics")
	require.Contains(t, string(metrics), "fmspush_config_last_reload_success 1")
	r.hup <- os.Interrupt
	testpeer.Eventually(t, 5*time.Second, "SIGHUP reload logged", func() bool { return strings.Contains(r.logs.String(), "SIGHUP") })
}

func TestHTTPContentTypesAndNoSecrets(t *testing.T) {
	live := "stream \"pub\" {\n  source = \"builtin:sample\"\n  target = \"" + secretTarget + "\"\n  prefer = \"ffmpeg\"\n}\n"
	r := startService(t, withStreams(live, idleStream("idle", "rtmp://127.0.0.1:9/live/SECRETKEY123?wsSecret=abc123")))
	testpeer.Need(t, "ffmpeg")
	testpeer.Eventually(t, 30*time.Second, "pub live", func() bool { return r.streams()["pub"].State == health.StateLive })
	checks := []struct{ path, ctype string }{
		{"/healthz", "application/json"},
		{"/v1/streams", "application/json"},
		{"/v1/streams/pub", "application/json"},
		{"/metrics", "text/plain"},
	}
	var all strings.Builder
	for _, c := range checks {
		code, ctype, body := r.get(c.path)
		require.True(t, code == http.StatusOK && strings.HasPrefix(ctype, c.ctype), "%s: %d %q\n%s", c.path, code, ctype, body)
		all.Write(body)
	}
	code, _, _ := r.get("/v1/streams/nope")
	require.Equal(t, http.StatusNotFound, code, "unknown stream")
	_, _, metrics := r.get("/metrics")
	for _, m := range []string{"fmspush_stream_up{stream=\"pub\",target=\"\"} 1", "fmspush_active_path{path=\"ffmpeg\",stream=\"pub\",target=\"\"} 1", "fmspush_frames_sent_total"} {
		require.True(t, bytes.Contains(metrics, []byte(m)), "metrics lack %q:\n%s", m, metrics)
	}
	// Make the healthz unhealthy: a reload that breaks the target keeps the old one; instead stop the live stream's publish.
	r.cancel()
	<-r.done
	r.done <- nil
	text := all.String() + r.logs.String()
	for _, secret := range []string{"SECRETKEY123", "abc123"} {
		if i := strings.Index(text, secret); i >= 0 {
			require.Failf(t, "a secret leaked", "secret %q leaked: ...%s...", secret, text[max(0, i-200):min(len(text), i+50)])
		}
	}
}

func TestHealthzIs503WhenAStreamIsDown(t *testing.T) {
	down := "stream \"down\" {\n  source = \"builtin:sample\"\n  target = \"rtmp://127.0.0.1:9/live/SECRETKEY123\"\n  prefer = \"ffmpeg\"\n}\n"
	r := startService(t, withStreams(down))
	testpeer.Eventually(t, 20*time.Second, "a failure verdict", func() bool { return len(r.streams()["down"].LastVerdicts) > 0 })
	code, ctype, body := r.get("/healthz")
	var rep httpapi.HealthReport
	err := json.Unmarshal(body, &rep)
	require.True(t, err == nil && code == http.StatusServiceUnavailable && ctype == "application/json", "healthz %d %q %v: %s", code, ctype, err, body)
	require.True(t, len(rep.Unhealthy) == 1 && rep.Unhealthy[0].Stream == "down" && rep.Unhealthy[0].Reason != "", "healthz body does not say which and why: %s", body)
	require.False(t, bytes.Contains(body, []byte("SECRETKEY123")), "secret in healthz: %s", body)
}
