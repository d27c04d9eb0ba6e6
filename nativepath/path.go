package nativepath

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/pause"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/nativepath/source"
	"github.com/fmspush/fmspush/redact"
	"github.com/fmspush/fmspush/rtmp"
	"github.com/fmspush/fmspush/signurl"
)

// Defaults of Settings.StallTimeout and Settings.MaxDelay.
const (
	DefaultStallTimeout = 3 * time.Second
	DefaultMaxDelay     = 2 * time.Second
)

// Settings configure one stream's native path.
type Settings struct {
	// Source is builtin:sample, file:PATH (or a plain path), rtsp(s)://, rtmp(s)://.
	Source string
	// Target is the rtmp:// or rtmps:// URL published to.
	Target string
	// Sign, when set, signs Target afresh right before every connection
	// (each Run's Dial), replacing any signature the URL carries, so that a
	// reconnect after a long outage never offers an expired one (nil: Target
	// is used as written).
	Sign *signurl.Auth
	// Backup is the target's cold backup ingest, published to instead of
	// Target while UseBackup reports true (the supervisor decides; nil:
	// never). Sign applies to it too.
	Backup    string
	UseBackup func() bool
	// Publish are the FMS-compatibility settings of the publish session.
	Publish rtmp.PublishOptions
	// Audio is the audio policy (default copy).
	Audio media.AudioPolicy
	// SourceGrace is how long a publish stays up while the source is away
	// (default 10 s); it is also how long Run waits for a first keyframe.
	SourceGrace time.Duration
	// GOPCacheBytes bounds the cached GOP (default 4 MiB).
	GOPCacheBytes int64
	// StallTimeout: when the server takes nothing for this long while data
	// waits, the publish has stalled (an L4 verdict; default 3 s). It also
	// bounds each socket write (Publish.WriteTimeout) unless that is set.
	StallTimeout time.Duration
	// MaxDelay bounds the delivery lag: past it video is dropped, audio and
	// sequence headers never (default 2 s).
	MaxDelay time.Duration
	// Logger receives the path's log lines (default: discard).
	Logger hclog.Logger
	// Limiter is the service's per-host connection limiter: the source's
	// reconnects pass it, keyed by the source's host and held to
	// AttemptsPerMinute, as the targets' attempts are (nil: no limit).
	Limiter           source.Limiter
	AttemptsPerMinute int
	// Pauses tells the process's own pauses from a slow target: after one,
	// a session restarts its delivery clocks (default pause.Default).
	Pauses *pause.Watch
	// NoReconnectRequest stops the path from advertising Enhanced RTMP v2's
	// reconnect capability (capsEx) and from following a server's
	// NetConnection.Connect.ReconnectRequest. By default it does both
	// (Publish.Reconnect is set): on a request the session connects to the
	// URL the server names (the same stream name and key, signed afresh when
	// Sign is set), publishes on to the current server until the first
	// keyframe after the new one accepted the publish, switches there with no
	// timestamp step, and then unpublishes from the old one. A move that
	// fails leaves the current session publishing (logged); the server's
	// next request is tried again.
	NoReconnectRequest bool
	// Ingest is the camera session this path publishes from: one Ingest
	// shared by the paths of every target of a stream reads the source once
	// for all of them. Nil: the path reads Source on its own (an Ingest
	// made from Source, GOPCacheBytes, Logger, Limiter and
	// AttemptsPerMinute).
	Ingest *Ingest
}

// Path is the native path. Warm keeps its ingest running between publishes
// so that a switch to native starts at once from the last keyframe.
type Path struct {
	Settings
}

