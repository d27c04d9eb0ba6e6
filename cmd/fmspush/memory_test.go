package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/prober"
	"github.com/fmspush/fmspush/rtmp"
)

// The memory acceptance of the "Hostile input" issue, measured on the real
// process: its peak resident set (VmHWM of /proc/PID/status, and the
// kernel's ru_maxrss once it has exited) stays under memoryCeiling.
const memoryCeiling = 100 << 20

// bombSize is the hostile server's message: 16 MB of AMF nulls, the
// largest message RTMP's 24-bit length allows.
const bombSize = 1<<24 - 1

// amfBomb is a loopback RTMP server that answers every connect with one
// command message of bombSize bytes of AMF nulls (0x05), written chunk by
// chunk from a small buffer so that the server itself allocates little.
type amfBomb struct {
	ln    net.Listener
	url   string
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
	// connects counts the connect commands answered, and ours those whose
	// flashVer is not ffmpeg's (the fmspush process's own connects).
	connects, ours atomic.Int64
}

func startAMFBomb(t *testing.T) *amfBomb {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &amfBomb{ln: ln, conns: map[net.Conn]bool{},
		url: "rtmp://127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) + "/live/BOMBKEY"}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	return b
}

func (b *amfBomb) accept() {
	defer b.wg.Done()
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns[nc] = true
		b.mu.Unlock()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.serve(nc)
			b.mu.Lock()
			delete(b.conns, nc)
			b.mu.Unlock()
			nc.Close()
		}()
	}
}

func (b *amfBomb) close() {
	b.ln.Close()
	b.mu.Lock()
	for nc := range b.conns {
		nc.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *amfBomb) serve(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := rtmp.ServerHandshake(nc, rtmp.ServerHandshakeOptions{}); err != nil {
		return
	}
	c := rtmp.NewConn(nc, rtmp.ConnOptions{})
	for {
		m, err := c.ReadMessage()
		if err != nil {
			return
		}
		if m.Type != rtmp.TypeCommandAMF0 {
			continue
		}
		b.connects.Add(1)
		if cmd, err := rtmp.ParseCommand(m); err == nil {
			if fv, _ := cmd.ObjectArg(0).GetString("flashVer"); !strings.Contains(fv, "Lavf") {
				b.ours.Add(1)
			}
		}
		break
	}
	const chunk = 4096
	if c.SetOutChunkSize(chunk) != nil {
		return
	}
	bw := bufio.NewWriterSize(nc, 64<<10)
	bw.Write([]byte{0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, rtmp.TypeCommandAMF0, 0, 0, 0, 0})
	body := bytes.Repeat([]byte{0x05}, chunk)
	for off := 0; off < bombSize; off += chunk {
		if off > 0 {
			bw.WriteByte(0xC3)
		}
		if _, err := bw.Write(body[:min(chunk, bombSize-off)]); err != nil {
			return
		}
	}
	if bw.Flush() != nil {
		return
	}
	io.Copy(io.Discard, nc) // until the client goes away
}

// vmHWM is the peak resident set of a live process, from /proc/PID/status
// (0 once it has exited).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// peakWatch polls a process's VmHWM every 20 ms and keeps the largest seen.
type peakWatch struct {
	pid  int
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func watchPeak(pid int) *peakWatch {
	w := &peakWatch{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			w.sample()
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *peakWatch) sample() int64 {
	if v := vmHWM(w.pid); v > w.peak.Load() {
		w.peak.Store(v)
	}
	return w.peak.Load()
}

// end stops the polling and returns the peak seen.
func (w *peakWatch) end() int64 {
	close(w.stop)
	<-w.done
	return w.sample()
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// `fmspush probe` against the 16 MB AMF server: the verdict is L2 and the
// process's peak RSS stays under 100 MB. Measured: VmHWM 0.9-1.1 GB before
// any bound (the issue), 74-77 MB with the AMF bounds alone (the chunk
// reader assembled the 16 MB message), 14-17 MB refused at its header.
func TestMemoryProbeAgainstAMFBomb(t *testing.T) {
	bomb := startAMFBomb(t)
	cmd := exec.Command(binary(t), "probe", "-json", "-timeout", "20s", bomb.url)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Start())
	w := watchPeak(cmd.Process.Pid)
	err := cmd.Wait()
	polled := w.end()
	maxRSS := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	t.Logf("probe: VmHWM polled %s, ru_maxrss %s, %d connects; exit %v", mb(polled), mb(maxRSS), bomb.connects.Load(), err)
	require.Equal(t, 1, cmd.ProcessState.ExitCode(), "%s%s", out.String(), errb.String())
	var res prober.Result
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), "%s", out.String())
	require.NotNil(t, res.Verdict)
	require.Equal(t, health.LayerConnect, res.Verdict.Layer, "%+v", res.Verdict)
	require.Positive(t, bomb.connects.Load())
	require.Positive(t, polled)
	// ru_maxrss is only logged: the child is started with CLONE_VM, so
	// until its exec it counts the test process's own pages (107 MB late
	// in a -race run of the package, with the probe's own peak at 8 MB).
	require.Less(t, polled, int64(memoryCeiling))
	require.NotContains(t, out.String()+errb.String(), "BOMBKEY")
}

// startRun runs `fmspush run -config path` and returns it with its log;
// the process is killed at cleanup.
func startRun(t *testing.T, path string) (*exec.Cmd, *testpeer.LogBuffer) {
	t.Helper()
	cmd := exec.Command(binary(t), "run", "-config", path)
	logs := &testpeer.LogBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, logs
}

// A stream targeting the 16 MB AMF server keeps connecting (native path,
// standby probes, the ffmpeg path's child) and the service's peak RSS stays
// under 100 MB. Measured: 580-916 MB before any bound (the issue), 97.5 MB
// with the AMF bounds alone, 21 MB refused at the header.
func TestMemoryRunAgainstAMFBomb(t *testing.T) {
	bomb := startAMFBomb(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testpeer.FreePort(t))
	cfg := fmt.Sprintf(`service {
  http_listen = %q
  log_level = "debug"
}
stream "s" {
  source = "builtin:sample"
  target = %q
  failover {
    probe_interval  = "300ms"
    backoff_initial = "100ms"
    backoff_max     = "300ms"
    attempts_per_minute = 120
    circuit_failures = 100
  }
}
`, httpAddr, bomb.url)
	path := filepath.Join(t.TempDir(), "config.hcl")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	cmd, logs := startRun(t, path)
	w := watchPeak(cmd.Process.Pid)
	const attempts = 6
	testpeer.Eventually(t, 60*time.Second, fmt.Sprintf("%d connects of the service", attempts), func() bool {
		return bomb.ours.Load() >= attempts
	})
	peak := w.end()
	t.Logf("run: VmHWM %s after %d connects of the service (%d in all)", mb(peak), bomb.ours.Load(), bomb.connects.Load())
	require.Positive(t, peak)
	require.Less(t, peak, int64(memoryCeiling), "%s", tail(logs.String()))
	require.NotContains(t, logs.String(), "BOMBKEY")
}

func tail(s string) string {
	if len(s) > 4096 {
		return "..." + s[len(s)-4096:]
	}
	return s
}

// hostileConfig is size bytes of lines of unknown arguments.
func hostileConfig(size int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "unknown_argument_%d = \"value\"\n", i)
	}
	return b.Bytes()[:size]
}

