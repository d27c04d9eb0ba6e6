// Package ffmpegpath is fmspush's FFmpeg path: it pushes a stream's source to
// its RTMP target through ffmpeg, either as a supervised subprocess (the exec
// driver, the default) or in-process through libav (the libav driver, build
// tag libav). Both drivers turn every failure into a layer-classified
// *health.Verdict, report progress into health.Signals, catch a hung push with
// a stall watchdog and never leave a process behind.
//
// It implements the supervisor's Path interface without importing it.
package ffmpegpath

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/redact"
	"github.com/fmspush/fmspush/signurl"
)

// Drivers.
const (
	// DriverExec runs ffmpeg as a supervised subprocess.
	DriverExec = "exec"
	// DriverLibav remuxes in-process through go-astiav (build tag libav).
	DriverLibav = "libav"
)

// SampleSource is the source URL of the builtin sample; Settings.SampleFile
// names the file it is read from.
const SampleSource = "builtin:sample"

// Defaults applied by Settings.withDefaults.
const (
	DefaultFFmpeg         = "ffmpeg"
	DefaultStaleTimeout   = 5 * time.Second
	DefaultGrace          = 3 * time.Second
	DefaultProgressPeriod = 250 * time.Millisecond
	DefaultFlashVer       = "FMLE/3.0 (compatible; FMSc/1.0)"
)

// Settings configure one stream's FFmpeg path. The service wiring maps the
// stream's configuration to it; zero values take the documented defaults.
type Settings struct {
	// Driver is DriverExec (default) or DriverLibav.
	Driver string
	// FFmpegPath is the ffmpeg binary (default "ffmpeg", looked up in PATH).
	FFmpegPath string
	// FFprobePath is the ffprobe binary used to learn the source's audio
	// codec (default: "ffprobe" next to FFmpegPath).
	FFprobePath string
	// Source is the camera URL (rtsp://, rtmp://, http(s)://, srt://), a file
	// path, or SampleSource.
	Source string
	// Feed, when set, gives the exec driver's ffmpeg the media on its stdin
	// instead of Source (see Feed); Source is still what errors and
	// redaction name.
	Feed Feed
	// SampleFile is the file SampleSource reads (the repository's
	// media/sample/sample.flv; the wiring fills it).
	SampleFile string
	// Target is the rtmp:// or rtmps:// URL published to.
	Target string
	// Sign, when set, signs Target afresh right before every ffmpeg run (a
	// run is one connection), replacing any signature the URL carries, so
	// that a reconnect after a long outage never offers an expired one (nil:
	// Target is used as written). The signature is over the URL's app and
	// stream name, so RTMPApp and RTMPPlayPath must be empty. The signed
	// URL stands in for Target everywhere in the run: ffmpeg's output (or
	// the tap relay's local URL, whose path and query are the target's),
	// and the redaction of every log line and verdict.
	Sign *signurl.Auth
	// Backup is the target's cold backup ingest, published to instead of
	// Target while UseBackup reports true (the supervisor decides; nil:
	// never). Sign applies to it too.
	Backup    string
	UseBackup func() bool
	// Audio is the audio policy (default media.AudioCopy).
	Audio media.AudioPolicy
	// StaleTimeout is how long the push may go without progress before it is
	// considered hung, killed and reported as a process stall (default 5 s).
	StaleTimeout time.Duration
	// StallTimeout is how long the server may take nothing from the target
	// connection while data waits before the push is ended as an L4 stall
	// (health.CauseStalled) and the connection reset (default 3 s). The
	// exec driver judges it through the tap relay, from the server's RTMP
	// Acknowledgements (or TCP's state of the relay's socket for servers
	// that send none), every 100 ms; the libav driver, and the exec driver
	// for a target the relay cannot take, from the socket's TCP state
	// (delivery.Meter) sampled every 50-200 ms; whatever ffmpeg reports.
	StallTimeout time.Duration
	// StartTimeout is how long the first progress may take after start
	// (opening the source, probing it, connecting and publishing); default
	// max(15 s, 3 × StaleTimeout).
	StartTimeout time.Duration
	// IOTimeout bounds every single network read or write of ffmpeg, so that
	// ffmpeg itself reports a silent peer before the watchdog fires (default
	// 4/5 of StaleTimeout).
	IOTimeout time.Duration
	// Grace is how long ffmpeg may take to unpublish after SIGINT before it
	// is killed (default 3 s).
	Grace time.Duration
	// ProgressPeriod is ffmpeg's -stats_period (default 250 ms).
	ProgressPeriod time.Duration
	// FlashVer is sent in connect (default DefaultFlashVer).
	FlashVer string
	// RTMPApp and RTMPPlayPath override the app and stream name ffmpeg
	// derives from Target. When both are empty and Target has the Bilibili
	// shape (rtmp://host/app/?streamname=..&key=..) they are derived from it.
	RTMPApp, RTMPPlayPath string
	// InputArgs are extra ffmpeg options placed before the source's -i.
	InputArgs []string
	// ExtraArgs are extra ffmpeg output options placed before the target.
	ExtraArgs []string
	// Logger receives ffmpeg's log lines, redacted (default: discard).
	Logger hclog.Logger
}

