package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fmspush/fmspush/media"
	"github.com/hashicorp/hcl/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The shipped root config.hcl is what Default serves, and it decodes: one
// enabled demo stream from the builtin sample to the builtin emulator.
func TestShippedConfig(t *testing.T) {
	root, err := os.ReadFile("../config.hcl")
	require.NoError(t, err)
	require.True(t, bytes.Equal(root, Default()), "Default() differs from the repository-root config.hcl")
	cfg, err := Load("../config.hcl")
	require.NoError(t, err, "shipped config.hcl")
	require.Equal(t, "../config.hcl", cfg.Source, "source")
	require.Equal(t, "127.0.0.1:8765", cfg.Service.HTTPListen, "http_listen")
	require.NotNil(t, cfg.Emulator, "emulator")
	require.Equal(t, "127.0.0.1:1935", cfg.Emulator.Listen, "emulator = %+v", cfg.Emulator)
	require.Equal(t, ProfileCompanion, cfg.Emulator.Profile, "emulator = %+v", cfg.Emulator)
	demo, ok := cfg.Stream("demo")
	require.True(t, ok, "streams = %+v", cfg.Streams)
	require.Len(t, cfg.Streams, 1, "streams = %+v", cfg.Streams)
	want := Stream{Name: "demo", Enabled: true, Source: "builtin:sample", SourceKind: SourceBuiltin,
		Target: "rtmp://127.0.0.1:1935/live/demo", TargetSpec: "emulator://live/demo", Prefer: PathNative}
	got := demo
	got.Audio, got.FFmpeg, got.Native, got.RTMP, got.Failover = "", FFmpeg{}, Native{}, RTMP{}, Failover{}
	require.True(t, got.Equal(want), "demo = %+v", demo)
	_, err = ParseDefault()
	require.NoError(t, err, "ParseDefault")
}

// A stream with only source and target gets every documented default.
func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`stream "s" {
  source = "rtsp://cam/1"
  target = "rtmp://h/live/key"
}`), "d.hcl")
	require.NoError(t, err)
	require.Equal(t, defaultService(), cfg.Service, "service")
	require.Nil(t, cfg.Emulator, "emulator")
	s := cfg.Streams[0]
	want := Stream{Name: "s", Enabled: true, Source: "rtsp://cam/1", SourceKind: SourceRTSP,
		Target: "rtmp://h/live/key", TargetSpec: "rtmp://h/live/key", Prefer: PathNative, Audio: media.AudioCopy,
		FFmpeg: FFmpeg{Driver: DriverExec, StaleTimeout: 5 * time.Second, Input: InputHub},
		Native: Native{Handshake: HandshakeDigest, HeaderPolicy: HeaderAuto, ChunkSize: 4096, H265: H265Enhanced,
			SourceGrace: 10 * time.Second, GOPCacheBytes: 4 << 20, MaxDelay: 2 * time.Second, ReconnectRequest: true},
		Failover: Failover{ProbeInterval: 30 * time.Second, ProbeDepth: ProbeL2, FailbackAfter: time.Minute,
			BackoffInitial: time.Second, BackoffMax: time.Minute, AttemptsPerMinute: 6, CircuitFailures: 3,
			CircuitWindow: 5 * time.Minute, CircuitCooldown: time.Minute, StallTimeout: 3 * time.Second},
	}
	require.True(t, s.Equal(want), "got  %+v\nwant %+v", s, want)
	require.Equal(t, PathFFmpeg, s.Standby(), "standby")
}