// getBody GETs http://addr+path and returns the status and body.
func getBody(t *testing.T, addr, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, body
}

// A running service whose config is replaced by a hostile one keeps its
// old config, answers /healthz in under 64 KB and stays under 100 MB: 5 MB
// of lines of unknown arguments (refused by its size), 1 MiB of them
// (refused by its tokens), lines "a=1" up to just under config.MaxTokens
// (parsed by HCL and refused), and 200,000 nested brackets (refused by their
// nesting). Measured before the bounds: /healthz 37 MB and VmHWM 703 MB for
// the 5 MB file (the issue), 88-105 MB for the 1 MiB one, 425 MB for 1 MiB
// of "a=1", and the nested brackets overflowed the parser's stack: the
// service died.
func TestMemoryHostileConfigReload(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  []byte
	}{
		{"5MB_unknown_arguments", hostileConfig(5 << 20)},
		{"1MiB_unknown_arguments", hostileConfig(1<<20 - 1)},
		{"a=1_at_the_token_bound", bytes.Repeat([]byte("a=1\n"), config.MaxTokens/4-100)},
		{"nested_brackets", []byte("a = " + strings.Repeat("[", 200000) + strings.Repeat("]", 200000) + "\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config.hcl")
			httpAddr := fmt.Sprintf("127.0.0.1:%d", testpeer.FreePort(t))
			good := fmt.Sprintf("service {\n  http_listen = %q\n}\n", httpAddr) + idleStream("keep", "rtmp://127.0.0.1:1/live/k")
			require.NoError(t, os.WriteFile(path, []byte(good), 0o644))
			cmd, logs := startRun(t, path)
			testpeer.WaitTCP(t, httpAddr, 10*time.Second)
			w := watchPeak(cmd.Process.Pid)
			before := vmHWM(cmd.Process.Pid)

			tmp := filepath.Join(dir, ".config.hcl.new")
			require.NoError(t, os.WriteFile(tmp, tc.src, 0o644))
			require.NoError(t, os.Rename(tmp, path))
			var st health.ServiceStatus
			testpeer.Eventually(t, 30*time.Second, "the failed reload in config.last_error", func() bool {
				_, body := getBody(t, httpAddr, "/v1/streams")
				st = health.ServiceStatus{}
				return json.Unmarshal(body, &st) == nil && st.Config.LastError != ""
			})
			code, hz := getBody(t, httpAddr, "/healthz")
			peak := w.end()
			t.Logf("%s (%d bytes): VmHWM %s (before the reload %s), /healthz %d bytes, last_error %d bytes: %.200s",
				tc.name, len(tc.src), mb(peak), mb(before), len(hz), len(st.Config.LastError), st.Config.LastError)
			require.True(t, alive(cmd.Process.Pid), "the service died: %s", tail(logs.String()))
			require.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, code)
			require.Less(t, len(hz), 64<<10)
			require.Len(t, st.Streams, 1, "the old config is kept")
			require.Equal(t, "keep", st.Streams[0].Name)
			require.Less(t, peak, int64(memoryCeiling), "%s", tail(logs.String()))
			require.Less(t, len(logs.String()), 256<<10, "the log stays small")
		})
	}
}
