package config

import (
	"reflect"
	"strings"
	"testing"
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
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
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
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Diff = %+v, want %+v", got, c.want)
			}
			if got.Empty() != reflect.DeepEqual(c.want, Changes{}) {
				t.Errorf("Empty() = %v", got.Empty())
			}
		})
	}
}

func TestDiffNil(t *testing.T) {
	cfg := mustParse(t, diffBase)
	if got := Diff(nil, cfg); !reflect.DeepEqual(got.Added, []string{"a", "b", "demo"}) || !got.EmulatorChanged || got.ServiceChanged {
		t.Errorf("Diff(nil, cfg) = %+v", got)
	}
	if got := Diff(cfg, nil); !reflect.DeepEqual(got.Removed, []string{"a", "b", "demo"}) {
		t.Errorf("Diff(cfg, nil) = %+v", got)
	}
	if !Diff(nil, nil).Empty() {
		t.Error("Diff(nil, nil) not empty")
	}
}

// ResolveEmulator re-points emulator targets at the bound address without
// making the stream look changed.
func TestResolveEmulator(t *testing.T) {
	old := mustParse(t, strings.Replace(diffBase, "127.0.0.1:1935", "127.0.0.1:0", 1))
	old.ResolveEmulator("127.0.0.1:41935")
	demo, _ := old.Stream("demo")
	if demo.Target != "rtmp://127.0.0.1:41935/live/demo" {
		t.Errorf("target = %q", demo.Target)
	}
	if a, _ := old.Stream("a"); a.Target != "rtmp://push.example.com/live/KEY_A" {
		t.Errorf("non-emulator target changed: %q", a.Target)
	}
	fresh := mustParse(t, strings.Replace(diffBase, "127.0.0.1:1935", "127.0.0.1:0", 1))
	if got := Diff(old, fresh); !got.Empty() {
		t.Errorf("Diff after ResolveEmulator = %+v", got)
	}
}

func TestFingerprint(t *testing.T) {
	a := mustParse(t, diffBase)
	b := mustParse(t, "# moved\n"+diffBase)
	c := mustParse(t, strings.Replace(diffBase, "KEY_B", "KEY_B2", 1))
	for i := range a.Streams {
		if a.Streams[i].Fingerprint() != b.Streams[i].Fingerprint() {
			t.Errorf("%s: fingerprint differs for equal streams", a.Streams[i].Name)
		}
	}
	sa, _ := a.Stream("b")
	sc, _ := c.Stream("b")
	if sa.Fingerprint() == sc.Fingerprint() || sa.Equal(sc) {
		t.Error("changed stream has the same fingerprint")
	}
	if strings.Contains(sa.Fingerprint(), "KEY") || len(sa.Fingerprint()) != 64 {
		t.Errorf("fingerprint = %q", sa.Fingerprint())
	}
}