// Every setting, written out, lands in its typed field.
func TestFullStream(t *testing.T) {
	cfg, err := Parse([]byte(`
service {
  http_listen = "0.0.0.0:9000"
  log_level   = "debug"
  log_format  = "json"
  ffmpeg_path = "/usr/local/bin/ffmpeg"
}
emulator {
  listen  = "127.0.0.1:0"
  profile = "cloud"
  rules   = { reject_flashver = "FMLE/3.0", rst_after_first_frame = "100ms" }
}
stream "cam-1.hd" {
  enabled = false
  source  = "file:///srv/clip.flv"
  target  = "rtmps://live-push.bilivideo.com/live-bvc/?streamname=live_1_2&key=abc&schedule=rtmp"
  prefer  = "ffmpeg"
  audio   = "silent_if_missing"
  ffmpeg {
    driver        = "libav"
    stale_timeout = "2500ms"
    input_args    = ["-rtsp_transport", "udp"]
    extra_args    = ["-g", "50"]
  }
  native {
    handshake         = "simple"
    flashver          = "FMLE/3.0 (compatible; native)"
    header_policy     = "type0"
    chunk_size        = 60000
    h265              = "legacy"
    source_grace      = "0s"
    max_delay         = "1500ms"
    gop_cache_bytes   = 0
    reconnect_request = false
  }
  rtmp {
    app      = "live-bvc"
    playpath = "?streamname=live_1_2&key=abc"
    tc_url   = "rtmp://live-push.bilivideo.com/live-bvc"
    flashver = "FMLE/3.0 (compatible; FMSc/1.0)"
  }
  failover {
    probe_interval      = "10s"
    probe_depth         = "L3"
    probe_target        = "emulator://probe/test"
    failback_after      = "0s"
    backoff_initial     = "500ms"
    backoff_max         = "2m"
    attempts_per_minute = 3
    circuit_failures    = 5
    circuit_window      = "10m"
    circuit_cooldown    = "30s"
    stall_timeout       = "4s"
  }
}`), "full.hcl")
	require.NoError(t, err)
	wantSvc := Service{HTTPListen: "0.0.0.0:9000", LogLevel: LogDebug, LogFormat: LogJSON, FFmpegPath: "/usr/local/bin/ffmpeg"}
	require.Equal(t, wantSvc, cfg.Service, "service")
	require.Equal(t, "debug", cfg.Service.LogLevel.HCLog().String(), "service = %+v", cfg.Service)
	e := cfg.Emulator
	require.Equal(t, "127.0.0.1:0", e.Listen, "emulator = %+v", e)
	require.Equal(t, ProfileCloud, e.Profile, "emulator = %+v", e)
	require.Equal(t, "100ms", e.Rules["rst_after_first_frame"], "emulator = %+v", e)
	s := cfg.Streams[0]
	want := Stream{Name: "cam-1.hd", Enabled: false, Source: "file:///srv/clip.flv", SourceKind: SourceFile,
		Target:     "rtmps://live-push.bilivideo.com/live-bvc/?streamname=live_1_2&key=abc&schedule=rtmp",
		TargetSpec: "rtmps://live-push.bilivideo.com/live-bvc/?streamname=live_1_2&key=abc&schedule=rtmp",
		Prefer:     PathFFmpeg, Audio: media.AudioSilentIfMissing,
		FFmpeg: FFmpeg{Driver: DriverLibav, StaleTimeout: 2500 * time.Millisecond,
			InputArgs: []string{"-rtsp_transport", "udp"}, ExtraArgs: []string{"-g", "50"}, Input: InputHub},
		Native: Native{Handshake: HandshakeSimple, FlashVer: "FMLE/3.0 (compatible; native)", HeaderPolicy: HeaderType0,
			ChunkSize: 60000, H265: H265Legacy, MaxDelay: 1500 * time.Millisecond},
		RTMP: RTMP{App: "live-bvc", PlayPath: "?streamname=live_1_2&key=abc",
			TCURL: "rtmp://live-push.bilivideo.com/live-bvc", FlashVer: "FMLE/3.0 (compatible; FMSc/1.0)"},
		Failover: Failover{ProbeInterval: 10 * time.Second, ProbeDepth: ProbeL3,
			ProbeTarget: "rtmp://127.0.0.1:0/probe/test", ProbeTargetSpec: "emulator://probe/test",
			BackoffInitial: 500 * time.Millisecond, BackoffMax: 2 * time.Minute, AttemptsPerMinute: 3,
			CircuitFailures: 5, CircuitWindow: 10 * time.Minute, CircuitCooldown: 30 * time.Second, StallTimeout: 4 * time.Second},
	}
	require.Equal(t, fmt.Sprintf("%+v", want), fmt.Sprintf("%+v", s))
	require.Equal(t, "/srv/clip.flv", s.FilePath(), "FilePath")
	require.Equal(t, PathNative, s.Standby(), "Standby")
	require.True(t, s.UsesEmulator(), "UsesEmulator")
}

