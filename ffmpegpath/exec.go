package ffmpegpath

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"time"

	"github.com/fmspush/fmspush/health"
)

// Driver is what both drivers offer: the supervisor's Path interface.
type Driver interface {
	// Kind is "ffmpeg".
	Kind() string
	// Check reports whether the driver can run (binary or libraries).
	Check(ctx context.Context) error
	// Run pushes until ctx ends (nil) or the push fails (*health.Verdict).
	Run(ctx context.Context, base time.Duration, sig *health.Signals) error
}

// New returns the driver Settings.Driver names. The libav driver exists only
// in builds with the libav tag; otherwise New says so.
func New(s Settings) (Driver, error) {
	switch s.Driver {
	case "", DriverExec:
		return &Exec{Settings: s}, nil
	case DriverLibav:
		return newLibav(s)
	}
	return nil, fmt.Errorf("ffmpegpath: unknown driver %q (want %q or %q)", s.Driver, DriverExec, DriverLibav)
}

// checkTTL is how long a successful Check is reused.
const checkTTL = 10 * time.Second

// Exec is the exec driver: one ffmpeg subprocess per Run, supervised (see
// run.go for its state machine). Settings must not change while Run runs.
type Exec struct {
	Settings

	mu        sync.Mutex
	checkedAt time.Time
	probe     *SourceInfo // cached source probe; reset after a source failure
}

// Kind returns "ffmpeg".
func (e *Exec) Kind() string { return "ffmpeg" }

// Check runs `ffmpeg -version` (a success is cached for 10 s) and returns an
// error naming the binary when it is missing, not executable or broken.
func (e *Exec) Check(ctx context.Context) error {
	s := e.Settings.withDefaults()
	e.mu.Lock()
	fresh := time.Since(e.checkedAt) < checkTTL
	e.mu.Unlock()
	if fresh {
		return nil
	}
	if err := checkBinary(ctx, s.FFmpegPath); err != nil {
		return err
	}
	e.mu.Lock()
	e.checkedAt = time.Now()
	e.mu.Unlock()
	return nil
}

// checkBinary runs `bin -version` with a short timeout.
func checkBinary(ctx context.Context, bin string) error {
	path, err := exec.LookPath(bin)
	if err != nil {
		return fmt.Errorf("ffmpegpath: ffmpeg binary %q not usable: %w", bin, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-hide_banner", "-version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ffmpegpath: ffmpeg binary %q does not run: %w (%.200s)", path, err, out)
	}
	return nil
}

// Run pushes the source to the target through one ffmpeg process until ctx
// ends (it then stops ffmpeg with SIGINT, SIGKILL after Grace, and returns
// nil) or the push fails (a *health.Verdict).
func (e *Exec) Run(ctx context.Context, base time.Duration, sig *health.Signals) error {
	s := e.Settings.withDefaults()
	err := s.validate()
	if err == nil {
		s, err = s.signed(time.Now()) // this run's connection: a fresh signature
	}
	if err != nil {
		v := health.NewVerdict(health.LayerUnknown, "bad_settings", err.Error())
		v.Path = "ffmpeg"
		return v
	}
	if ctx.Err() != nil {
		return nil // stopped before it started
	}
	feed, info := openFeed(ctx, s)
	if feed == nil {
		info = e.sourceInfo(ctx, s)
	}
	r := &run{s: s, src: info, base: base, sig: sig, feed: feed,
		red: NewRedactor(s.Source, s.Target, s.RTMPPlayPath)}
	v := r.loop(ctx)
	if v != nil && v.Layer == health.LayerSource { // learn the source again
		e.forgetProbe()
	}
	if v == nil {
		return nil
	}
	return v
}
