package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const diffBase = `
service {
  http_listen = "127.0.0.1:8765"
}
emulator {
  listen = "127.0.0.1:1935"
}
stream "a" {
  source = "rtsp://cam-a/1"
  target = "rtmp://push.example.com/live/KEY_A"
}
stream "b" {
  source = "rtsp://cam-b/1"
  target = "rtmp://push.example.com/live/KEY_B"
  failover {
    probe_interval = "30s"
  }
}
stream "demo" {
  source = "builtin:sample"
  target = "emulator://live/demo"
}
`

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(src), "diff.hcl")
	require.NoError(t, err, "parse:\n%s", src)
	return cfg
}

func TestDiff(t *testing.T) {
	base := mustParse(t, diffBase)
	cases := []struct {
		name string
		edit func(string) string
		want Changes
	}{
		{"identical", func(s string) string { return s }, Changes{}},
		{"comments and blank lines shift positions", func(s string) string {
			return "# a comment\n\n\n" + strings.ReplaceAll(s, "stream \"b\"", "# b follows\nstream \"b\"")
		}, Changes{}},
		{"explicit default equals implicit", func(s string) string {
			return strings.Replace(s, `target = "rtmp://push.example.com/live/KEY_A"`,
				"target = \"rtmp://push.example.com/live/KEY_A\"\n  prefer = \"native\"\n  enabled = true", 1)
		}, Changes{}},
		{"one setting of one stream", func(s string) string {
			return strings.Replace(s, `probe_interval = "30s"`, `probe_interval = "10s"`, 1)
		}, Changes{Changed: []string{"b"}}},
		{"key rotated", func(s string) string {
			return strings.Replace(s, "KEY_A", "KEY_A2", 1)
		}, Changes{Changed: []string{"a"}}},
		{"disabled", func(s string) string {
			return strings.Replace(s, `source = "rtsp://cam-a/1"`, "source = \"rtsp://cam-a/1\"\n  enabled = false", 1)
		}, Changes{Changed: []string{"a"}}},
		{"added and removed", func(s string) string {
			return strings.Replace(s, `stream "a"`, `stream "c"`, 1)
		}, Changes{Added: []string{"c"}, Removed: []string{"a"}}},
		{"service", func(s string) string {
			return strings.Replace(s, "127.0.0.1:8765", "127.0.0.1:9999", 1)
		}, Changes{ServiceChanged: true}},
		{"emulator moves: only its streams change", func(s string) string {
			return strings.Replace(s, "127.0.0.1:1935", "127.0.0.1:1936", 1)
		}, Changes{Changed: []string{"demo"}, EmulatorChanged: true}},
		{"emulator profile: its streams restart", func(s string) string {
			return strings.Replace(s, `listen = "127.0.0.1:1935"`, "listen = \"127.0.0.1:1935\"\n  profile = \"cloud\"", 1)
		}, Changes{Changed: []string{"demo"}, EmulatorChanged: true}},
		{"emulator rules only: no stream restarts", func(s string) string {
			return strings.Replace(s, `listen = "127.0.0.1:1935"`, "listen = \"127.0.0.1:1935\"\n  rules = { x = \"on\" }", 1)
		}, Changes{EmulatorChanged: true}},
		{"emulator removed: its streams change", func(s string) string {
			s = strings.Replace(s, "emulator {\n  listen = \"127.0.0.1:1935\"\n}\n", "", 1)
			return strings.Replace(s, "emulator://live/demo", "rtmp://h/live/demo", 1)
		}, Changes{Changed: []string{"demo"}, EmulatorChanged: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Diff(base, mustParse(t, c.edit(diffBase)))
			require.Equal(t, c.want, got, "Diff")
			require.Equal(t, reflect.DeepEqual(c.want, Changes{}), got.Empty(), "Empty()")
		})
	}
}

func TestDiffNil(t *testing.T) {
	cfg := mustParse(t, diffBase)
	got := Diff(nil, cfg)
	require.Equal(t, []string{"a", "b", "demo"}, got.Added, "Diff(nil, cfg) = %+v", got)
	require.True(t, got.EmulatorChanged, "Diff(nil, cfg) = %+v", got)
	require.False(t, got.ServiceChanged, "Diff(nil, cfg) = %+v", got)
	got = Diff(cfg, nil)
	require.Equal(t, []string{"a", "b", "demo"}, got.Removed, "Diff(cfg, nil) = %+v", got)
	require.True(t, Diff(nil, nil).Empty(), "Diff(nil, nil) not empty")
}

// ResolveEmulator re-points emulator targets at the bound address without
// making the stream look changed.
func TestResolveEmulator(t *testing.T) {
	old := mustParse(t, strings.Replace(diffBase, "127.0.0.1:1935", "127.0.0.1:0", 1))
	old.ResolveEmulator("127.0.0.1:41935")
	demo, _ := old.Stream("demo")
	require.Equal(t, "rtmp://127.0.0.1:41935/live/demo", demo.Target, "target")
	a, _ := old.Stream("a")
	require.Equal(t, "rtmp://push.example.com/live/KEY_A", a.Target, "non-emulator target changed")
	fresh := mustParse(t, strings.Replace(diffBase, "127.0.0.1:1935", "127.0.0.1:0", 1))
	got := Diff(old, fresh)
	require.True(t, got.Empty(), "Diff after ResolveEmulator = %+v", got)
}

func TestFingerprint(t *testing.T) {
	a := mustParse(t, diffBase)
	b := mustParse(t, "# moved\n"+diffBase)
	c := mustParse(t, strings.Replace(diffBase, "KEY_B", "KEY_B2", 1))
	for i := range a.Streams {
		require.Equal(t, a.Streams[i].Fingerprint(), b.Streams[i].Fingerprint(), "%s: fingerprint differs for equal streams", a.Streams[i].Name)
	}
	sa, _ := a.Stream("b")
	sc, _ := c.Stream("b")
	require.NotEqual(t, sa.Fingerprint(), sc.Fingerprint(), "changed stream has the same fingerprint")
	require.False(t, sa.Equal(sc), "changed stream has the same fingerprint")
	require.NotContains(t, sa.Fingerprint(), "KEY", "fingerprint = %q", sa.Fingerprint())
	require.Len(t, sa.Fingerprint(), 64, "fingerprint = %q", sa.Fingerprint())
}