// native.flashver falls back to rtmp.flashver.
func TestNativeFlashVerInherits(t *testing.T) {
	cfg, err := Parse([]byte(`stream "s" {
  source = "builtin:sample"
  target = "rtmp://h/live/key"
  rtmp { flashver = "FMLE/3.0 (compatible; X)" }
}`), "f.hcl")
	require.NoError(t, err)
	require.Equal(t, "FMLE/3.0 (compatible; X)", cfg.Streams[0].Native.FlashVer, "native flashver")
}

func TestSourceKinds(t *testing.T) {
	for src, kind := range map[string]SourceKind{
		"rtsp://admin:pw@10.0.0.2:554/Streaming/Channels/101": SourceRTSP,
		"RTSPS://cam.example.com/live":                        SourceRTSPS,
		"rtmp://origin/live/cam":                              SourceRTMP,
		"rtmps://origin:443/live/cam":                         SourceRTMPS,
		"file:clips/a.mp4":                                    SourceFile,
		"file:/abs/a.flv":                                     SourceFile,
		"builtin:sample":                                      SourceBuiltin,
	} {
		cfg, err := Parse([]byte(fmt.Sprintf("stream \"s\" {\n source = %q\n target = \"rtmp://h/a/k\"\n}\n", src)), "k.hcl")
		if !assert.NoError(t, err, src) {
			continue
		}
		assert.Equal(t, kind, cfg.Streams[0].SourceKind, "%s: kind", src)
	}
}

// A target URL shaped like Bilibili's (key in the query of the app) and a
// target with only an app plus rtmp.app/playpath are both accepted.
func TestTargetShapes(t *testing.T) {
	for _, body := range []string{
		`target = "rtmp://live-push.bilivideo.com/live-bvc/?streamname=live_1_2&key=k&schedule=rtmp&pflag=1"`,
		`target = "rtmp://push.example.com/live/KEY?wsSecret=s&wsTime=65f0a1b2"`,
		"target = \"rtmp://push.example.com\"\n rtmp {\n app = \"live\"\n playpath = \"KEY\"\n }",
		`target = "RTMP://Push.Example.com:1935/live/KEY"`,
	} {
		src := "stream \"s\" {\n source = \"builtin:sample\"\n " + body + "\n}\n"
		_, err := Parse([]byte(src), "t.hcl")
		assert.NoError(t, err, body)
	}
}

// badCase is a config that must fail with file:line and the field named.
type badCase struct {
	name  string
	src   string
	line  int    // the line the first problem must point at
	field string // must appear in the error text
}

const okStream = "  source = \"builtin:sample\"\n  target = \"rtmp://h/live/key\"\n"

