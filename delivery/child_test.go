//go:build linux

package delivery

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// childEnv makes the test binary a writer child: it connects to the address in the variable
// and writes until killed (or for at most childLife).
const childEnv = "DELIVERY_TEST_CHILD"

// childLife bounds a writer child's life should its parent die without killing it.
const childLife = 30 * time.Second

// runChild is the writer child's main.
func runChild() int {
	c, err := net.Dial("tcp", os.Getenv(childEnv))
	if err != nil {
		return 2
	}
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(childLife))
	buf := make([]byte, 5000)
	tick := time.NewTicker(10 * time.Millisecond) // 4 Mbit/s
	defer tick.Stop()
	for range tick.C {
		if _, err := c.Write(buf); err != nil {
			return 0
		}
	}
	return 0
}

// startChild re-executes the test binary as a writer to addr.
func startChild(t *testing.T, addr string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+addr)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// poll calls f every 50 ms until it returns true or d passes.
func poll(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		require.True(t, time.Now().Before(deadline), "timed out waiting: %s", what)
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReadProcess(t *testing.T) {
	t.Parallel()
	ln := listen(t, 0)
	rd := startReader(t, ln)
	cmd := startChild(t, ln.Addr().String())
	pid, remote := cmd.Process.Pid, ln.Addr().String()
	m := &Meter{StallTimeout: time.Second}
	var first Sample
	poll(t, 5*time.Second, "the child's socket", func() bool {
		s, err := ReadProcess(pid, remote)
		if errors.Is(err, ErrNoSocket) {
			return false
		}
		require.NoError(t, err)
		first = s
		m.Observe(s)
		return s.Acked > 0
	})
	var last Sample
	poll(t, 5*time.Second, "Acked growing", func() bool {
		var err error
		last, err = ReadProcess(pid, remote)
		require.NoError(t, err)
		require.False(t, m.Observe(last).Stalled)
		return last.Acked > first.Acked+100_000
	})
	require.NotZero(t, last.PeerWindow)
	require.NotZero(t, last.RTT)
	close(rd.stop)
	stoppedAt := <-rd.stopped
	var r Reading
	poll(t, 10*time.Second, "Queued > 0 and a stall", func() bool {
		s, err := ReadProcess(pid, remote)
		require.NoError(t, err)
		require.GreaterOrEqual(t, s.Acked, last.Acked)
		last, r = s, m.Observe(s)
		return s.Queued > 0 && r.Stalled
	})
	t.Logf("ReadProcess: Stalled %v after the reader stopped; %+v", last.At.Sub(stoppedAt).Round(time.Millisecond), r)

	_, err := ReadProcess(pid, "127.0.0.1:1")
	require.ErrorIs(t, err, ErrNoSocket)
	_, err = ReadProcess(pid, "[::1]:"+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	require.ErrorIs(t, err, ErrNoSocket)
	_, err = ReadProcess(os.Getpid(), remote) // this process holds only the accepted end
	require.ErrorIs(t, err, ErrNoSocket)
	_, err = ReadProcess(pid, "localhost:80")
	require.Error(t, err)
}