// New returns a native path; it fails when the source kind is not supported.
func New(s Settings) (*Path, error) {
	if s.SourceGrace <= 0 {
		s.SourceGrace = 10 * time.Second
	}
	if s.Audio == "" {
		s.Audio = media.AudioCopy
	}
	if s.StallTimeout <= 0 {
		s.StallTimeout = DefaultStallTimeout
	}
	if s.MaxDelay <= 0 {
		s.MaxDelay = DefaultMaxDelay
	}
	if s.Publish.AckWindow == 0 {
		s.Publish.AckWindow = DefaultAckWindow
	}
	if s.Publish.WriteTimeout <= 0 {
		s.Publish.WriteTimeout = s.StallTimeout
	}
	if s.Logger == nil {
		s.Logger = hclog.NewNullLogger()
	}
	s.Publish.Reconnect = !s.NoReconnectRequest
	if s.Pauses == nil {
		s.Pauses = pause.Default
	}
	if _, err := openSource(s.Source, s.Logger); err != nil {
		return nil, err
	}
	if s.Sign != nil {
		if _, err := s.Sign.Sign(s.Target, time.Now()); err != nil {
			return nil, fmt.Errorf("nativepath: target %s: %w", redact.URL(s.Target), err)
		}
	}
	if s.Ingest == nil {
		s.Ingest = &Ingest{Source: s.Source, GOPCacheBytes: s.GOPCacheBytes, Logger: s.Logger,
			Limiter: s.Limiter, AttemptsPerMinute: s.AttemptsPerMinute}
	}
	return &Path{Settings: s}, nil
}

// Kind returns "native".
func (p *Path) Kind() string { return "native" }

// Check reports whether the path can run: its source kind is supported.
// Whether the source itself is up is found out by pulling it, and reported
// as a source verdict, never as the path's fault.
func (p *Path) Check(ctx context.Context) error {
	_, err := openSource(p.Source, p.Logger)
	return err
}

// Warm keeps the ingest running until ctx ends, so that the GOP cache is
// filled while the path stands by.
func (p *Path) Warm(ctx context.Context) {
	_, release, err := p.Ingest.acquire()
	if err != nil {
		return
	}
	defer release()
	<-ctx.Done()
}

// Run publishes until ctx ends (nil) or the push fails (*health.Verdict).
func (p *Path) Run(ctx context.Context, base time.Duration, sig *health.Signals) error {
	h, release, err := p.Ingest.acquire()
	if err != nil {
		return p.verdict(health.LayerSource, "source_unsupported", err)
	}
	defer release()
	defer p.Pauses.Acquire()()
	snap, sub, err := h.subscribe(ctx, p.SourceGrace)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return p.verdict(health.LayerSource, "source_unavailable", err)
	}
	s := &session{p: p, sig: sig, hub: h, sub: sub, base: base}
	defer func() { h.unsubscribe(s.sub) }() // the session may resubscribe (skipBacklog)
	target, err := p.target(time.Now())
	if err != nil {
		return p.verdict(health.LayerUnknown, "bad_settings", err)
	}
	pub, err := rtmp.Dial(ctx, target, p.Publish)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return p.classify(err)
	}
	s.pub, s.url = pub, target
	return s.run(ctx, snap)
}

// target is the URL a connection made at now publishes to: Target, signed
// afresh when Sign is set. The publisher's redaction is built from the URL
// it dials, so the signature's values are masked in its errors and in the
// server's words as the rest of the query is.
func (p *Path) target(now time.Time) (string, error) {
	t := p.Target
	if p.Backup != "" && p.UseBackup != nil && p.UseBackup() {
		t = p.Backup
	}
	if p.Sign == nil {
		return t, nil
	}
	signed, err := p.Sign.Sign(t, now)
	if err != nil {
		return "", fmt.Errorf("signing the target %s: %w", redact.URL(t), err)
	}
	return signed, nil
}

func (p *Path) classify(err error) *health.Verdict {
	v := health.AsVerdict(err)
	v.Path = "native"
	v.Detail = redact.Text(v.Detail)
	return v
}

func (p *Path) verdict(layer health.Layer, cause string, err error) *health.Verdict {
	v := health.NewVerdict(layer, cause, redact.Text(err.Error()))
	v.Path = "native"
	return v
}

// openSource makes the Source for a source setting (source.New), checking
// only that its kind is supported: whether it is up is found by pulling it.
func openSource(spec string, log hclog.Logger) (source.Source, error) {
	return source.New(spec, log)
}

// Supports reports whether the native ingest opens spec (its kind; whether
// the source is up or its format readable shows only once it is pulled).
func Supports(spec string) bool {
	_, err := openSource(spec, hclog.NewNullLogger())
	return err == nil
}