var badCases = []badCase{
	{"unknown field", "stream \"s\" {\n" + okStream + "  bogus_field = 1\n}\n", 4, "bogus_field"},
	{"unknown nested field", "stream \"s\" {\n" + okStream + "  failover {\n    probe_intervall = \"30s\"\n  }\n}\n", 5, "probe_intervall"},
	{"unknown block", "streams \"s\" {\n}\n", 1, "streams"},
	{"unknown service field", "service {\n  listen = \"127.0.0.1:1\"\n}\n", 2, "listen"},
	{"bad duration", "stream \"s\" {\n" + okStream + "  failover {\n    probe_interval = \"30 seconds\"\n  }\n}\n", 5, "probe_interval"},
	{"duration without unit", "stream \"s\" {\n" + okStream + "  ffmpeg {\n    stale_timeout = \"5\"\n  }\n}\n", 5, "stale_timeout"},
	{"negative duration", "stream \"s\" {\n" + okStream + "  native {\n    source_grace = \"-1s\"\n  }\n}\n", 5, "source_grace"},
	{"zero probe interval", "stream \"s\" {\n" + okStream + "  failover {\n    probe_interval = \"0s\"\n  }\n}\n", 5, "probe_interval"},
	{"duplicate stream name", "stream \"s\" {\n" + okStream + "}\n\nstream \"s\" {\n" + okStream + "}\n", 6, `"s"`},
	{"missing source", "stream \"s\" {\n  target = \"rtmp://h/live/key\"\n}\n", 1, "source"},
	{"missing target", "stream \"s\" {\n  source = \"builtin:sample\"\n}\n", 1, "target"},
	{"bad source scheme", "stream \"s\" {\n  source = \"http://cam/x.m3u8\"\n  target = \"rtmp://h/live/key\"\n}\n", 2, "source"},
	{"source without host", "stream \"s\" {\n  source = \"rtsp:///x\"\n  target = \"rtmp://h/live/key\"\n}\n", 2, "source"},
	{"bad builtin", "stream \"s\" {\n  source = \"builtin:bars\"\n  target = \"rtmp://h/live/key\"\n}\n", 2, "source"},
	{"empty file source", "stream \"s\" {\n  source = \"file:\"\n  target = \"rtmp://h/live/key\"\n}\n", 2, "source"},
	{"bad target scheme", "stream \"s\" {\n  source = \"builtin:sample\"\n  target = \"srt://h:9000\"\n}\n", 3, "target"},
	{"target without app", "stream \"s\" {\n  source = \"builtin:sample\"\n  target = \"rtmp://h\"\n}\n", 3, "target"},
	{"target bad port", "stream \"s\" {\n  source = \"builtin:sample\"\n  target = \"rtmp://h:70000/live/k\"\n}\n", 3, "target"},
	{"emulator target without emulator", "stream \"s\" {\n  source = \"builtin:sample\"\n  target = \"emulator://live/demo\"\n}\n", 3, "target"},
	{"emulator target without name", "emulator {}\nstream \"s\" {\n  source = \"builtin:sample\"\n  target = \"emulator://live\"\n}\n", 4, "target"},
	{"prefer bogus", "stream \"s\" {\n" + okStream + "  prefer = \"bogus\"\n}\n", 4, "prefer"},
	{"audio bogus", "stream \"s\" {\n" + okStream + "  audio = \"loud\"\n}\n", 4, "audio"},
	{"driver bogus", "stream \"s\" {\n" + okStream + "  ffmpeg {\n    driver = \"gstreamer\"\n  }\n}\n", 5, "driver"},
	{"handshake bogus", "stream \"s\" {\n" + okStream + "  native {\n    handshake = \"fancy\"\n  }\n}\n", 5, "handshake"},
	{"header policy bogus", "stream \"s\" {\n" + okStream + "  native {\n    header_policy = \"type1\"\n  }\n}\n", 5, "header_policy"},
	{"h265 bogus", "stream \"s\" {\n" + okStream + "  native {\n    h265 = \"hevc\"\n  }\n}\n", 5, "h265"},
	{"negative chunk size", "stream \"s\" {\n" + okStream + "  native {\n    chunk_size = -5\n  }\n}\n", 5, "chunk_size"},
	{"fractional chunk size", "stream \"s\" {\n" + okStream + "  native {\n    chunk_size = 4096.5\n  }\n}\n", 5, "chunk_size"},
	{"chunk size not a number", "stream \"s\" {\n" + okStream + "  native {\n    chunk_size = \"big\"\n  }\n}\n", 5, "chunk_size"},
	{"negative gop cache", "stream \"s\" {\n" + okStream + "  native {\n    gop_cache_bytes = -1\n  }\n}\n", 5, "gop_cache_bytes"},
	{"negative attempts", "stream \"s\" {\n" + okStream + "  failover {\n    attempts_per_minute = -1\n  }\n}\n", 5, "attempts_per_minute"},
	{"zero circuit failures", "stream \"s\" {\n" + okStream + "  failover {\n    circuit_failures = 0\n  }\n}\n", 5, "circuit_failures"},
	{"probe depth bogus", "stream \"s\" {\n" + okStream + "  failover {\n    probe_depth = \"L9\"\n  }\n}\n", 5, "probe_depth"},
	{"publishing probe without probe target", "stream \"s\" {\n" + okStream + "  failover {\n    probe_depth = \"L3\"\n  }\n}\n", 5, "probe_target"},
	{"probe target is the live target", "stream \"s\" {\n" + okStream + "  failover {\n    probe_target = \"rtmp://h/live/key\"\n  }\n}\n", 5, "probe_target"},
	{"backoff max below initial", "stream \"s\" {\n" + okStream + "  failover {\n    backoff_initial = \"10s\"\n    backoff_max = \"5s\"\n  }\n}\n", 6, "backoff_max"},
	{"enabled not bool", "stream \"s\" {\n" + okStream + "  enabled = \"yes\"\n}\n", 4, "enabled"},
	{"extra args not a list", "stream \"s\" {\n" + okStream + "  ffmpeg {\n    extra_args = \"-g 50\"\n  }\n}\n", 5, "extra_args"},
	{"bad tc_url", "stream \"s\" {\n" + okStream + "  rtmp {\n    tc_url = \"http://h/live\"\n  }\n}\n", 5, "tc_url"},
	{"duplicate nested block", "stream \"s\" {\n" + okStream + "  ffmpeg {}\n  ffmpeg {}\n}\n", 5, "ffmpeg"},
	{"bad stream name", "stream \"bad name!\" {\n" + okStream + "}\n", 1, "bad stream name"},
	{"log level bogus", "service {\n  log_level = \"verbose\"\n}\n", 2, "log_level"},
	{"log format bogus", "service {\n  log_format = \"xml\"\n}\n", 2, "log_format"},
	{"http listen without port", "service {\n  http_listen = \"8765\"\n}\n", 2, "http_listen"},
	{"empty ffmpeg path", "service {\n  ffmpeg_path = \"\"\n}\n", 2, "ffmpeg_path"},
	{"emulator profile bogus", "emulator {\n  profile = \"strict\"\n}\n", 2, "profile"},
	{"emulator rules not a map", "emulator {\n  rules = [\"a\"]\n}\n", 2, "rules"},
	{"two service blocks", "service {}\nservice {}\n", 2, "service"},
	{"syntax error", "stream \"s\" {\n" + okStream + "  prefer = \n}\n", 4, "prefer"},
	{"variables not allowed", "stream \"s\" {\n" + okStream + "  prefer = var.p\n}\n", 4, "prefer"},
}

