package config

import (
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// The raw schema (see decodeBody). Attributes stay *hcl.Attribute so that
// every value keeps its range for validation errors.
type rawFile struct {
	Service  *rawService  `hcl:"service,block"`
	Emulator *rawEmulator `hcl:"emulator,block"`
	Streams  []rawHead    `hcl:"stream,block"`
}

type rawService struct {
	HTTPListen *hcl.Attribute `hcl:"http_listen,attr"`
	LogLevel   *hcl.Attribute `hcl:"log_level,attr"`
	LogFormat  *hcl.Attribute `hcl:"log_format,attr"`
	FFmpegPath *hcl.Attribute `hcl:"ffmpeg_path,attr"`
}

type rawEmulator struct {
	Listen  *hcl.Attribute `hcl:"listen,attr"`
	Profile *hcl.Attribute `hcl:"profile,attr"`
	Rules   *hcl.Attribute `hcl:"rules,attr"`
}

// rawHead is a stream block before its body is decoded, so that problems in
// the body can name the stream.
type rawHead struct {
	Name      string
	NameRange hcl.Range
	DefRange  hcl.Range
	Body      hcl.Body
}

type rawStream struct {
	Enabled  *hcl.Attribute `hcl:"enabled,attr"`
	Source   *hcl.Attribute `hcl:"source,attr"`
	Target   *hcl.Attribute `hcl:"target,attr"`
	Prefer   *hcl.Attribute `hcl:"prefer,attr"`
	Audio    *hcl.Attribute `hcl:"audio,attr"`
	FFmpeg   *rawFFmpeg     `hcl:"ffmpeg,block"`
	Native   *rawNative     `hcl:"native,block"`
	RTMP     *rawRTMP       `hcl:"rtmp,block"`
	Failover *rawFailover   `hcl:"failover,block"`
}

type rawFFmpeg struct {
	Driver       *hcl.Attribute `hcl:"driver,attr"`
	StaleTimeout *hcl.Attribute `hcl:"stale_timeout,attr"`
	InputArgs    *hcl.Attribute `hcl:"input_args,attr"`
	ExtraArgs    *hcl.Attribute `hcl:"extra_args,attr"`
}

type rawNative struct {
	Handshake     *hcl.Attribute `hcl:"handshake,attr"`
	FlashVer      *hcl.Attribute `hcl:"flashver,attr"`
	HeaderPolicy  *hcl.Attribute `hcl:"header_policy,attr"`
	ChunkSize     *hcl.Attribute `hcl:"chunk_size,attr"`
	H265          *hcl.Attribute `hcl:"h265,attr"`
	SourceGrace   *hcl.Attribute `hcl:"source_grace,attr"`
	MaxDelay      *hcl.Attribute `hcl:"max_delay,attr"`
	GOPCacheBytes *hcl.Attribute `hcl:"gop_cache_bytes,attr"`
}

type rawRTMP struct {
	App      *hcl.Attribute `hcl:"app,attr"`
	PlayPath *hcl.Attribute `hcl:"playpath,attr"`
	TCURL    *hcl.Attribute `hcl:"tc_url,attr"`
	FlashVer *hcl.Attribute `hcl:"flashver,attr"`
}

type rawFailover struct {
	ProbeInterval     *hcl.Attribute `hcl:"probe_interval,attr"`
	ProbeDepth        *hcl.Attribute `hcl:"probe_depth,attr"`
	ProbeTarget       *hcl.Attribute `hcl:"probe_target,attr"`
	FailbackAfter     *hcl.Attribute `hcl:"failback_after,attr"`
	BackoffInitial    *hcl.Attribute `hcl:"backoff_initial,attr"`
	BackoffMax        *hcl.Attribute `hcl:"backoff_max,attr"`
	AttemptsPerMinute *hcl.Attribute `hcl:"attempts_per_minute,attr"`
	CircuitFailures   *hcl.Attribute `hcl:"circuit_failures,attr"`
	CircuitWindow     *hcl.Attribute `hcl:"circuit_window,attr"`
	CircuitCooldown   *hcl.Attribute `hcl:"circuit_cooldown,attr"`
	StallTimeout      *hcl.Attribute `hcl:"stall_timeout,attr"`
}

// MaxFileSize bounds the configuration file: a bigger one is refused by its
// size, without being read whole or parsed (a 5 MB file of unknown
// arguments cost 843 MB of allocations and a 32 MB error before).
const MaxFileSize = 1 << 20

// Load reads, decodes and validates the configuration file at path.
func Load(path string) (*Config, error) {
	src, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(src, path)
}

// readFile reads at most MaxFileSize bytes of path; a bigger file is an
// *Error saying so, read no further than MaxFileSize+1 bytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxFileSize {
		return nil, tooLarge(path, fi.Size())
	}
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if len(src) > MaxFileSize {
		return nil, tooLarge(path, -1) // it grew, or it is not a regular file
	}
	return src, nil
}

