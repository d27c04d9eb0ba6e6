package config

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"
)

// DefaultDebounce is the Watcher's default quiet time after a file event.
const DefaultDebounce = 200 * time.Millisecond

// DirPollInterval is how often a Watcher whose directory has gone checks
// whether it is back.
const DirPollInterval = time.Second

// ErrWatchLost marks an Update sent while the Watcher cannot watch the
// config file's directory (it was removed or renamed away). The Watcher
// checks every DirPollInterval for the directory to come back; Reload still
// reads the file from Path.
var ErrWatchLost = errors.New("config directory not watched")

// Update is one result of (re)loading the watched file: a validated Config,
// or the error that rejected the file (an *Error naming file:line:column, or
// a read error). A consumer keeps its last good Config on an Err update.
type Update struct {
	// Config is the new configuration; nil when Err is set.
	Config *Config
	// Err is why the file was rejected; nil when Config is set.
	Err error
	// At is when the file was read.
	At time.Time
}

// Watcher reloads a configuration file when it changes. It watches the
// file's directory (so that editors' atomic renames and symlink swaps are
// seen), waits for Debounce of quiet, decodes and validates, and sends the
// result on Updates, skipping contents it has already sent. Reload forces a
// reload (SIGHUP). Run owns all state in one goroutine; call it once.
//
// When the directory itself is removed or renamed away (or a watch error
// leaves it unclear whether the watch still holds), the Watcher logs it,
// sends an Update whose Err wraps ErrWatchLost, and checks every
// DirPollInterval for the directory to come back; then it watches it again,
// logs "watching again" and reloads.
type Watcher struct {
	// Path is the configuration file.
	Path string
	// Debounce is the quiet time after the last file event before the file
	// is read (default DefaultDebounce).
	Debounce time.Duration
	// Logger receives one line per reload (default: discard).
	Logger hclog.Logger

	// pollInterval overrides DirPollInterval (tests).
	pollInterval time.Duration

	once    sync.Once
	updates chan Update
	reload  chan struct{}
}

func (w *Watcher) init() {
	w.once.Do(func() {
		w.updates = make(chan Update, 1)
		w.reload = make(chan struct{}, 1)
	})
}

// Updates returns the channel of reload results. It holds at most one
// pending Update (a newer one replaces an unread older one) and is closed
// when Run returns. Run sends the file's current state first.
func (w *Watcher) Updates() <-chan Update {
	w.init()
	return w.updates
}

// Reload asks Run to read the file now and send the result even if the
// contents are unchanged. It never blocks.
func (w *Watcher) Reload() {
	w.init()
	select {
	case w.reload <- struct{}{}:
	default: // a reload is already pending
	}
}

// watchState is what Run's loop owns.
type watchState struct {
	dir     string      // the watched directory, cleaned
	base    string      // file name within the directory
	symlink bool        // Path is a symlink: any event in the directory may change it
	lastKey string      // what was last sent: content hash or read error
	dirInfo os.FileInfo // the directory the watch was armed on
	lost    error       // non-nil while the directory is not watched
}

// Run watches until ctx is done (it then returns nil) or the watch fails.
func (w *Watcher) Run(ctx context.Context) error {
	w.init()
	defer close(w.updates)
	fw, st, err := w.start()
	if err != nil {
		return err
	}
	defer fw.Close()
	w.load(st, true)
	return w.loop(ctx, fw, st)
}

// start watches Path's directory.
func (w *Watcher) start() (*fsnotify.Watcher, *watchState, error) {
	if w.Path == "" {
		return nil, nil, errors.New("config watcher: no path")
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, nil, fmt.Errorf("config watcher: %w", err)
	}
	st := &watchState{dir: filepath.Clean(filepath.Dir(w.Path)), base: filepath.Base(w.Path)}
	if err := w.arm(fw, st); err != nil {
		fw.Close()
		return nil, nil, fmt.Errorf("config watcher: %w", err)
	}
	return fw, st, nil
}