func TestBadConfigs(t *testing.T) {
	for _, c := range badCases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.src), "bad.hcl")
			require.Error(t, err, "no error for:\n%s", c.src)
			text := err.Error()
			pos := regexp.MustCompile(fmt.Sprintf(`(^|; )bad\.hcl:%d:[1-9][0-9]*: `, c.line))
			require.Regexp(t, pos, text, "error does not point at bad.hcl:%d:COL", c.line)
			require.Contains(t, text, c.field, "error does not name %q", c.field)
			var ce *Error
			require.True(t, errors.As(err, &ce), "error is %T, want *config.Error", err)
			require.NotEmpty(t, ce.Problems, "error is %T, want *config.Error", err)
		})
	}
}

// Every problem in one file is reported at once, in file order.
func TestAllProblemsReported(t *testing.T) {
	src := "stream \"a\" {\n" + okStream + "  prefer = \"x\"\n}\nstream \"b\" {\n  source = \"builtin:sample\"\n}\n"
	_, err := Parse([]byte(src), "many.hcl")
	var ce *Error
	require.True(t, errors.As(err, &ce), "err = %v", err)
	require.Len(t, ce.Problems, 2, "err = %v", err)
	p0, p1 := ce.Problems[0], ce.Problems[1]
	require.True(t, p0.Line == 4 && p0.Field == "prefer" && p0.Block == `stream "a"` && p1.Line == 6 && p1.Field == "target",
		"problems = %+v", ce.Problems)
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.hcl")
	require.ErrorIs(t, err, os.ErrNotExist)
}

