// Package config is fmspush's configuration: the HCL schema (decoded with
// hashicorp/hcl/v2), its defaults and validation, the diff that drives
// hot reload, and the Watcher that notices when the file changes.
//
// Every decoding or validation error is an *Error whose text names
// file:line:column and the field; no error text ever contains a stream key or
// an auth query value (URLs go through redact.URL, targets are never echoed).
//
// The reference for the file format is docs/config.md; the embedded default is
// the repository-root config.hcl (see Default).
package config

import (
	"strings"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/signurl"
	"github.com/hashicorp/go-hclog"
)

// Config is one decoded and validated configuration file.
type Config struct {
	// Service holds the process-wide settings (always filled, with defaults).
	Service Service
	// Emulator is the builtin emulator to start inside the service, or nil
	// when the file has no emulator block.
	Emulator *Emulator
	// Streams are the stream blocks in file order, one for each target of a
	// block (a block with target blocks gives one Stream a target, in the
	// blocks' order); IDs unique.
	Streams []Stream
	// Source is the file name the config was decoded from (Load's path or
	// Parse's filename).
	Source string
}

// Stream returns the stream whose ID is id ("name", or "name/target").
func (c *Config) Stream(id string) (Stream, bool) {
	for _, s := range c.Streams {
		if s.ID() == id {
			return s, true
		}
	}
	return Stream{}, false
}

// Service is the `service` block.
type Service struct {
	// HTTPListen is the status/metrics listen address, host:port
	// (default "127.0.0.1:8765").
	HTTPListen string
	// LogLevel is the minimum level logged (default info).
	LogLevel LogLevel
	// LogFormat is text or json (default text).
	LogFormat LogFormat
	// FFmpegPath is the ffmpeg binary the exec driver runs (default "ffmpeg",
	// looked up in PATH).
	FFmpegPath string
	// APITokenFile names the file holding the control API's bearer token
	// ("" : the API is read-only); APIToken is its content, read at load
	// (a secret: never shown).
	APITokenFile, APIToken string
	// Fleet is the fleet block: the streams shared with other nodes through
	// etcd (nil: this node runs every stream).
	Fleet *Fleet
}

// Equal reports whether two service blocks are the same.
func (s Service) Equal(o Service) bool {
	a, b := s, o
	a.Fleet, b.Fleet = nil, nil
	return a == b && s.Fleet.Equal(o.Fleet)
}

// LogLevel is a go-hclog level name: trace, debug, info, warn or error.
type LogLevel string

