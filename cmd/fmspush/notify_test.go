package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/internal/testpeer"
)

// notifySocket is a unixgram socket standing in for systemd's
// NOTIFY_SOCKET: every datagram the service sends arrives on msgs.
type notifySocket struct {
	path string
	conn *net.UnixConn
	msgs chan string
	done chan struct{}
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	// A short directory: a socket path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "sdn")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &notifySocket{path: filepath.Join(dir, "notify"), msgs: make(chan string, 256), done: make(chan struct{})}
	n.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	require.NoError(t, err)
	go func() {
		defer close(n.done)
		buf := make([]byte, 4096)
		for {
			k, err := n.conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case n.msgs <- string(buf[:k]):
			default: // a test that stopped reading: drop
			}
		}
	}()
	t.Cleanup(func() { n.conn.Close(); <-n.done })
	return n
}

// next returns the next datagram, failing after within.
func (n *notifySocket) next(t *testing.T, within time.Duration, what string) string {
	t.Helper()
	select {
	case m := <-n.msgs:
		return m
	case <-time.After(within):
		require.FailNow(t, "no notification within "+within.String(), "waiting for %s", what)
		return ""
	}
}

// await reads datagrams until one has the line want, and returns the
// datagrams before it. WATCHDOG=1 pings may come in between any two.
func (n *notifySocket) await(t *testing.T, within time.Duration, want string) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	var before []string
	for {
		left := time.Until(deadline)
		require.Positive(t, left, "no %s within %s; got %q", want, within, before)
		m := n.next(t, left, want)
		if hasLine(m, want) {
			return before
		}
		before = append(before, m)
	}
}

func hasLine(msg, line string) bool {
	for _, l := range strings.Split(msg, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// nonPings drops WATCHDOG=1 pings.
func nonPings(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		if m != "WATCHDOG=1" {
			out = append(out, m)
		}
	}
	return out
}

// idleConfigFile writes a config of one idle stream ("a") to the
// emulator, listening for HTTP on a free port: its path and that address.
func idleConfigFile(t *testing.T) (path, httpAddr string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "config.hcl")
	httpAddr = fmt.Sprintf("127.0.0.1:%d", testpeer.FreePort(t))
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(configText("%s", idleStream("a", "emulator://live/a")), httpAddr)), 0o644))
	return path, httpAddr
}

// TestSystemdNotifyProtocol runs the built binary as systemd would for a
// Type=notify unit with WatchdogSec: READY=1 only once /healthz answers,
// WATCHDOG=1 at half the watchdog period, RELOADING=1 then READY=1 around
// a SIGHUP reload and a change of the file, STOPPING=1 on SIGTERM.
func TestSystemdNotifyProtocol(t *testing.T) {
	sock := listenNotify(t)
	path, httpAddr := idleConfigFile(t)

	cmd := exec.Command(binary(t), "run", "-config", path)
	const watchdog = 600 * time.Millisecond
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock.path, fmt.Sprintf("WATCHDOG_USEC=%d", watchdog.Microseconds()))
	// WATCHDOG_PID is the main pid, which is not known before the start:
	// without it the library takes the watchdog as meant for this process.
	logs := &testpeer.LogBuffer{}
	cmd.Stderr = logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	// READY=1 comes when the status API answers already: asked at once,
	// with no retry, /healthz gives an HTTP answer (503 while the streams
	// are not live is an answer).
	before := sock.await(t, 20*time.Second, "READY=1")
	require.Empty(t, nonPings(before), "notifications before READY=1")
	resp, err := http.Get("http://" + httpAddr + "/healthz")
	require.NoError(t, err, "READY=1 was sent before the status API answered")
	resp.Body.Close()

	// Pings every watchdog/2: three within two periods, with some slack.
	start := time.Now()
	for i := 0; i < 3; i++ {
		m := sock.next(t, 2*watchdog, "WATCHDOG=1")
		require.Equal(t, "WATCHDOG=1", m)
	}
	require.Less(t, time.Since(start), 4*watchdog, "watchdog pings too slow")

	// SIGHUP: RELOADING=1, then READY=1 once the file is applied.
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(configText("%s", idleStream("a", "emulator://live/a"), idleStream("b", "emulator://live/b")), httpAddr)), 0o644))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	sock.await(t, 10*time.Second, "RELOADING=1")
	between := sock.await(t, 10*time.Second, "READY=1")
	require.Empty(t, nonPings(between), "between RELOADING=1 and READY=1")
	// The log comes through a pipe, behind the datagrams.
	testpeer.Eventually(t, 5*time.Second, "the reload in the log", func() bool {
		return strings.Contains(logs.String(), `added=["b"]`)
	})

	// A change of the file, with no signal, is a reload too.
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(configText("%s", idleStream("a", "emulator://live/a")), httpAddr)), 0o644))
	sock.await(t, 10*time.Second, "RELOADING=1")
	between = sock.await(t, 10*time.Second, "READY=1")
	require.Empty(t, nonPings(between), "between RELOADING=1 and READY=1")
	testpeer.Eventually(t, 5*time.Second, "the file's reload in the log", func() bool {
		return strings.Contains(logs.String(), `removed=["b"]`)
	})

	// SIGTERM: STOPPING=1, and a clean exit.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	sock.await(t, 10*time.Second, "STOPPING=1")
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		require.NoError(t, err, "exit after SIGTERM:\n%s", logs.String())
	case <-time.After(20 * time.Second):
		require.FailNow(t, "fmspush did not exit within 20s of SIGTERM")
	}
}