// secretTargets are bad targets (and bad configs around a target) carrying
// a stream key and an auth query value.
var secretTargets = []string{
	`target = "http://h/live/SECRETKEY123?wsSecret=abc123"`,
	`target = "rtmp:///live/SECRETKEY123?wsSecret=abc123"`,
	`target = "rtmp://h:99999/live/SECRETKEY123?wsSecret=abc123"`,
	`target = "rtmp://h%zz/live/SECRETKEY123?wsSecret=abc123"`,
	`target = "rtmp:SECRETKEY123?wsSecret=abc123"`,
	`target = "SECRETKEY123?wsSecret=abc123"`,
	`target = "emulator://live/SECRETKEY123?wsSecret=abc123"`,
	`target = "rtmp://h/live/SECRETKEY123?wsSecret=abc123`,
	`target = rtmp://h/live/SECRETKEY123?wsSecret=abc123`,
	`target = ["rtmp://h/live/SECRETKEY123?wsSecret=abc123"]`,
	`target = 5 + "rtmp://h/live/SECRETKEY123?wsSecret=abc123"`,
	`target = "rtmp://h/live/${SECRETKEY123}?wsSecret=abc123"`,
	"target = \"rtmp://h/live/SECRETKEY123?wsSecret=abc123\"\n  prefer = \"rtmp://h/live/SECRETKEY123?wsSecret=abc123\"",
	"target = \"rtmp://h/live/SECRETKEY123?wsSecret=abc123\"\n  failover {\n    probe_target = \"rtmp://h/live/SECRETKEY123?wsSecret=abc123\"\n  }",
	"target = \"rtmp://h/live/x\"\n  rtmp {\n    tc_url = \"ftp://h/live/SECRETKEY123?wsSecret=abc123\"\n  }",
	"target = \"rtmp://h/live/x\"\n  failover {\n    probe_target = \"http://h/live/SECRETKEY123?wsSecret=abc123\"\n  }",
	"target = \"rtmp://h/live/x\"\n  target = \"rtmp://h/live/SECRETKEY123?wsSecret=abc123\"",
}

// No error text, nor any Problem field, ever contains the stream key or the
// auth query value of a target, however the target is broken.
func TestErrorsNeverShowSecrets(t *testing.T) {
	for _, body := range secretTargets {
		for _, source := range []string{"builtin:sample", "rtsp://admin:SECRETKEY123@/cam?wsSecret=abc123"} {
			src := fmt.Sprintf("stream \"s\" {\n  source = %q\n  %s\n}\n", source, body)
			_, err := Parse([]byte(src), "secret.hcl")
			if !assert.Error(t, err, "no error for:\n%s", src) {
				continue
			}
			text := fmt.Sprintf("%v %+v %#v", err, err, err)
			for _, secret := range []string{"SECRETKEY123", "abc123"} {
				assert.NotContains(t, text, secret, "%q leaked", secret)
			}
			assert.Contains(t, text, "secret.hcl:", "no position")
		}
	}
}

// A camera password holding '/' makes the URL unparseable; the error names
// the problem and never echoes the URL (Hostile input, finding 5).
func TestUnparseableSourceNotEchoed(t *testing.T) {
	for _, source := range []string{
		"rtsp://admin:pa/SECRET99@10.0.0.2/ch1",
		"rtsp://admin:pa/SECRET99@10.0.0.2:99999/ch1",
		"rtsp://admin:SECRET99%zz@10.0.0.2/ch1",
	} {
		src := fmt.Sprintf("stream \"s\" {\n  source = %q\n  target = \"rtmp://h/live/k\"\n}\n", source)
		_, err := Parse([]byte(src), "cam.hcl")
		require.Error(t, err, source)
		require.NotContains(t, err.Error(), "SECRET99", source)
		require.NotContains(t, err.Error(), "pa/", source)
		require.Contains(t, err.Error(), "cam.hcl:2:", source)
	}
}

// Every attribute of the schema is documented in docs/config.md, and every
// complete example there (```hcl fences) decodes.
func TestDocsCoverSchema(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	require.NoError(t, err)
	for _, raw := range []any{rawFile{}, rawService{}, rawEmulator{}, rawStream{}, rawFFmpeg{}, rawNative{}, rawRTMP{}, rawTLS{}, rawFailover{}, rawFleet{}} {
		for _, a := range schemaOfValue(raw).Attributes {
			assert.True(t, bytes.Contains(doc, []byte("`"+a.Name+"`")), "docs/config.md does not document `%s`", a.Name)
		}
	}
	fences := regexp.MustCompile("(?s)```hcl\n(.*?)```").FindAllSubmatch(doc, -1)
	require.GreaterOrEqual(t, len(fences), 3, "only %d hcl examples in docs/config.md", len(fences))
	for i, f := range fences {
		_, err := Parse(f[1], fmt.Sprintf("docs example %d", i+1))
		assert.NoError(t, err, "docs example %d does not decode:\n%s", i+1, f[1])
	}
}

func schemaOfValue(v any) *hcl.BodySchema { return schemaOf(reflect.TypeOf(v)) }

