package config

import (
	"bytes"
	"time"

	"github.com/fmspush/fmspush"
	"github.com/fmspush/fmspush/media"
)

// The defaults of every optional setting (docs/config.md lists them too).
const (
	DefaultHTTPListen      = "127.0.0.1:8765"
	DefaultLogLevel        = LogInfo
	DefaultLogFormat       = LogText
	DefaultFFmpegPath      = "ffmpeg"
	DefaultEmulatorListen  = "127.0.0.1:1935"
	DefaultEmulatorProfile = ProfileCompanion

	DefaultPrefer = PathNative
	DefaultAudio  = media.AudioCopy

	DefaultDriver       = DriverExec
	DefaultFFmpegInput  = InputHub
	DefaultAuthTTL      = 24 * time.Hour
	DefaultBackupMode   = BackupHot
	DefaultStaleTimeout = 5 * time.Second

	DefaultHandshake     = HandshakeDigest
	DefaultHeaderPolicy  = HeaderAuto
	DefaultChunkSize     = 4096
	DefaultH265          = H265Enhanced
	DefaultSourceGrace   = 10 * time.Second
	DefaultMaxDelay      = 2 * time.Second
	DefaultGOPCacheBytes = 4 << 20

	DefaultProbeInterval     = 30 * time.Second
	DefaultProbeDepth        = ProbeL2
	DefaultFailbackAfter     = 60 * time.Second
	DefaultBackoffInitial    = 1 * time.Second
	DefaultBackoffMax        = 60 * time.Second
	DefaultAttemptsPerMinute = 6
	DefaultCircuitFailures   = 3
	DefaultCircuitWindow     = 5 * time.Minute
	DefaultCircuitCooldown   = 1 * time.Minute
	DefaultStallTimeout      = 3 * time.Second
)

// Limits checked by validation.
const (
	MinChunkSize = 128
	MaxChunkSize = 0xFFFFFF
	// MaxGOPCacheBytes bounds gop_cache_bytes (256 MiB).
	MaxGOPCacheBytes = 256 << 20
)

// DefaultFilename is the file name that error positions in the embedded default use.
const DefaultFilename = "config.hcl"

// Default returns a copy of the embedded default configuration: the
// repository-root config.hcl, embedded by the root package fmspush (go:embed
// cannot reach a parent directory, so the file stays canonical at the root).
func Default() []byte { return bytes.Clone(fmspush.DefaultConfig) }

// ParseDefault decodes the embedded default configuration.
func ParseDefault() (*Config, error) { return Parse(Default(), DefaultFilename) }

func defaultService() Service {
	return Service{
		HTTPListen: DefaultHTTPListen,
		LogLevel:   DefaultLogLevel,
		LogFormat:  DefaultLogFormat,
		FFmpegPath: DefaultFFmpegPath,
	}
}