// The log levels.
const (
	LogTrace LogLevel = "trace"
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

// HCLog returns the go-hclog level.
func (l LogLevel) HCLog() hclog.Level { return hclog.LevelFromString(string(l)) }

// LogFormat is how log lines are written.
type LogFormat string

// The log formats.
const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

// Emulator is the `emulator` block: the builtin strict FMS emulator that the
// service starts when the block is present.
type Emulator struct {
	// Listen is the RTMP listen address, host:port (default "127.0.0.1:1935").
	// Port 0 picks a free port; see Config.ResolveEmulator.
	Listen string
	// Profile is the emulator's strictness profile (default companion).
	Profile EmulatorProfile
	// Rules switches individual emulator rules (names and values are the
	// emulator's); nil when none are set.
	Rules map[string]string
}

// EmulatorProfile is the emulator's profile: lenient, cloud or companion.
type EmulatorProfile string

// The emulator profiles.
const (
	ProfileLenient   EmulatorProfile = "lenient"
	ProfileCloud     EmulatorProfile = "cloud"
	ProfileCompanion EmulatorProfile = "companion"
)

// Stream is one `stream "name"` block pushing to one target: the block's
// single `target = "…"`, or one of its `target "NAME" { }` blocks with the
// stream's settings overridden by the target's.
type Stream struct {
	// Name is the block label: 1-64 of [A-Za-z0-9_.-], starting alphanumeric.
	Name string
	// TargetName is the target block's label (the same rule as Name), or ""
	// for the single-target form.
	TargetName string
	// Enabled is false when the stream is configured but must not run.
	Enabled bool
	// Source is the URL the stream pulls (secrets included: redact before showing).
	Source string
	// SourceKind is Source's kind, from its scheme.
	SourceKind SourceKind
	// Target is the RTMP URL to publish to, ready to dial: an emulator://APP/NAME
	// target is resolved to rtmp://<emulator listen>/APP/NAME. Contains the
	// stream key: redact before showing.
	Target string
	// TargetSpec is the target as written in the file.
	TargetSpec string
	// Prefer is the path that is active when both are healthy (default native).
	Prefer PathKind
	// Audio is the audio policy (default copy).
	Audio media.AudioPolicy
	// FFmpeg is the `ffmpeg` block.
	FFmpeg FFmpeg
	// Native is the `native` block.
	Native Native
	// RTMP is the `rtmp` block: connect overrides for both paths.
	RTMP RTMP
	// Failover is the `failover` block.
	Failover Failover
	// Auth signs the target URL afresh at every connection (nil: the URL is
	// used as written).
	Auth *Auth
	// BackupOf is, for a hot backup ingest's push, the ID of the push it
	// backs up ("" otherwise).
	BackupOf string
	// Backup is the cold backup ingest, ready to dial (emulator://
	// resolved; secrets included), and BackupSpec as written; "" for none.
	Backup, BackupSpec string
}

// BackupMode is how a target's backup ingest is used.
type BackupMode string

// The backup modes.
const (
	// BackupHot publishes to the primary and the backup at once.
	BackupHot BackupMode = "hot"
	// BackupCold moves to the backup when the primary fails at L0-L3.
	BackupCold BackupMode = "cold"
)

// Auth is the `auth` block: push URL signing made at connect time.
type Auth struct {
	// Scheme is tencent (txSecret, txTime) or aliyun (auth_key type A).
	Scheme AuthScheme
	// Key is the platform's signing key (a secret: never shown).
	Key string
	// TTL is how long each signature is valid (default 24h).
	TTL time.Duration
	// UID is Aliyun's uid field (default "0").
	UID string
}

// Signer returns the signing settings of the stream's auth block (nil
// without one).
func (s Stream) Signer() *signurl.Auth {
	if s.Auth == nil {
		return nil
	}
	return &signurl.Auth{Scheme: string(s.Auth.Scheme), Key: s.Auth.Key, TTL: s.Auth.TTL, UID: s.Auth.UID}
}

// AuthScheme is how a push URL is signed.
type AuthScheme string

// The signing schemes.
const (
	AuthTencent AuthScheme = "tencent"
	AuthAliyun  AuthScheme = "aliyun"
)

// ID names the stream's push uniquely in a config: Name for the
// single-target form, "Name/TargetName" for a target block.
func (s Stream) ID() string { return health.PushID(s.Name, s.TargetName) }

// Standby returns the path that is not preferred.
func (s Stream) Standby() PathKind {
	if s.Prefer == PathFFmpeg {
		return PathNative
	}
	return PathFFmpeg
}

// FilePath returns the path of a file: source ("file:///a" gives "/a"), or "".
func (s Stream) FilePath() string {
	if s.SourceKind != SourceFile {
		return ""
	}
	p := s.Source[len("file:"):]
	if strings.HasPrefix(p, "///") {
		p = p[2:]
	}
	return p
}

// UsesEmulator reports whether the target or the probe target is emulator://.
func (s Stream) UsesEmulator() bool {
	return isEmulatorURL(s.TargetSpec) || isEmulatorURL(s.Failover.ProbeTargetSpec) || isEmulatorURL(s.BackupSpec)
}

// SourceKind is what a stream pulls from.
type SourceKind string

// The source kinds.
const (
	SourceRTSP    SourceKind = "rtsp"
	SourceRTSPS   SourceKind = "rtsps"
	SourceRTMP    SourceKind = "rtmp"
	SourceRTMPS   SourceKind = "rtmps"
	SourceFile    SourceKind = "file"
	SourceBuiltin SourceKind = "builtin"
)

// PathKind names a push path.
type PathKind string

// The two paths.
const (
	PathFFmpeg PathKind = "ffmpeg"
	PathNative PathKind = "native"
)

// FFmpeg is the `ffmpeg` block of a stream.
type FFmpeg struct {
	// Driver is exec (subprocess, default) or libav (in-process, build tag libav).
	Driver FFmpegDriver
	// StaleTimeout is how long without progress means ffmpeg hangs (default 5s).
	StaleTimeout time.Duration
	// InputArgs are extra ffmpeg options placed before -i (nil when none).
	InputArgs []string
	// ExtraArgs are extra ffmpeg output options placed before the target (nil when none).
	ExtraArgs []string
	// Input is what ffmpeg reads (default hub): the stream's one camera
	// session (the native ingest), or the source itself.
	Input FFmpegInput
}

// FFmpegInput is what the ffmpeg path reads.
type FFmpegInput string

// The ffmpeg inputs.
const (
	// InputHub: the stream's camera session, as FLV on ffmpeg's stdin (exec
	// driver; ffmpeg opens the source itself when that session cannot give
	// the media: a format or codec the native ingest does not read).
	InputHub FFmpegInput = "hub"
	// InputSource: ffmpeg opens the source itself on every run.
	InputSource FFmpegInput = "source"
)

// FFmpegDriver is how the ffmpeg path runs FFmpeg.
type FFmpegDriver string

// The ffmpeg drivers.
const (
	DriverExec  FFmpegDriver = "exec"
	DriverLibav FFmpegDriver = "libav"
)

// Native is the `native` block of a stream.
type Native struct {
	// Handshake is the RTMP handshake the native path does (default digest).
	Handshake Handshake
	// FlashVer is the flashVer native sends in connect: native.flashver, else
	// rtmp.flashver, else "" (the rtmp package's default).
	FlashVer string
	// HeaderPolicy is the chunk header policy (default auto).
	HeaderPolicy HeaderPolicy
	// ChunkSize is the outgoing RTMP chunk size, 128..16777215 (default 4096).
	ChunkSize int
	// H265 is how H.265 is sent (default enhanced).
	H265 H265Mode
	// SourceGrace is how long the publish stays up while the source is away
	// before the path reports a source verdict (default 10s).
	SourceGrace time.Duration
	// MaxDelay bounds the delivery lag on a slow uplink: past it the native
	// path drops non-key video (whole GOPs if needed), never audio or
	// sequence headers, and resumes on a keyframe (default 2s).
	MaxDelay time.Duration
	// GOPCacheBytes bounds the GOP cache (default 4 MiB; 0 disables it).
	GOPCacheBytes int64
	// ReconnectRequest: the path advertises Enhanced RTMP v2's reconnect
	// capability and follows a server's ReconnectRequest (default true).
	ReconnectRequest bool
}

// Handshake is the RTMP handshake flavour.
type Handshake string

// The handshakes.
const (
	HandshakeDigest Handshake = "digest"
	HandshakeSimple Handshake = "simple"
)

// HeaderPolicy is how the chunk writer picks chunk header types.
type HeaderPolicy string

// The header policies.
const (
	// HeaderAuto compresses headers (types 1-3) as the spec allows.
	HeaderAuto HeaderPolicy = "auto"
	// HeaderType0 sends a full type-0 header on every message.
	HeaderType0 HeaderPolicy = "type0"
)

// H265Mode is how H.265 video is put in FLV/RTMP.
type H265Mode string

// The H.265 modes.
const (
	// H265Enhanced uses Enhanced RTMP (FourCC "hvc1").
	H265Enhanced H265Mode = "enhanced"
	// H265Legacy uses the legacy codec id 12.
	H265Legacy H265Mode = "legacy"
)

// RTMP is the `rtmp` block: connect parameters that override what the target
// URL implies, for both paths.
type RTMP struct {
	// App overrides the app name (ffmpeg -rtmp_app).
	App string
	// PlayPath overrides the stream name / play path (ffmpeg -rtmp_playpath).
	PlayPath string
	// TCURL overrides the tcUrl sent in connect.
	TCURL string
	// FlashVer is the flashVer both paths send (ffmpeg -rtmp_flashver); ""
	// leaves each path's default.
	FlashVer string
	// TLS is the `tls` block inside `rtmp`: how an rtmps:// target's
	// certificate is verified. Both paths always verify it.
	TLS TLS
}

// TLS is the `rtmp { tls { } }` block of a stream with an rtmps:// target
// (or probe target). Empty fields mean the system's roots and the URL's
// host.
type TLS struct {
	// CAFile is a PEM file of the certificate authorities trusted for the
	// target, instead of the system's roots; "" for the system's.
	CAFile string
	// ServerName is the name the target's certificate must be valid for,
	// also sent as SNI; "" for the URL's host.
	ServerName string
}

// Failover is the `failover` block of a stream.
type Failover struct {
	// ProbeInterval is how often the standby's target is probed (default 30s).
	ProbeInterval time.Duration
	// ProbeDepth is how deep probes go (default L2). L3 and deeper publish and
	// need ProbeTarget.
	ProbeDepth ProbeDepth
	// ProbeTarget is a separate RTMP URL for publishing probes (resolved like
	// Target), or "" for none.
	ProbeTarget string
	// ProbeTargetSpec is the probe target as written.
	ProbeTargetSpec string
	// FailbackAfter is how long the preferred path must probe healthy before
	// the stream switches back to it (default 60s).
	FailbackAfter time.Duration
	// BackoffInitial is the first reconnect delay (default 1s).
	BackoffInitial time.Duration
	// BackoffMax caps the doubling reconnect delay (default 60s).
	BackoffMax time.Duration
	// AttemptsPerMinute caps connection attempts to the target host (default 6).
	AttemptsPerMinute int
	// CircuitFailures same-layer failures within CircuitWindow open the
	// circuit of a (path, target) pair (default 3).
	CircuitFailures int
	// CircuitWindow is the window for CircuitFailures (default 5m).
	CircuitWindow time.Duration
	// CircuitCooldown is how long an open circuit stays open before a
	// half-open probe (default 1m).
	CircuitCooldown time.Duration
	// StallTimeout: when the server takes nothing for this long while data
	// waits to be delivered, the active path has stalled (L4) (default 3s).
	StallTimeout time.Duration
}

// ProbeDepth is the deepest layer a probe walks: "L0" (TCP/TLS) .. "L5" (media).
// It reads like health.Layer's short names, so health.Layer.UnmarshalText accepts it.
type ProbeDepth string

// The probe depths.
const (
	ProbeL0 ProbeDepth = "L0"
	ProbeL1 ProbeDepth = "L1"
	ProbeL2 ProbeDepth = "L2"
	ProbeL3 ProbeDepth = "L3"
	ProbeL4 ProbeDepth = "L4"
	ProbeL5 ProbeDepth = "L5"
)

// Level returns 0..5 for L0..L5, or -1.
func (d ProbeDepth) Level() int {
	if len(d) == 2 && d[0] == 'L' && d[1] >= '0' && d[1] <= '5' {
		return int(d[1] - '0')
	}
	return -1
}

// Publishes reports whether a probe of this depth publishes (L3 and deeper).
func (d ProbeDepth) Publishes() bool { return d.Level() >= 3 }