// Emulator rule values may be written as numbers or bools; they arrive as strings.
func TestEmulatorRulesScalars(t *testing.T) {
	cfg, err := Parse([]byte("emulator {\n  rules = { require_digest = true, stream_id = 9, rst_delay = \"100ms\" }\n}\n"), "r.hcl")
	require.NoError(t, err)
	want := map[string]string{"require_digest": "true", "stream_id": "9", "rst_delay": "100ms"}
	require.Equal(t, want, cfg.Emulator.Rules, "rules")
}

// Every range error names the field, the value and both bounds, at the
// value's file:line:col.
func TestRangeErrorsNameBothBounds(t *testing.T) {
	for _, c := range []struct{ block, attr, want string }{
		{"failover", `attempts_per_minute = 1000`, "attempts_per_minute = 1000 is out of range 1..600"},
		{"failover", `attempts_per_minute = 0`, "attempts_per_minute = 0 is out of range 1..600"},
		{"failover", `circuit_failures = 0`, "circuit_failures = 0 is out of range 1..10000"},
		{"failover", `probe_interval = "1ns"`, `probe_interval = "1ns" is out of range 250ms..24h`},
		{"failover", `probe_interval = "100ms"`, `probe_interval = "100ms" is out of range 250ms..24h`},
		{"failover", `probe_interval = "0s"`, `probe_interval = "0s" is out of range 250ms..24h`},
		{"failover", `stall_timeout = "0s"`, `stall_timeout = "0s" is out of range 1ns..10m`},
		{"failover", `failback_after = "48h"`, `failback_after = "48h" is out of range 0s..24h`},
		{"native", `source_grace = "-1s"`, `source_grace = "-1s" is out of range 0s..1h`},
		{"native", `chunk_size = 100`, "chunk_size = 100 is out of range 128..16777215"},
		{"native", `gop_cache_bytes = -1`, "gop_cache_bytes = -1 is out of range 0..268435456"},
		{"ffmpeg", `stale_timeout = "1h"`, `stale_timeout = "1h" is out of range 1ns..10m`},
	} {
		src := "stream \"s\" {\n" + okStream + "  " + c.block + " {\n    " + c.attr + "\n  }\n}\n"
		_, err := Parse([]byte(src), "range.hcl")
		if !assert.Error(t, err, "%s: no error", c.attr) {
			continue
		}
		field := c.block + "." + strings.SplitN(c.attr, " ", 2)[0]
		assert.True(t, strings.Contains(err.Error(), "range.hcl:5:") && strings.Contains(err.Error(), field+": "+c.want),
			"%s:\n got %s\nwant range.hcl:5:COL: stream \"s\": %s: %s", c.attr, err, field, c.want)
	}
	// The bounds themselves are accepted.
	src := "stream \"s\" {\n" + okStream + "  failover {\n    probe_interval = \"250ms\"\n    attempts_per_minute = 600\n  }\n}\n"
	_, err := Parse([]byte(src), "ok.hcl")
	require.NoError(t, err, "bounds rejected")
}

// unknownArgs is a file of n bytes or a little less: one unknown argument a
// line, as the "Hostile input" issue's 5 MB file; lines is how many.
func unknownArgs(n int) (src []byte, lines int) {
	var b bytes.Buffer
	for {
		line := fmt.Sprintf("unknown_argument_%d = 1\n", lines)
		if b.Len()+len(line) > n {
			return b.Bytes(), lines
		}
		b.WriteString(line)
		lines++
	}
}

// allocated runs fn and returns how long it took and the bytes the process
// allocated meanwhile.
func allocated(fn func()) (time.Duration, uint64) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	fn()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	return took, after.TotalAlloc - before.TotalAlloc
}

