package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// postAPI sends a control request with the token (none when "") and
// returns the status and the body.
func (r *running) postAPI(path, token string) (int, string) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+r.http+path, nil)
	require.NoError(r.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The control API against a running service: switch to the other path,
// pause (the emulator sees the session end cleanly), resume on the
// preferred path, probe, reload; without the token nothing happens.
func TestControlAPI(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	const token = "t0ken-of-the-control-api"
	file := filepath.Join(t.TempDir(), "api.token")
	require.NoError(t, os.WriteFile(file, []byte(token+"\n"), 0o600))
	cfg := strings.Replace(failoverConfig("lenient", nil, "native", ""), "  log_level = \"debug\"\n",
		"  log_level = \"debug\"\n  api_token_file = \""+file+"\"\n", 1)
	r := startService(t, cfg)
	testpeer.Eventually(t, 30*time.Second, "live on native", liveOn(r, "native"))

	code, _ := r.postAPI("/v1/streams/s/switch", "")
	require.Equal(t, http.StatusUnauthorized, code)
	code, _ = r.postAPI("/v1/streams/s/switch", "wrong-token-of-the-api")
	require.Equal(t, http.StatusUnauthorized, code)
	require.True(t, liveOn(r, "native")(), "a refused request changed the stream")

	code, body := r.postAPI("/v1/streams/s/switch", token)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "switching from native to ffmpeg")
	testpeer.Eventually(t, 30*time.Second, "live on ffmpeg", liveOn(r, "ffmpeg"))

	code, body = r.postAPI("/v1/streams/s/pause", token)
	require.Equal(t, http.StatusOK, code, body)
	testpeer.Eventually(t, 10*time.Second, "paused", func() bool { return r.stream().State == health.StatePaused })
	testpeer.Eventually(t, 10*time.Second, "no publisher at the emulator", func() bool {
		return publisher(r.emu(), "s").ID == 0
	})
	code, _, _ = r.get("/healthz")
	require.Equal(t, http.StatusOK, code, "a paused stream is healthy")
	code, _ = r.postAPI("/v1/streams/s/switch", token)
	require.Equal(t, http.StatusConflict, code)

	code, body = r.postAPI("/v1/streams/s/resume", token)
	require.Equal(t, http.StatusOK, code, body)
	testpeer.Eventually(t, 30*time.Second, "live on native again", liveOn(r, "native"))

	code, body = r.postAPI("/v1/streams/s/probe", token)
	require.Equal(t, http.StatusOK, code, body)
	code, _ = r.postAPI("/v1/streams/nope/probe", token)
	require.Equal(t, http.StatusNotFound, code)

	code, body = r.postAPI("/v1/reload", token)
	require.Equal(t, http.StatusOK, code, body)
	var out reloadOutcome
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	require.True(t, out.Reloaded)
	require.NotContains(t, r.logs.String(), token)
}

// Without api_token_file the control API is read-only.
func TestControlAPIReadOnlyWithoutAToken(t *testing.T) {
	r := startService(t, withStreams(idleStream("keep", "emulator://live/keep")))
	code, body := r.postAPI("/v1/reload", "anything-at-all-here")
	require.Equal(t, http.StatusForbidden, code, body)
	require.Contains(t, body, "read-only")
}
