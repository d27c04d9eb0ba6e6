package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/internal/testpeer"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds fmspush once per test run (tests and benchmarks).
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fmspush-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "fmspush")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

// childrenOf lists the pids whose parent is pid and whose command is comm.
func childrenOf(pid int, comm string) []int {
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		end := bytes.LastIndexByte(stat, ')')
		if end < 0 || !bytes.Contains(stat[:end], []byte("("+comm)) {
			continue
		}
		fields := strings.Fields(string(stat[end+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			p, _ := strconv.Atoi(filepath.Base(d))
			out = append(out, p)
		}
	}
	return out
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	end := bytes.LastIndexByte(b, ')')
	return end > 0 && !bytes.HasPrefix(bytes.TrimSpace(b[end+1:]), []byte("Z"))
}

// startBinary runs `fmspush run` on a config with one ffmpeg-preferred stream
// to the builtin emulator and waits until ffmpeg publishes.
func startBinary(t *testing.T) (*exec.Cmd, int, *testpeer.LogBuffer) {
	t.Helper()
	testpeer.Need(t, "ffmpeg")
	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testpeer.FreePort(t))
	cfg := fmt.Sprintf(failoverConfig("lenient", nil, "ffmpeg", ""), httpAddr)
	path := filepath.Join(dir, "config.hcl")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	cmd := exec.Command(binary(t), "run", "-config", path)
	logs := &testpeer.LogBuffer{}
	cmd.Stderr = logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var ff int
	testpeer.Eventually(t, 30*time.Second, "an ffmpeg child publishing", func() bool {
		kids := childrenOf(cmd.Process.Pid, "ffmpeg")
		if len(kids) == 0 || !strings.Contains(logs.String(), "live:") {
			return false
		}
		ff = kids[0]
		return true
	})
	return cmd, ff, logs
}

func TestSIGTERMStopsCleanlyWithExit0(t *testing.T) {
	cmd, ff, logs := startBinary(t)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "exit after SIGTERM:\n%s", logs.String())
	case <-time.After(15 * time.Second):
		require.Fail(t, "fmspush did not exit within 15s of SIGTERM")
	}
	require.False(t, alive(ff), "ffmpeg %d still running after a clean stop", ff)
	require.Contains(t, logs.String(), "stopped", "no stop in the log")
}

func TestSIGKILLLeavesNoFFmpegBehind(t *testing.T) {
	cmd, ff, _ := startBinary(t)
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	testpeer.Eventually(t, 5*time.Second, fmt.Sprintf("ffmpeg %d to die with its parent", ff), func() bool { return !alive(ff) })
}

func TestVersionCommand(t *testing.T) {
	out, err := exec.Command(binary(t), "version").Output()
	require.True(t, err == nil && strings.HasPrefix(string(out), "fmspush "), "version: %v %q", err, out)
	require.Error(t, exec.Command(binary(t), "bogus").Run(), "an unknown command must fail")
}