// TestSystemdWatchdogOtherPID: a WATCHDOG_PID that is not the service's
// own means the watchdog is another process's: no pings.
func TestSystemdWatchdogOtherPID(t *testing.T) {
	sock := listenNotify(t)
	path, _ := idleConfigFile(t)
	cmd := exec.Command(binary(t), "run", "-config", path)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=100000", "WATCHDOG_PID=1")
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	sock.await(t, 20*time.Second, "READY=1")
	// Four watchdog periods: a ping would have come by now; then the
	// STOPPING=1 of a SIGTERM must be the next notification.
	deadline := time.Now().Add(400 * time.Millisecond)
	for time.Now().Before(deadline) {
		select {
		case m := <-sock.msgs:
			require.Failf(t, "unexpected notification", "%q", m)
		case <-time.After(time.Until(deadline)):
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, "STOPPING=1\nSTATUS=stopping", sock.next(t, 10*time.Second, "STOPPING=1"))
}

// recorder is a notifier's send that keeps what was sent.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) send(state string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, state)
	return true, nil
}

func (r *recorder) count(state string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if hasLine(m, state) {
			n++
		}
	}
	return n
}

// TestWatchdogStopsWhileTheMainLoopIsWedged: the pings come from the
// service's main loop, so a loop stuck in applying an update sends none
// (systemd then kills and restarts the service), and they resume after.
func TestWatchdogStopsWhileTheMainLoopIsWedged(t *testing.T) {
	path, _ := idleConfigFile(t)
	rec := &recorder{}
	const interval = 20 * time.Millisecond
	wedged, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hup := make(chan os.Signal, 1)
	svc := &service{ConfigPath: path, Stderr: &testpeer.LogBuffer{}, Reload: hup,
		notify: &notifier{log: hclog.NewNullLogger(), send: rec.send, interval: interval}}
	svc.beforeUpdate = func() {
		if rec.count("RELOADING=1") > 0 { // the SIGHUP's update, not the first
			once.Do(func() { close(wedged); <-release })
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	unwedge := sync.OnceFunc(func() { close(release) })
	defer func() {
		unwedge() // also when the test fails while the loop is wedged
		cancel()
		require.NoError(t, <-done)
	}()

	testpeer.Eventually(t, 10*time.Second, "READY=1 and pings", func() bool {
		return rec.count("READY=1") == 1 && rec.count("WATCHDOG=1") >= 3
	})
	hup <- syscall.SIGHUP
	select {
	case <-wedged:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the reload never reached the main loop")
	}
	// Wedged for 25 intervals: at most the one ping already on its way.
	n := rec.count("WATCHDOG=1")
	deadline := time.Now().Add(25 * interval)
	for time.Now().Before(deadline) {
		require.LessOrEqual(t, rec.count("WATCHDOG=1"), n+1, "a ping while the main loop was wedged")
		time.Sleep(interval)
	}
	unwedge()
	testpeer.Eventually(t, 10*time.Second, "READY=1 after the reload and pings again", func() bool {
		return rec.count("READY=1") == 2 && rec.count("WATCHDOG=1") >= n+3
	})
}
