package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const waitLimit = 10 * time.Second

func streamsConfig(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "stream %q {\n  source = \"builtin:sample\"\n  target = \"rtmp://h/live/%s\"\n}\n", n, n)
	}
	return b.String()
}

// startWatcher runs a Watcher on a fresh file holding src and waits for the
// initial Update. The returned stop cancels Run and checks it returned nil.
func startWatcher(t *testing.T, src string) (*Watcher, string, func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.hcl")
	writeFile(t, path, src)
	w := &Watcher{Path: path, Debounce: 20 * time.Millisecond, Logger: hclog.NewNullLogger()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "Run")
		case <-time.After(waitLimit):
			assert.Fail(t, "Run did not return after cancel")
		}
	})
	t.Cleanup(stop)
	waitUpdate(t, w, "initial load", func(u Update) bool { return u.Err == nil })
	return w, path, stop
}

func writeFile(t *testing.T, path, src string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
}

// waitUpdate reads Updates until one satisfies ok, failing at the deadline.
func waitUpdate(t *testing.T, w *Watcher, what string, ok func(Update) bool) Update {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case u, open := <-w.Updates():
			require.True(t, open, "%s: Updates closed", what)
			if ok(u) {
				return u
			}
		case <-deadline:
			require.FailNow(t, "no matching update", "%s: no matching update within %s", what, waitLimit)
		}
	}
}

func hasStreams(names ...string) func(Update) bool {
	return func(u Update) bool {
		if u.Err != nil || len(u.Config.Streams) != len(names) {
			return false
		}
		for _, n := range names {
			if _, ok := u.Config.Stream(n); !ok {
				return false
			}
		}
		return true
	}
}

func TestWatcherInPlaceRewrite(t *testing.T) {
	w, path, _ := startWatcher(t, streamsConfig("a"))
	writeFile(t, path, streamsConfig("a", "b"))
	u := waitUpdate(t, w, "rewrite adds b", hasStreams("a", "b"))
	require.Equal(t, path, u.Config.Source, "update = %+v", u)
	require.False(t, u.At.IsZero(), "update = %+v", u)
	writeFile(t, path, streamsConfig("b"))
	waitUpdate(t, w, "rewrite removes a", hasStreams("b"))
}

// An editor's save: write a temporary file next to it, rename it over.
func TestWatcherAtomicRename(t *testing.T) {
	w, path, _ := startWatcher(t, streamsConfig("a"))
	for i, names := range [][]string{{"a", "b"}, {"c"}} {
		tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".config.hcl.swp%d", i))
		writeFile(t, tmp, streamsConfig(names...))
		require.NoError(t, os.Rename(tmp, path))
		waitUpdate(t, w, fmt.Sprintf("rename %d", i), hasStreams(names...))
	}
}

// A broken file gives an Err update with file:line:column; fixing it recovers.
func TestWatcherBrokenThenFixed(t *testing.T) {
	w, path, _ := startWatcher(t, streamsConfig("a"))
	writeFile(t, path, streamsConfig("a")+"stream \"b\" {\n  source = \"builtin:sample\"\n  target = \"rtmp://h/live/SECRETKEY123?wsSecret=abc123\"\n  prefer = \"bogus\"\n}\n")
	u := waitUpdate(t, w, "broken file", func(u Update) bool { return u.Err != nil })
	var ce *Error
	require.Nil(t, u.Config, "broken update = %+v", u)
	require.True(t, errors.As(u.Err, &ce), "broken update = %+v", u)
	require.Contains(t, u.Err.Error(), path+":8:", "broken update = %+v", u)
	require.Contains(t, u.Err.Error(), "prefer", "broken update = %+v", u)
	require.NotContains(t, u.Err.Error(), "SECRETKEY123", "broken update = %+v", u)
	writeFile(t, path, streamsConfig("a", "b"))
	waitUpdate(t, w, "fixed file", hasStreams("a", "b"))
}

// A deleted file is an Err update; putting it back recovers.
func TestWatcherRemovedThenRestored(t *testing.T) {
	w, path, _ := startWatcher(t, streamsConfig("a"))
	require.NoError(t, os.Remove(path))
	u := waitUpdate(t, w, "removed", func(u Update) bool { return u.Err != nil })
	require.ErrorIs(t, u.Err, os.ErrNotExist)
	writeFile(t, path, streamsConfig("z"))
	waitUpdate(t, w, "restored", hasStreams("z"))
}

// Reload sends the current config even when nothing changed.
func TestWatcherReload(t *testing.T) {
	w, _, _ := startWatcher(t, streamsConfig("a"))
	w.Reload()
	waitUpdate(t, w, "explicit reload", hasStreams("a"))
}

