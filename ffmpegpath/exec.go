package ffmpegpath

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
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

// checkTTL is how long a successful Check of a binary is reused, by every
// Exec of the process, while the binary's file stays the same (path, size,
// modification time, mode, inode): a standby probe every probe_interval
// does not start a process (0.1 s of CPU each) to learn what a stat tells.
// A binary removed, replaced or made unexecutable is noticed at the next
// Check.
const checkTTL = time.Hour

// Exec is the exec driver: one ffmpeg subprocess per Run, supervised (see
// run.go for its state machine). Settings must not change while Run runs.
type Exec struct {
	Settings

	mu    sync.Mutex
	probe *SourceInfo // cached source probe; reset after a source failure
}

// Kind returns "ffmpeg".
func (e *Exec) Kind() string { return "ffmpeg" }

// Check runs `ffmpeg -version` (a success is cached for 10 s) and returns an
// error naming the binary when it is missing, not executable or broken.
func (e *Exec) Check(ctx context.Context) error {
	s := e.Settings.withDefaults()
	binaryChecks.run.Lock() // one check at a time: the others then find it done
	defer binaryChecks.run.Unlock()
	id, idErr := identify(s.FFmpegPath)
	if idErr == nil && binaryChecks.fresh(id) {
		return nil
	}
	if err := checkBinary(ctx, s.FFmpegPath); err != nil {
		return err
	}
	binaryChecks.passed(id)
	return nil
}

// binaryChecks remembers, for the process, which binaries passed a check
// and when: the streams of a service share one ffmpeg, and 256 streams
// starting at once run it once, not 256 times.
var binaryChecks = checkCache{at: map[binaryID]time.Time{}}

// checkCache is a set of binaries that passed, with the time they did.
type checkCache struct {
	run sync.Mutex // held by the Check under way
	mu  sync.Mutex
	at  map[binaryID]time.Time
}

func (c *checkCache) fresh(id binaryID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.at[id]
	return ok && time.Since(at) < checkTTL
}

func (c *checkCache) passed(id binaryID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at[id] = time.Now()
}

// binaryID is what tells one file of a binary from another.
type binaryID struct {
	path  string
	size  int64
	mtime time.Time
	mode  os.FileMode
	inode uint64
}

// identify resolves bin on PATH and stats it.
func identify(bin string) (binaryID, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return binaryID{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return binaryID{}, err
	}
	id := binaryID{path: path, size: fi.Size(), mtime: fi.ModTime(), mode: fi.Mode()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.inode = st.Ino
	}
	return id, nil
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
