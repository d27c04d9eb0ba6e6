package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"

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
	APIToken   *hcl.Attribute `hcl:"api_token_file,attr"`
	Fleet      *rawFleet      `hcl:"fleet,block"`
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
	Enabled *hcl.Attribute `hcl:"enabled,attr"`
	Source  *hcl.Attribute `hcl:"source,attr"`
	Target  *hcl.Attribute `hcl:"target,attr"`
	Targets []rawHead      `hcl:"target,block"`
	rawSettings
}

// rawSettings are what a stream block sets for its targets and a target
// block may set again for itself (rawStream.withTarget).
type rawSettings struct {
	Prefer   *hcl.Attribute `hcl:"prefer,attr"`
	Audio    *hcl.Attribute `hcl:"audio,attr"`
	FFmpeg   *rawFFmpeg     `hcl:"ffmpeg,block"`
	Native   *rawNative     `hcl:"native,block"`
	RTMP     *rawRTMP       `hcl:"rtmp,block"`
	Failover *rawFailover   `hcl:"failover,block"`
	Auth     *rawAuth       `hcl:"auth,block"`
	// Backup is the backup ingest URL, BackupMode how it is used.
	Backup     *hcl.Attribute `hcl:"backup,attr"`
	BackupMode *hcl.Attribute `hcl:"backup_mode,attr"`
}

// rawAuth is the `auth` block: the target URL is signed at every connection.
type rawAuth struct {
	Scheme *hcl.Attribute `hcl:"scheme,attr"`
	Key    *hcl.Attribute `hcl:"key,attr"`
	TTL    *hcl.Attribute `hcl:"ttl,attr"`
	UID    *hcl.Attribute `hcl:"uid,attr"`
}

// rawTarget is a `target "NAME" { }` block: its url and the stream's
// settings it overrides, attribute by attribute.
type rawTarget struct {
	URL *hcl.Attribute `hcl:"url,attr"`
	rawSettings
}

type rawFFmpeg struct {
	Driver       *hcl.Attribute `hcl:"driver,attr"`
	StaleTimeout *hcl.Attribute `hcl:"stale_timeout,attr"`
	InputArgs    *hcl.Attribute `hcl:"input_args,attr"`
	ExtraArgs    *hcl.Attribute `hcl:"extra_args,attr"`
	Input        *hcl.Attribute `hcl:"input,attr"`
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
	// ReconnectRequest is native.reconnect_request.
	ReconnectRequest *hcl.Attribute `hcl:"reconnect_request,attr"`
}