// arm watches st.dir and records which directory that is.
func (w *Watcher) arm(fw *fsnotify.Watcher, st *watchState) error {
	fi, err := os.Stat(st.dir)
	if err != nil {
		return fmt.Errorf("watch %s: %w", st.dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("watch %s: not a directory", st.dir)
	}
	if err := fw.Add(st.dir); err != nil {
		return fmt.Errorf("watch %s: %w", st.dir, err)
	}
	st.dirInfo, st.lost = fi, nil
	st.symlink = false
	if fi, err := os.Lstat(w.Path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		st.symlink = true
	}
	return nil
}

// dirStillWatched reports whether st.dir is still the directory the watch
// was armed on.
func dirStillWatched(st *watchState) bool {
	fi, err := os.Stat(st.dir)
	return err == nil && st.dirInfo != nil && os.SameFile(fi, st.dirInfo)
}

// loseWatch drops the watch on a directory that has gone, logs it and says
// so on Updates.
func (w *Watcher) loseWatch(fw *fsnotify.Watcher, st *watchState, why string) {
	_ = fw.Remove(st.dir) // already gone after a removal; needed after a swap
	st.lost = fmt.Errorf("%w: %s %s; checking every %s for it to come back (SIGHUP still reloads %s)",
		ErrWatchLost, st.dir, why, w.poll(), w.Path)
	w.logger().Warn("config directory "+why+": not watching it; checking for it to come back",
		"dir", st.dir, "every", w.poll().String())
	st.lastKey = "watch lost"
	w.send(Update{Err: st.lost, At: time.Now()})
}

// rewatch tries to watch the directory again; on success it logs, reloads
// and returns true.
func (w *Watcher) rewatch(fw *fsnotify.Watcher, st *watchState) bool {
	if err := w.arm(fw, st); err != nil {
		return false
	}
	w.logger().Info("config directory is back: watching again", "dir", st.dir)
	w.load(st, true)
	return true
}

// loop is Run's select loop.
func (w *Watcher) loop(ctx context.Context, fw *fsnotify.Watcher, st *watchState) error {
	debounce := time.NewTimer(time.Hour)
	debounce.Stop() // since Go 1.23 a stopped timer delivers nothing stale

	var poll <-chan time.Time // ticks while the directory is not watched
	var pollTicker *time.Ticker
	defer func() {
		if pollTicker != nil {
			pollTicker.Stop()
		}
	}()
	lose := func(why string) {
		debounce.Stop()
		w.loseWatch(fw, st, why)
		if pollTicker == nil {
			pollTicker = time.NewTicker(w.poll())
			poll = pollTicker.C
		}
	}
	found := func() {
		if pollTicker != nil {
			pollTicker.Stop()
			pollTicker, poll = nil, nil
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return errors.New("config watcher: event channel closed")
			}
			if st.lost != nil {
				continue // a late event of the old directory
			}
			if filepath.Clean(ev.Name) == st.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				lose(dirGone(ev.Op))
				continue
			}
			if st.symlink || filepath.Base(ev.Name) == st.base {
				debounce.Reset(w.debounce())
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return errors.New("config watcher: error channel closed")
			}
			w.logger().Warn("config watch error", "error", err)
			// Events may have been lost (an overflow): check that the
			// directory is still the one watched, and read the file.
			if st.lost == nil && !dirStillWatched(st) {
				lose("was removed or replaced")
			} else if st.lost == nil {
				debounce.Reset(w.debounce())
			}
		case <-poll:
			if w.rewatch(fw, st) {
				found()
			}
		case <-debounce.C:
			w.load(st, false)
		case <-w.reload:
			debounce.Stop()
			if st.lost == nil && !dirStillWatched(st) {
				lose("was removed or replaced")
			}
			if st.lost != nil && w.rewatch(fw, st) {
				found()
				continue
			}
			w.load(st, true)
		}
	}
}

func dirGone(op fsnotify.Op) string {
	if op.Has(fsnotify.Rename) {
		return "was renamed away"
	}
	return "was removed"
}

// load reads and decodes the file and sends the result, unless it is what
// was sent last and force is false.
func (w *Watcher) load(st *watchState, force bool) {
	at := time.Now()
	src, err := readFile(w.Path) // bounded: a huge file is refused by its size, unread
	key := fmt.Sprintf("%x", sha256.Sum256(src))
	if err != nil {
		key = "read error: " + err.Error()
	}
	if key == st.lastKey && !force {
		return
	}
	st.lastKey = key
	u := Update{At: at}
	switch {
	case err != nil && st.lost != nil:
		u.Err = fmt.Errorf("%w; %w", err, st.lost)
	case err != nil:
		u.Err = err
	default:
		u.Config, u.Err = Parse(src, w.Path)
	}
	w.log(u)
	w.send(u)
}

func (w *Watcher) log(u Update) {
	if u.Err != nil {
		w.logger().Error("config rejected", "path", w.Path, "error", u.Err)
		return
	}
	w.logger().Info("config loaded", "path", w.Path, "streams", len(u.Config.Streams))
}

// send delivers u, replacing an unread older Update. Only Run sends, so the
// second send cannot block.
func (w *Watcher) send(u Update) {
	select {
	case w.updates <- u:
		return
	default:
	}
	select {
	case <-w.updates:
	default:
	}
	w.updates <- u
}

func (w *Watcher) poll() time.Duration {
	if w.pollInterval > 0 {
		return w.pollInterval
	}
	return DirPollInterval
}

func (w *Watcher) debounce() time.Duration {
	if w.Debounce > 0 {
		return w.Debounce
	}
	return DefaultDebounce
}

func (w *Watcher) logger() hclog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return hclog.NewNullLogger()
}