// Unread updates do not pile up and sending never blocks: the newest
// replaces an unread older one.
func TestWatcherLatestWins(t *testing.T) {
	w := &Watcher{}
	first, second := Update{Err: errors.New("first")}, Update{Err: errors.New("second")}
	w.init()
	w.send(first)
	w.send(second)
	u := <-w.Updates()
	require.Same(t, second.Err, u.Err, "got %v, want the newest", u.Err)
	select {
	case u := <-w.Updates():
		require.FailNow(t, "stale update left behind", "%v", u.Err)
	default:
	}
}

func TestWatcherStopClosesUpdates(t *testing.T) {
	w, _, stop := startWatcher(t, streamsConfig("a"))
	stop()
	select {
	case _, open := <-w.Updates():
		require.False(t, open, "Updates not closed after Run returned")
	case <-time.After(waitLimit):
		require.FailNow(t, "Updates not closed")
	}
}

func TestWatcherBadDirectory(t *testing.T) {
	w := &Watcher{Path: filepath.Join(t.TempDir(), "missing", "config.hcl")}
	require.Error(t, w.Run(context.Background()), "Run on a missing directory returned nil")
	require.Error(t, (&Watcher{}).Run(context.Background()), "Run with no path returned nil")
}

// The config directory removed and created again with a changed file: the
// Watcher says it lost the watch, finds the directory again, reloads, and
// keeps watching it.
func TestWatcherDirectoryRemovedThenRecreated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conf", "config.hcl")
	require.NoError(t, os.Mkdir(filepath.Dir(path), 0o755))
	writeFile(t, path, streamsConfig("a"))
	logs := &lockedBuffer{}
	w := &Watcher{Path: path, Debounce: 20 * time.Millisecond, pollInterval: 50 * time.Millisecond,
		Logger: hclog.New(&hclog.LoggerOptions{Output: logs})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "Run")
	})
	waitUpdate(t, w, "initial load", hasStreams("a"))

	require.NoError(t, os.RemoveAll(filepath.Dir(path)))
	u := waitUpdate(t, w, "watch lost", func(u Update) bool { return errors.Is(u.Err, ErrWatchLost) })
	require.Contains(t, u.Err.Error(), filepath.Dir(path), "lost-watch error does not name the directory")
	// SIGHUP reads the path whatever the watch state.
	w.Reload()
	u = waitUpdate(t, w, "reload while lost", func(u Update) bool { return u.Err != nil })
	require.ErrorIs(t, u.Err, os.ErrNotExist, "reload while lost")
	require.ErrorIs(t, u.Err, ErrWatchLost, "reload while lost")

	require.NoError(t, os.Mkdir(filepath.Dir(path), 0o755))
	writeFile(t, path, streamsConfig("a", "b"))
	waitUpdate(t, w, "recreated directory applied", hasStreams("a", "b"))
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(logs.String(), "watching again") {
		if time.Now().After(deadline) {
			require.FailNow(t, "no \"watching again\" in the log", "%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.Contains(t, logs.String(), "not watching it", "the lost watch was not logged")
	// The watch is armed again: a later in-place write is seen.
	writeFile(t, path, streamsConfig("c"))
	waitUpdate(t, w, "write after re-watch", hasStreams("c"))
}

// The directory renamed away and another put in its place.
func TestWatcherDirectoryRenamedAndReplaced(t *testing.T) {
	base := t.TempDir()
	path := filepath.Join(base, "conf", "config.hcl")
	require.NoError(t, os.Mkdir(filepath.Dir(path), 0o755))
	writeFile(t, path, streamsConfig("a"))
	w := &Watcher{Path: path, Debounce: 20 * time.Millisecond, pollInterval: 50 * time.Millisecond, Logger: hclog.NewNullLogger()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "Run")
	})
	waitUpdate(t, w, "initial load", hasStreams("a"))
	require.NoError(t, os.Rename(filepath.Dir(path), filepath.Join(base, "conf.old")))
	waitUpdate(t, w, "watch lost", func(u Update) bool { return errors.Is(u.Err, ErrWatchLost) })
	require.NoError(t, os.Mkdir(filepath.Dir(path), 0o755))
	writeFile(t, path, streamsConfig("z"))
	waitUpdate(t, w, "replacement applied", hasStreams("z"))
	// Writes to the old directory are not taken for the config.
	writeFile(t, filepath.Join(base, "conf.old", "config.hcl"), streamsConfig("old"))
	writeFile(t, path, streamsConfig("y"))
	waitUpdate(t, w, "write to the new directory", hasStreams("y"))
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