// withDefaults returns s with every zero value replaced by its default.
func (s Settings) withDefaults() Settings {
	if s.Driver == "" {
		s.Driver = DriverExec
	}
	if s.FFmpegPath == "" {
		s.FFmpegPath = DefaultFFmpeg
	}
	if s.FFprobePath == "" {
		s.FFprobePath = siblingProbe(s.FFmpegPath)
	}
	if s.Audio == "" {
		s.Audio = media.AudioCopy
	}
	if s.StaleTimeout <= 0 {
		s.StaleTimeout = DefaultStaleTimeout
	}
	if s.StallTimeout <= 0 {
		s.StallTimeout = DefaultStallTimeout
	}
	if s.StartTimeout <= 0 {
		s.StartTimeout = max(15*time.Second, 3*s.StaleTimeout)
	}
	if s.IOTimeout <= 0 {
		s.IOTimeout = s.StaleTimeout * 4 / 5
	}
	if s.Grace <= 0 {
		s.Grace = DefaultGrace
	}
	if s.ProgressPeriod <= 0 {
		s.ProgressPeriod = DefaultProgressPeriod
	}
	if s.FlashVer == "" {
		s.FlashVer = DefaultFlashVer
	}
	if s.Logger == nil {
		s.Logger = hclog.NewNullLogger()
	}
	return s
}

// siblingProbe names the ffprobe that belongs to an ffmpeg binary.
func siblingProbe(ffmpeg string) string {
	if !strings.ContainsRune(ffmpeg, os.PathSeparator) {
		return "ffprobe"
	}
	return filepath.Join(filepath.Dir(ffmpeg), "ffprobe")
}

// validate reports settings that cannot work.
func (s Settings) validate() error {
	if s.Source == "" {
		return fmt.Errorf("ffmpegpath: no source")
	}
	if s.Source == SampleSource && s.SampleFile == "" {
		return fmt.Errorf("ffmpegpath: source %s needs SampleFile", SampleSource)
	}
	switch s.Audio {
	case media.AudioCopy, media.AudioSilentIfMissing, media.AudioSilent, media.AudioDrop:
	default:
		return fmt.Errorf("ffmpegpath: unknown audio policy %q", s.Audio)
	}
	u, err := url.Parse(s.Target)
	if err != nil || (u.Scheme != "rtmp" && u.Scheme != "rtmps") || u.Host == "" {
		// Never echo the target: a malformed URL cannot be redacted reliably.
		return fmt.Errorf("ffmpegpath: the target is not an rtmp:// or rtmps:// URL with a host (host %q)", redact.Host(s.Target))
	}
	if s.Sign != nil {
		if s.RTMPApp != "" || s.RTMPPlayPath != "" {
			return fmt.Errorf("ffmpegpath: a signed target cannot take RTMPApp or RTMPPlayPath: the signature is over the URL's app and stream name")
		}
		if _, err := s.signed(time.Now()); err != nil {
			return err
		}
	}
	return nil
}

// signed returns s for one run at now: Target the backup ingest while
// UseBackup says so, signed afresh when Sign is set.
func (s Settings) signed(now time.Time) (Settings, error) {
	if s.Backup != "" && s.UseBackup != nil && s.UseBackup() {
		s.Target = s.Backup
	}
	if s.Sign == nil {
		return s, nil
	}
	t, err := s.Sign.Sign(s.Target, now)
	if err != nil {
		return s, fmt.Errorf("ffmpegpath: signing the target (host %q): %w", redact.Host(s.Target), err)
	}
	s.Target = t
	return s, nil
}

// SourceKind is how ffmpeg is told to read a source.
type SourceKind int

// Source kinds.
const (
	SourceFile    SourceKind = iota // a local file (or the builtin sample): read at native rate, looped
	SourceRTSP                      // rtsp:// or rtsps://: TCP interleaved, socket timeout
	SourceRTMP                      // rtmp:// and friends: rw_timeout
	SourceNetwork                   // any other URL (http, srt, udp...): rw_timeout
)

// KindOf classifies a source string.
func KindOf(source string) SourceKind {
	scheme, _, ok := strings.Cut(source, "://")
	if !ok || source == SampleSource {
		return SourceFile
	}
	switch strings.ToLower(scheme) {
	case "rtsp", "rtsps":
		return SourceRTSP
	case "rtmp", "rtmps", "rtmpt", "rtmpe", "rtmpte", "rtmpts":
		return SourceRTMP
	case "file":
		return SourceFile
	}
	return SourceNetwork
}
