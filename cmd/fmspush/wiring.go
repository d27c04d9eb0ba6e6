package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/ffmpegpath"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/media/sample"
	"github.com/fmspush/fmspush/nativepath"
	"github.com/fmspush/fmspush/redact"
	"github.com/fmspush/fmspush/supervisor"
)

// specFor turns one configured stream into the manager's spec. The
// fingerprint also covers what the stream depends on outside its block: the
// ffmpeg binary and the emulator's address.
func (s *service) specFor(cfg *config.Config, st config.Stream) supervisor.Spec {
	sum := sha256.Sum256([]byte(st.Fingerprint() + "\x00" + cfg.Service.FFmpegPath + "\x00" + st.Target))
	return supervisor.Spec{
		Name:        st.ID(),
		Fingerprint: hex.EncodeToString(sum[:]),
		Build:       func() *supervisor.Stream { return s.buildStream(cfg.Service, st) },
	}
}

func (s *service) buildStream(svc config.Service, st config.Stream) *supervisor.Stream {
	log := s.log.Named("stream").With("stream", st.Name)
	if st.TargetName != "" {
		log = log.With("target", st.TargetName)
	}
	var backup *supervisor.Backup
	if st.Backup != "" {
		backup = &supervisor.Backup{} // cold: the loop moves both paths to it
	}
	ff := s.ffmpegPath(svc, st, log.With("path", "ffmpeg"), backup)
	nat := s.nativePath(st, log.With("path", "native"), backup)
	pref, other := nat, ff
	if st.Prefer == config.PathFFmpeg {
		pref, other = ff, nat
	}
	return &supervisor.Stream{
		Name:              st.Name,
		TargetName:        st.TargetName,
		Enabled:           st.Enabled,
		Source:            redact.URL(st.Source),
		Target:            redact.URL(st.TargetSpec),
		TargetHost:        redact.Host(st.Target),
		Preferred:         pref,
		Fallback:          other,
		Policy:            policyOf(st.Failover),
		Backup:            backup,
		Limiter:           s.limiter,
		AttemptsPerMinute: st.Failover.AttemptsPerMinute,
		MaxDelay:          st.Native.MaxDelay,
		Logger:            log,
		Resume:            s.resumeOf(st.ID()),
	}
}

func policyOf(f config.Failover) supervisor.Policy {
	return supervisor.Policy{
		ProbeInterval:   f.ProbeInterval,
		FailbackAfter:   f.FailbackAfter,
		BackoffInitial:  f.BackoffInitial,
		BackoffMax:      f.BackoffMax,
		CircuitFailures: f.CircuitFailures,
		CircuitWindow:   f.CircuitWindow,
		CircuitCooldown: f.CircuitCooldown,
	}
}

func (s *service) ffmpegPath(svc config.Service, st config.Stream, log hclog.Logger, backup *supervisor.Backup) supervisor.PathSpec {
	set := ffmpegpath.Settings{
		Driver:       string(st.FFmpeg.Driver),
		FFmpegPath:   svc.FFmpegPath,
		Source:       ffmpegSource(st),
		SampleFile:   s.sampleFile(),
		Target:       st.Target,
		Audio:        st.Audio,
		StaleTimeout: st.FFmpeg.StaleTimeout,
		StallTimeout: st.Failover.StallTimeout,
		FlashVer:     st.RTMP.FlashVer,
		RTMPApp:      st.RTMP.App,
		RTMPPlayPath: st.RTMP.PlayPath,
		InputArgs:    st.FFmpeg.InputArgs,
		ExtraArgs:    ffmpegExtraArgs(st),
		Logger:       log,
		Sign:         st.Signer(),
	}
	if backup != nil {
		set.Backup, set.UseBackup = st.Backup, backup.Active
	}
	if s.fedFromHub(st) {
		set.Feed = ingestFeed{in: s.ingests.get(st, s.limiter, s.ingestLog(st)), grace: st.Native.SourceGrace}
	}
	drv, err := ffmpegpath.New(set)
	if err != nil {
		return supervisor.PathSpec{Path: brokenPath{kind: "ffmpeg", err: err}}
	}
	// ffmpeg pulls the source anew on every run (also when fed, if the
	// camera session cannot feed it): the runs pass the per-host limit for
	// the source's host too.
	return supervisor.PathSpec{Path: drv, Probe: s.prober(st, probeFFmpegLike(st)), SourceHost: redact.Host(ffmpegSource(st))}
}

// fedFromHub reports whether st's ffmpeg path reads the stream's camera
// session: input = "hub" with the exec driver, and a source the native
// ingest opens.
func (s *service) fedFromHub(st config.Stream) bool {
	return st.FFmpeg.Input == config.InputHub && st.FFmpeg.Driver == config.DriverExec && nativepath.Supports(st.Source)
}

func ffmpegSource(st config.Stream) string {
	if st.SourceKind == config.SourceFile {
		return st.FilePath()
	}
	return st.Source
}

// sampleFile writes the embedded sample once to the user cache directory so
// that ffmpeg can read it.
func (s *service) sampleFile() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, "fmspush", "sample.flv")
	if fi, err := os.Stat(path); err == nil && fi.Size() == int64(len(sample.Bytes())) {
		return path
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
		tmp := path + ".tmp"
		if os.WriteFile(tmp, sample.Bytes(), 0o644) == nil {
			_ = os.Rename(tmp, path)
		}
	}
	return path
}

// brokenPath is a path whose settings could not be built: every Check and
// Run says why, as a process verdict, so it is never retried in a tight loop.
type brokenPath struct {
	kind string
	err  error
}

func (b brokenPath) Kind() string                    { return b.kind }
func (b brokenPath) Check(ctx context.Context) error { return b.err }
func (b brokenPath) Run(ctx context.Context, base time.Duration, sig *health.Signals) error {
	v := health.NewVerdict(health.LayerProcess, "path_unavailable", redact.Text(b.err.Error()))
	v.Path = b.kind
	return v
}
