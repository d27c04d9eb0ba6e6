package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/prober"
)

func TestProbeCommandAllOkOnNginx(t *testing.T) {
	n := testpeer.StartNginx(t)
	var out, errb bytes.Buffer
	code := probeCommand([]string{"-publish", n.AppURL + "/SECRETKEY123?wsSecret=abc123"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "verdict: ok") {
		t.Fatalf("exit %d:\n%s%s", code, out.String(), errb.String())
	}
	if strings.Contains(out.String(), "SECRETKEY123") || strings.Contains(out.String(), "abc123") {
		t.Fatalf("secret in probe output:\n%s", out.String())
	}
}

func TestProbeCommandJSONVerdictOnRejection(t *testing.T) {
	srv := &fmsim.Server{Listen: "127.0.0.1:0", Profile: "companion", Rules: []string{"reject_flashver=FMLE/"}}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var out, errb bytes.Buffer
	code := probeCommand([]string{"-json", "-no-bisect", srv.URL("live", "k")}, &out, &errb)
	var res prober.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || code != 1 {
		t.Fatalf("exit %d, json %v:\n%s%s", code, err, out.String(), errb.String())
	}
	if res.Verdict == nil || res.Verdict.Layer != health.LayerConnect {
		t.Fatalf("verdict %+v, want L2", res.Verdict)
	}
	if code := probeCommand([]string{"not a url"}, &out, &errb); code != 2 {
		t.Fatalf("bad URL exit %d", code)
	}
}