// tooLarge is the one problem of a file over MaxFileSize (size -1: unknown).
func tooLarge(filename string, size int64) error {
	what := "more than 1 MiB"
	if size >= 0 {
		what = fmt.Sprintf("%.1f MiB (%d bytes)", float64(size)/(1<<20), size)
	}
	return &Error{Problems: []Problem{{Filename: filename,
		Message: what + " is larger than the 1 MiB limit of a config file"}}}
}

// Parse decodes and validates src; filename is used in error positions and
// becomes Config.Source. A failure is an *Error. Parse never panics: a panic
// inside the HCL library becomes an error, so that a broken file can never
// take the service down. A src larger than MaxFileSize is refused unparsed.
func Parse(src []byte, filename string) (cfg *Config, err error) {
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, fmt.Errorf("%s: internal error decoding config: %s", filename, truncate(fmt.Sprint(r), maxMessage))
		}
	}()
	if len(src) > MaxFileSize {
		return nil, tooLarge(filename, int64(len(src)))
	}
	return parse(src, filename)
}

// parse is Parse without the recover, so that the fuzz test sees our panics.
func parse(src []byte, filename string) (*Config, error) {
	ps := &problems{}
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		ps.addSyntaxDiags(diags, src)
		return nil, ps.err()
	}
	var raw rawFile
	ps.addDiags(decodeBody(file.Body, &raw), "", "")
	cfg := &Config{Source: filename}
	cfg.Service = decodeService(ps, raw.Service)
	cfg.Emulator = decodeEmulator(ps, raw.Emulator)
	cfg.Streams = decodeStreams(ps, raw.Streams, cfg.Emulator)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func decodeService(ps *problems, r *rawService) Service {
	svc := defaultService()
	if r == nil {
		return svc
	}
	s := scope{ps: ps, block: "service"}
	svc.HTTPListen = listenAddr(s, r.HTTPListen, DefaultHTTPListen)
	svc.LogLevel = enum(s, r.LogLevel, DefaultLogLevel, LogTrace, LogDebug, LogInfo, LogWarn, LogError)
	svc.LogFormat = enum(s, r.LogFormat, DefaultLogFormat, LogText, LogJSON)
	svc.FFmpegPath = nonEmpty(s, r.FFmpegPath, DefaultFFmpegPath)
	return svc
}

func decodeEmulator(ps *problems, r *rawEmulator) *Emulator {
	if r == nil {
		return nil
	}
	s := scope{ps: ps, block: "emulator"}
	return &Emulator{
		Listen:  listenAddr(s, r.Listen, DefaultEmulatorListen),
		Profile: enum(s, r.Profile, DefaultEmulatorProfile, ProfileLenient, ProfileCloud, ProfileCompanion),
		Rules:   s.strmap(r.Rules),
	}
}

// nonEmpty decodes an optional string that must not be empty when set.
func nonEmpty(s scope, a *hcl.Attribute, def string) string {
	v := s.str(a, def)
	if v == "" {
		s.fail(a, "must not be empty")
		return def
	}
	return v
}
