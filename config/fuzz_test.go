package config

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// FuzzParse: no input makes the decoder panic, a success yields a usable
// Config, and every failure is an *Error whose problems have positions, at
// most MaxProblems of them, in a text of at most MaxErrorText bytes.
func FuzzParse(f *testing.F) {
	f.Add(Default())
	f.Add([]byte(diffBase))
	many, _ := unknownArgs(64 << 10)
	f.Add(many)
	f.Add([]byte("service {\n  x" + strings.Repeat("é", 3000) + " = 1\n}\n"))
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
		require.True(t, errors.As(err, &ce), "error is %T: %v", err, err)
		require.NotEmpty(t, ce.Problems, "error is %T: %v", err, err)
		text := err.Error()
		require.True(t, strings.HasPrefix(text, "fuzz.hcl:"), "error without position: %.300v", err)
		require.False(t, len(text) > MaxErrorText || len(ce.Problems) > MaxProblems || !utf8.ValidString(text) && utf8.Valid(src),
			"error of %d bytes with %d problems: %.300s", len(text), len(ce.Problems), text)
	})
}

func checkParsed(t *testing.T, cfg *Config) {
	require.True(t, cfg != nil && cfg.Source == "fuzz.hcl" && cfg.Service.HTTPListen != "", "config = %+v", cfg)
	for _, s := range cfg.Streams {
		require.True(t, s.Name != "" && s.Source != "" && s.Target != "" && s.Equal(s) && s.Fingerprint() != "", "stream = %+v", s)
	}
	require.True(t, Diff(cfg, cfg).Empty(), "config differs from itself")
}
