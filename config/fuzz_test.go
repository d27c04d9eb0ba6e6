package config

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse: no input makes the decoder panic, a success yields a usable
// Config, and every failure is an *Error whose problems have positions.
func FuzzParse(f *testing.F) {
	f.Add(Default())
	f.Add([]byte(diffBase))
	for _, c := range badCases {
		f.Add([]byte(c.src))
	}
	for _, body := range secretTargets {
		f.Add([]byte("stream \"s\" {\n  source = \"builtin:sample\"\n  " + body + "\n}\n"))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := parse(src, "fuzz.hcl")
		if err == nil {
			checkParsed(t, cfg)
			return
		}
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) == 0 {
			t.Fatalf("error is %T: %v", err, err)
		}
		if !strings.HasPrefix(err.Error(), "fuzz.hcl:") {
			t.Fatalf("error without position: %v", err)
		}
	})
}

func checkParsed(t *testing.T, cfg *Config) {
	if cfg == nil || cfg.Source != "fuzz.hcl" || cfg.Service.HTTPListen == "" {
		t.Fatalf("config = %+v", cfg)
	}
	for _, s := range cfg.Streams {
		if s.Name == "" || s.Source == "" || s.Target == "" || !s.Equal(s) || s.Fingerprint() == "" {
			t.Fatalf("stream = %+v", s)
		}
	}
	if !Diff(cfg, cfg).Empty() {
		t.Fatal("config differs from itself")
	}
}
