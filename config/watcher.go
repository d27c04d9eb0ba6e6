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
type Watcher struct {
	// Path is the configuration file.
	Path string
	// Debounce is the quiet time after the last file event before the file
	// is read (default DefaultDebounce).
	Debounce time.Duration
	// Logger receives one line per reload (default: discard).
	Logger hclog.Logger

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
	base    string // file name within the directory
	symlink bool   // Path is a symlink: any event in the directory may change it
	lastKey string // what was last sent: content hash or read error
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
	if err := fw.Add(filepath.Dir(w.Path)); err != nil {
		fw.Close()
		return nil, nil, fmt.Errorf("config watcher: watch %s: %w", filepath.Dir(w.Path), err)
	}
	st := &watchState{base: filepath.Base(w.Path)}
	if fi, err := os.Lstat(w.Path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		st.symlink = true
	}
	return fw, st, nil
}

// loop is Run's select loop.
func (w *Watcher) loop(ctx context.Context, fw *fsnotify.Watcher, st *watchState) error {
	debounce := time.NewTimer(time.Hour)
	debounce.Stop() // since Go 1.23 a stopped timer delivers nothing stale
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return errors.New("config watcher: event channel closed")
			}
			if st.symlink || filepath.Base(ev.Name) == st.base {
				debounce.Reset(w.debounce())
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return errors.New("config watcher: error channel closed")
			}
			w.logger().Warn("config watch error", "error", err)
		case <-debounce.C:
			w.load(st, false)
		case <-w.reload:
			debounce.Stop()
			w.load(st, true)
		}
	}
}

// load reads and decodes the file and sends the result, unless it is what
// was sent last and force is false.
func (w *Watcher) load(st *watchState, force bool) {
	at := time.Now()
	src, err := os.ReadFile(w.Path)
	key := fmt.Sprintf("%x", sha256.Sum256(src))
	if err != nil {
		key = "read error: " + err.Error()
	}
	if key == st.lastKey && !force {
		return
	}
	st.lastKey = key
	u := Update{At: at}
	if err != nil {
		u.Err = fmt.Errorf("read config: %w", err)
	} else {
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