type rawRTMP struct {
	App      *hcl.Attribute `hcl:"app,attr"`
	PlayPath *hcl.Attribute `hcl:"playpath,attr"`
	TCURL    *hcl.Attribute `hcl:"tc_url,attr"`
	FlashVer *hcl.Attribute `hcl:"flashver,attr"`
	TLS      *rawTLS        `hcl:"tls,block"`
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
	if err := prescan(src, filename); err != nil {
		return nil, err
	}
	defer tightGC()()
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
	svc.APITokenFile, svc.APIToken = apiToken(s, r.APIToken)
	svc.Fleet = decodeFleet(s, r.Fleet)
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

// parseGCPercent is the garbage collector's target while HCL parses and
// decodes a file. HCL's tokens and syntax tree are garbage once the file is
// decoded; under the default target (100) the heap grows to twice what is
// live, and a reload of a realistic config of 2000 streams raised the
// service's peak RSS from 18 to 91 MB (a 1 MiB file of unknown arguments to
// 88-105 MB); at 25, to 70 and 72 MB, for about 30% more CPU in the parse.
const parseGCPercent = 25

// gcMu serialises the parses that lower the GC target, so that each
// restores what the one before it found.
var gcMu sync.Mutex

// tightGC lowers the GC target to parseGCPercent (never raises it, and
// leaves a disabled GC alone) until the returned function is called.
func tightGC() (restore func()) {
	gcMu.Lock()
	old := debug.SetGCPercent(parseGCPercent)
	if old < parseGCPercent {
		debug.SetGCPercent(old)
	}
	return func() {
		debug.SetGCPercent(old)
		gcMu.Unlock()
	}
}

// Bounds that prescan holds a file to before HCL parses it. HCL's parser
// recurses once or more for every level of nesting and every operator of a
// chain, and spends about 0.5 KB of memory for every token it keeps: within
// MaxFileSize, a file of 200,000 nested brackets overflowed the stack (a
// fatal error no recover catches: the service died on reload) and a file of
// 262,000 lines "a=1" drove the service to 425 MB.
const (
	// MaxNesting bounds how deeply brackets, parentheses, braces, quoted
	// strings, heredocs and template interpolations nest.
	MaxNesting = 32
	// MaxOperators bounds the ?, ! and - of one expression (up to a comma,
	// or a new line outside brackets), and the nesting of template
	// directives (%{if}, %{for}) in one string: each is one more level of
	// the parser's recursion.
	MaxOperators = 32
	// MaxTokens bounds a file's tokens, counted as HCL's scanner counts
	// them. A realistic config of 2000 streams (each with a source, a
	// target, prefer, audio, ffmpeg input_args and three failover settings:
	// 845 KB) has 146,000, and its reload peaks the service at 72-84 MB RSS;
	// hostile files of 160,000 tokens (attributes, blocks, one long list or
	// object) at 62-79 MB, where 200,000 reached 100 MB.
	MaxTokens = 160_000
)

// scanFrame is one level of prescan's nesting.
type scanFrame struct {
	kind byte // 0 top level; '(', '[', '{' brackets; '$' an interpolation or directive; '"' a quoted string; 'h' a heredoc
	ops  int  // operators of the expression under way; if/for directives open in a string or heredoc
	bol  bool // heredoc: at the start of a line
	// marker closes a heredoc.
	marker []byte
}

// directive is the keyword of the template directive b starts (after "%{").
func directive(b []byte) string {
	b = bytes.TrimLeft(b[:min(len(b), 64)], "~ \t")
	n := 0
	for n < len(b) && isWordByte(b[n]) {
		n++
	}
	return string(b[:n])
}

// isWordByte reports whether c may be part of an identifier or a number.
func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// prescan walks src the way HCL's scanner would (strings, heredocs,
// comments, template interpolations), without building anything, and
// refuses a file beyond MaxNesting, MaxOperators or MaxTokens: one problem,
// at the position where the bound was crossed. What HCL would reject for
// other reasons is left to HCL.
func prescan(src []byte, filename string) error {
	_, err := scanTokens(src, filename)
	return err
}

// scanTokens is prescan, returning the tokens it counted.
func scanTokens(src []byte, filename string) (int, error) {
	stack := make([]scanFrame, 1, MaxNesting+1)
	tokens := 0
	refuse := func(at int, msg string) error {
		line := 1 + bytes.Count(src[:at], []byte("\n"))
		col := at - bytes.LastIndexByte(src[:at], '\n')
		return &Error{Problems: []Problem{{Filename: filename, Line: line, Column: col,
			Message: msg + ": refused before parsing"}}}
	}
	push := func(at int, f scanFrame) error {
		if len(stack) > MaxNesting {
			return refuse(at, fmt.Sprintf("nesting deeper than %d (brackets, strings and templates)", MaxNesting))
		}
		stack = append(stack, f)
		return nil
	}
	for i := 0; i < len(src); {
		if tokens > MaxTokens {
			return tokens, refuse(i, fmt.Sprintf("more than %d tokens (a config of 2000 streams has about 150,000)", MaxTokens))
		}
		f := &stack[len(stack)-1]
		c := src[i]
		switch f.kind {
		case '"', 'h':
			if f.kind == 'h' && f.bol {
				f.bol = false
				end := bytes.IndexByte(src[i:], '\n')
				if end < 0 {
					end = len(src) - i
				}
				if bytes.Equal(bytes.TrimSpace(src[i:i+end]), f.marker) {
					stack = stack[:len(stack)-1]
					tokens++
					i += end
					continue
				}
			}
			switch {
			case c == '"' && f.kind == '"':
				stack = stack[:len(stack)-1]
				i++
			case c == '\\' && f.kind == '"':
				i += 2
			case c == '\n':
				tokens++
				i++
				if f.kind == '"' { // HCL ends an unterminated string here
					stack = stack[:len(stack)-1]
				} else {
					f.bol = true
				}
			case (c == '$' || c == '%') && i+2 < len(src) && src[i+1] == c && src[i+2] == '{':
				i += 3 // $${ and %%{ are literal
			case (c == '$' || c == '%') && i+1 < len(src) && src[i+1] == '{':
				if c == '%' {
					switch directive(src[i+2:]) {
					case "if", "for":
						if f.ops++; f.ops > MaxOperators {
							return tokens, refuse(i, fmt.Sprintf("template directives nested deeper than %d", MaxOperators))
						}
					case "endif", "endfor":
						f.ops = max(0, f.ops-1)
					}
				}
				tokens += 2
				if err := push(i, scanFrame{kind: '$'}); err != nil {
					return tokens, err
				}
				i += 2
			default:
				i++
			}
			continue
		}
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			i++
			continue
		case c == '\n':
			if f.kind == 0 || f.kind == '{' {
				f.ops = 0
			}
			i++
		case c == '#' || c == '/' && i+1 < len(src) && src[i+1] == '/':
			end := bytes.IndexByte(src[i:], '\n') // one token with its newline
			if end < 0 {
				end = len(src) - i - 1
			}
			if f.kind == 0 || f.kind == '{' {
				f.ops = 0
			}
			i += end + 1
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := bytes.Index(src[i+2:], []byte("*/"))
			if end < 0 {
				end = len(src) - i - 4
			}
			i += end + 4
		case c == '"': // OQuote, a literal, CQuote
			tokens += 2
			if err := push(i, scanFrame{kind: '"'}); err != nil {
				return tokens, err
			}
			i++
		case c == '<' && i+2 < len(src) && src[i+1] == '<' && (isWordByte(src[i+2]) || src[i+2] == '-'):
			j := i + 2
			if src[j] == '-' {
				j++
			}
			k := j
			for k < len(src) && (isWordByte(src[k]) || src[k] == '-') {
				k++
			}
			if k == j || k >= len(src) || src[k] != '\n' && src[k] != '\r' {
				i += 2 // not a heredoc: leave it to HCL
				break
			}
			tokens += 2
			if err := push(i, scanFrame{kind: 'h', marker: src[j:k]}); err != nil {
				return tokens, err
			}
			i = k + bytes.IndexByte(src[k:], '\n') + 1
			stack[len(stack)-1].bol = true
		case c == '(' || c == '[' || c == '{':
			if err := push(i, scanFrame{kind: c}); err != nil {
				return tokens, err
			}
			i++
		case c == ')' || c == ']' || c == '}':
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			i++
		case c == ',':
			f.ops = 0
			i++
		case c == '!' && i+1 < len(src) && src[i+1] == '=':
			i += 2
		case c == '?' || c == '!' || c == '-':
			if f.ops++; f.ops > MaxOperators {
				return tokens, refuse(i, fmt.Sprintf("more than %d operators (?, !, -) in one expression", MaxOperators))
			}
			i++
		case isWordByte(c):
			for i++; i < len(src) && (isWordByte(src[i]) || src[i] == '-'); i++ {
			}
		default:
			i++
		}
		tokens++
	}
	if tokens > MaxTokens {
		return tokens, refuse(len(src), fmt.Sprintf("more than %d tokens (a config of 2000 streams has about 150,000)", MaxTokens))
	}
	return tokens, nil
}