// A file over MaxFileSize is one problem saying so, refused by its size
// without being parsed: before, a 5 MB file of unknown arguments took 5 s,
// allocated 843 MB and gave a 32 MB error.
func TestHugeFileRefusedBySize(t *testing.T) {
	src, _ := unknownArgs(5 << 20)
	path := filepath.Join(t.TempDir(), "config.hcl")
	require.NoError(t, os.WriteFile(path, src, 0o600))
	for name, load := range map[string]func() error{
		"Load":  func() error { _, err := Load(path); return err },
		"Parse": func() error { _, err := Parse(src, path); return err },
	} {
		var err error
		took, alloc := allocated(func() { err = load() })
		t.Logf("%s: %v in %v, %d bytes allocated", name, err, took, alloc)
		var ce *Error
		require.True(t, errors.As(err, &ce), "%s: err = %v", name, err)
		require.True(t, len(ce.Problems) == 1 && ce.More == 0, "%s: err = %v", name, err)
		want := fmt.Sprintf("%s: 5.0 MiB (%d bytes) is larger than the 1 MiB limit of a config file", path, len(src))
		require.EqualError(t, err, want, name)
		require.True(t, took <= time.Second && alloc <= 1<<20, "%s: took %v and allocated %d bytes: the file was read or parsed", name, took, alloc)
	}
	// A file that is not a regular one is read no further than the limit.
	if _, err := os.Stat("/dev/zero"); err == nil {
		_, err := Load("/dev/zero")
		require.EqualError(t, err, "/dev/zero: more than 1 MiB is larger than the 1 MiB limit of a config file", "/dev/zero")
	}
	// At the limit, the file is parsed.
	src, _ = unknownArgs(MaxFileSize)
	_, err := Parse(src, "limit.hcl")
	require.Error(t, err, "a file of %d bytes", len(src))
	require.NotContains(t, err.Error(), "limit of a config file", "a file of %d bytes", len(src))
}

// A file within the size limit but full of problems reports the first
// MaxProblems by position and "and N more", in at most MaxErrorText bytes:
// before, a 1 MiB file gave a 6.4 MB error (a 5 MB one 32 MB: the status
// API's config.last_error and two log lines a reload).
func TestManyProblemsBounded(t *testing.T) {
	src, lines := unknownArgs(MaxFileSize - 64)
	path := filepath.Join(t.TempDir(), "config.hcl")
	require.NoError(t, os.WriteFile(path, src, 0o600))
	var err error
	took, alloc := allocated(func() { _, err = Load(path) })
	t.Logf("%d problems: error of %d bytes in %v, %.1f MB allocated (HCL's parse and diagnostics)",
		lines, len(err.Error()), took, float64(alloc)/1e6)
	var ce *Error
	require.True(t, errors.As(err, &ce), "err = %.300v", err)
	require.True(t, len(ce.Problems) == MaxProblems && ce.More == lines-MaxProblems, "err = %.300v", err)
	for i, p := range ce.Problems {
		require.True(t, p.Line == i+1 && strings.Contains(p.Message, fmt.Sprintf(`"unknown_argument_%d"`, i)), "problem %d = %+v", i, p)
	}
	text := err.Error()
	require.True(t, len(text) <= MaxErrorText && strings.HasSuffix(text, fmt.Sprintf("; and %d more", lines-MaxProblems)),
		"error of %d bytes: ...%s", len(text), text[max(0, len(text)-200):])
	// HCL's own parse and diagnostics of the file cost what they cost
	// (140 MB allocated, 0.5 s; more under -race): MaxFileSize bounds them.
	require.LessOrEqual(t, took, 20*time.Second, "took %v", took)
}

// One huge problem (an unknown argument with a 100 kB name) is cut, and the
// error text stays within MaxErrorText on a rune boundary.
func TestLongProblemCut(t *testing.T) {
	name := strings.Repeat("é", 50000)
	_, err := Parse([]byte("service {\n  x"+name+" = 1\n}\n"), "long.hcl")
	var ce *Error
	require.True(t, errors.As(err, &ce), "err = %.300v", err)
	require.Len(t, ce.Problems, 1, "err = %.300v", err)
	text := err.Error()
	require.True(t, len(ce.Problems[0].Message) <= 512 && len(text) <= MaxErrorText && utf8.ValidString(text) && strings.HasSuffix(text, "…"),
		"message of %d bytes, error of %d bytes: %.200s", len(ce.Problems[0].Message), len(text), text)
	e := &Error{More: 3}
	for i := range 20 {
		e.Problems = append(e.Problems, Problem{Filename: "f.hcl", Line: i + 1, Column: 1, Message: strings.Repeat("ü", 300)})
	}
	text = e.Error()
	require.True(t, len(text) <= MaxErrorText && utf8.ValidString(text), "error of %d bytes", len(text))
}
