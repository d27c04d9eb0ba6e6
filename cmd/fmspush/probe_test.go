package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/fmsim/fmsimtest"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/prober"
)

func TestProbeCommandAllOkOnNginx(t *testing.T) {
	n := testpeer.StartNginx(t)
	var out, errb bytes.Buffer
	code := probeCommand([]string{"-publish", n.AppURL + "/SECRETKEY123?wsSecret=abc123"}, &out, &errb)
	require.True(t, code == 0 && strings.Contains(out.String(), "verdict: ok"), "exit %d:\n%s%s", code, out.String(), errb.String())
	require.False(t, strings.Contains(out.String(), "SECRETKEY123") || strings.Contains(out.String(), "abc123"), "secret in probe output:\n%s", out.String())
}

func TestProbeCommandJSONVerdictOnRejection(t *testing.T) {
	srv := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: "companion", Rules: []string{"reject_flashver=FMLE/"}})
	var out, errb bytes.Buffer
	code := probeCommand([]string{"-json", "-no-bisect", srv.URL("live", "k")}, &out, &errb)
	var res prober.Result
	err := json.Unmarshal(out.Bytes(), &res)
	require.True(t, err == nil && code == 1, "exit %d, json %v:\n%s%s", code, err, out.String(), errb.String())
	require.True(t, res.Verdict != nil && res.Verdict.Layer == health.LayerConnect, "verdict %+v, want L2", res.Verdict)
	require.Equal(t, 2, probeCommand([]string{"not a url"}, &out, &errb), "bad URL exit")
}
