package ffmpegpath

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		helperMain()
		return
	}
	goleak.VerifyTestMain(m)
}

// testLogger logs at trace level into a buffer the test can search.
func testLogger(t testing.TB) (hclog.Logger, *testpeer.LogBuffer) {
	buf := &testpeer.LogBuffer{}
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Trace, Output: buf}), buf
}

// sampleSettings pushes the builtin sample to target.
func sampleSettings(t testing.TB, target string) Settings {
	testpeer.Need(t, "ffmpeg", "ffprobe")
	log, _ := testLogger(t)
	return Settings{Source: SampleSource, SampleFile: testpeer.SamplePath(t), Target: target, Logger: log}
}

// running is one Run in the background.
type running struct {
	sig    *health.Signals
	cancel context.CancelFunc
	done   chan error
	ended  time.Time
	err    error
}

func startRun(t testing.TB, d Driver, base time.Duration) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{sig: health.NewSignals(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx, base, r.sig) }()
	t.Cleanup(func() { cancel(); r.wait(t, 10*time.Second) })
	return r
}

// wait returns Run's result, failing the test if it takes longer than within.
func (r *running) wait(t testing.TB, within time.Duration) error {
	t.Helper()
	if !r.ended.IsZero() {
		return r.err
	}
	select {
	case r.err = <-r.done:
		r.ended = time.Now()
		return r.err
	case <-time.After(within):
		require.Failf(t, "Run did not return", "Run did not return within %v", within)
		return nil
	}
}

// waitLive waits until the push is live.
func (r *running) waitLive(t testing.TB, within time.Duration) {
	t.Helper()
	select {
	case <-r.sig.Live():
	case err := <-r.done:
		r.ended, r.err = time.Now(), err
		require.Failf(t, "Run ended before going live", "Run ended before going live: %v", err)
	case <-time.After(within):
		require.Failf(t, "not live", "not live within %v", within)
	}
}

// verdictOf asserts err is a *health.Verdict.
func verdictOf(t testing.TB, err error) *health.Verdict {
	t.Helper()
	v, ok := err.(*health.Verdict)
	require.True(t, ok, "want a *health.Verdict, got %T %v", err, err)
	return v
}

// ffmpegChild finds the pid of the ffmpeg child whose command line contains
// marker (a unique stream name), polling until it appears.
func ffmpegChild(t testing.TB, parent int, marker string) int {
	t.Helper()
	pid := 0
	testpeer.Eventually(t, 10*time.Second, "the ffmpeg child", func() bool {
		pid = findProcess(parent, marker)
		return pid > 0
	})
	return pid
}

// findProcess scans /proc for a live process whose parent is parent (any
// parent when 0) and whose command line contains marker.
func findProcess(parent int, marker string) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmdline, err := os.ReadFile(d + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte(marker)) || !bytes.HasPrefix(cmdline, []byte("ffmpeg")) && !bytes.Contains(cmdline, []byte("/ffmpeg\x00")) {
			continue
		}
		state, ppid := procStat(d)
		if state == "Z" || state == "" || parent != 0 && ppid != parent {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		return pid
	}
	return 0
}

// procStat returns a process's state letter and parent pid.
func procStat(dir string) (string, int) {
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return "", 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return "", 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return f[0], ppid
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	state, _ := procStat(fmt.Sprintf("/proc/%d", pid))
	return state != "" && state != "Z"
}

// stopProcess makes sure a process found by a test is gone at the end.
func stopProcess(t testing.TB, pid int) {
	t.Cleanup(func() {
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// blackHole accepts TCP connections and never answers: a target that hangs
// the RTMP handshake. accepted is closed at the first connection.
func blackHole(t *testing.T) (url string, accepted <-chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	done, first := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if conns = append(conns, c); len(conns) == 1 {
				close(first)
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return fmt.Sprintf("rtmp://%s/live/hang", ln.Addr()), first
}
