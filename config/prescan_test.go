package config

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/require"
)

// realisticStreams is a config of n streams as a site of many cameras
// would write it: a source with a password, a target with a key and a
// signed query, prefer, audio, ffmpeg input_args and three failover
// settings.
func realisticStreams(n int) []byte {
	var b bytes.Buffer
	b.WriteString("service {\n  http_listen = \"127.0.0.1:8765\"\n  log_level = \"info\"\n}\n\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `stream "camera-%04d" {
  source = "rtsp://viewer:CAMERA_PASSWORD@10.1.%d.%d:554/Streaming/Channels/101"
  target = "rtmp://live-push.example.com/live/STREAMKEY%04d?wsSecret=0123456789abcdef&wsTime=65f0a1b2"
  prefer = "ffmpeg"
  audio  = "silent_if_missing"

  ffmpeg {
    input_args = ["-rtsp_transport", "tcp"]
  }

  failover {
    probe_interval  = "30s"
    failback_after  = "60s"
    attempts_per_minute = 6
  }
}

`, i, i/250, i%250, i)
	}
	return b.Bytes()
}

// refusedBeforeParsing asserts err is prescan's one problem, containing want.
func refusedBeforeParsing(t *testing.T, err error, want string) Problem {
	t.Helper()
	var ce *Error
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Len(t, ce.Problems, 1, "%v", err)
	require.Contains(t, ce.Problems[0].Message, want)
	require.Contains(t, ce.Problems[0].Message, "refused before parsing")
	return ce.Problems[0]
}

// What makes HCL's parser recurse without bound is refused before HCL sees
// it, at the position where the bound was crossed; at the bound, the file is
// parsed. Found: within the 1 MiB size limit, 200,000 nested brackets, a
// million unary minuses or bangs, and 100,000 nested template
// interpolations each overflowed the goroutine stack of the parser, a fatal
// error that no recover catches: a reload killed the service.
func TestPrescanRecursionBombs(t *testing.T) {
	nest := func(open, close string, n int) string {
		return "a = " + strings.Repeat(open, n) + "1" + strings.Repeat(close, n) + "\n"
	}
	for _, tc := range []struct {
		name string
		src  func(n int) string
		want string
	}{
		{"brackets", func(n int) string { return nest("[", "]", n) }, "nesting deeper than 32"},
		{"parentheses", func(n int) string { return nest("(", ")", n) }, "nesting deeper than 32"},
		{"objects", func(n int) string { return nest("{a=", "}", n) }, "nesting deeper than 32"},
		{"interpolations", func(n int) string { return nest(`"${`, `}"`, (n+1)/2) }, "nesting deeper than 32"},
		{"minus", func(n int) string { return "a = " + strings.Repeat("-", n) + "1\n" }, "more than 32 operators"},
		{"bang", func(n int) string { return "a = " + strings.Repeat("!", n) + "true\n" }, "more than 32 operators"},
		{"conditional", func(n int) string {
			return "a = " + strings.Repeat("true ? ", n) + "1" + strings.Repeat(" : 2", n) + "\n"
		}, "more than 32 operators"},
		{"directives", func(n int) string {
			return "a = \"" + strings.Repeat("%{if true}", n) + strings.Repeat("%{endif}", n) + "\"\n"
		}, "template directives nested deeper than 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src(32)), "ok.hcl")
			if err != nil {
				require.NotContains(t, err.Error(), "refused before parsing")
			}
			_, err = Parse([]byte(tc.src(33)), "bomb.hcl")
			p := refusedBeforeParsing(t, err, tc.want)
			require.Equal(t, 1, p.Line)
			require.Positive(t, p.Column)

			n := 200000
			for len(tc.src(n)) > MaxFileSize {
				n /= 2
			}
			src := []byte(tc.src(n))
			took, alloc := allocated(func() { _, err = Parse(src, "bomb.hcl") })
			refusedBeforeParsing(t, err, tc.want)
			require.Less(t, alloc, uint64(1<<20), "%d bytes refused in %v", len(src), took)
		})
	}
}

// Brackets, operators and quotes inside strings, comments and heredocs, and
// dashes inside names, are not counted: realistic files pass.
func TestPrescanIgnoresTextAndComments(t *testing.T) {
	var b strings.Builder
	b.WriteString("# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ ???????????????????????????????????\n")
	b.WriteString("/* ((((((((((((((((((((((((((((((((((((((((( \" !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!! */\n")
	b.WriteString("// {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{ -----------------------------------\n")
	b.WriteString("stream \"a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t-u-v-w-x-y-z-0-1-2-3-4-5\" {\n")
	b.WriteString("  source = \"rtsp://u:p@h/[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[?????????????????????????????????---------------------------------!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\\\"((((((((((((((((((((((((((((((((((\"\n")
	b.WriteString("  target = \"rtmp://h/live/key?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11&l=12&m=13&n=14&o=15&p=16&q=17&r=18&s=19&t=20&u=21&v=22&w=23&x=24&y=25&z=26&aa=27&bb=28&cc=29&dd=30&ee=31&ff=32&gg=33\"\n")
	b.WriteString("  ffmpeg {\n    input_args = [\"-rtsp_transport\", \"tcp\", \"-a\", \"-b\", \"-c\", \"-d\", \"-e\", \"-f\", \"-g\", \"-h\", \"-i\", \"-j\", \"-k\", \"-l\", \"-m\", \"-n\", \"-o\", \"-p\", \"-q\", \"-r\", \"-s\", \"-t\", \"-u\", \"-v\", \"-w\", \"-x\", \"-y\", \"-z\", \"-aa\", \"-bb\", \"-cc\", \"-dd\", \"-ee\"]\n  }\n")
	b.WriteString("}\n")
	err := prescan([]byte(b.String()), "ok.hcl")
	require.NoError(t, err)
	cfg, err := Parse([]byte(b.String()), "ok.hcl")
	require.NoError(t, err)
	require.Len(t, cfg.Streams, 1)

	require.NoError(t, prescan([]byte("x = a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t-u-v-w-x-y-z-0-1-2-3-4-5-6-7-8-9 + 1e-5\n"), "names.hcl"))
	heredoc := "a = <<EOF\n" + strings.Repeat("[[[[ ???? ---- !!!! \"\"\"\" ${1}\n", 40) + "EOF\nb = <<-X\n  ((((((((((((((((((((((((((((((((((((((((\n  X\n"
	err = prescan([]byte(heredoc), "heredoc.hcl")
	require.NoError(t, err)
}

// prescan counts tokens as HCL's scanner does (up to its end-of-file
// token): what MaxTokens bounds is what HCL would build.
func TestPrescanCountsTokensAsHCL(t *testing.T) {
	for name, src := range map[string][]byte{
		"default":   Default(),
		"realistic": realisticStreams(50),
		"diff":      []byte(diffBase),
		"a=1":       bytes.Repeat([]byte("a=1\n"), 1000),
		"list":      []byte("a = [" + strings.Repeat("1,", 1000) + "1]\n"),
		"comments":  []byte(strings.Repeat("# c\n// d\n/* e\n */ x = 1\n", 100)),
		"templates": []byte(strings.Repeat("x = \"a${b}c${d(1, [2])}e\"\n", 100)),
	} {
		toks, _ := hclsyntax.LexConfig(src, "f.hcl", hcl.InitialPos)
		n, err := scanTokens(src, "f.hcl")
		require.NoError(t, err, name)
		require.InDelta(t, len(toks), n, 0.02*float64(len(toks))+1, "%s: HCL %d tokens, prescan %d", name, len(toks), n)
	}
}

// A file of more than MaxTokens tokens is refused before HCL parses it
// (262,000 lines "a=1", within the size limit, drove the service to 425 MB
// on reload); a realistic config of 2000 streams has 146,000 and loads.
func TestPrescanTokens(t *testing.T) {
	src := bytes.Repeat([]byte("a=1\n"), (MaxFileSize-16)/4)
	var err error
	took, alloc := allocated(func() { _, err = Parse(src, "many.hcl") })
	p := refusedBeforeParsing(t, err, "more than 160000 tokens")
	require.Equal(t, MaxTokens/4+1, p.Line)
	require.Less(t, alloc, uint64(1<<20), "refused in %v", took)

	real := realisticStreams(2000)
	n, err := scanTokens(real, "real.hcl")
	require.NoError(t, err)
	var cfg *Config
	took, alloc = allocated(func() { cfg, err = Parse(real, "real.hcl") })
	t.Logf("2000 streams: %d bytes, %d tokens, parsed in %v with %.1f MB allocated", len(real), n, took, float64(alloc)/1e6)
	require.NoError(t, err)
	require.Len(t, cfg.Streams, 2000)
	require.Less(t, n, MaxTokens*95/100)
}
