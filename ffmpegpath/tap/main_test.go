package tap

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fmspush/fmspush/internal/testpeer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Settings of the tests against real servers.
const (
	stallAfter   = 2 * time.Second // the emulator stops reading this long after the publish
	stallTimeout = 3 * time.Second
	detectLimit  = stallTimeout + time.Second // what the relay must meet
)

// testLogger logs at debug level into a buffer the test can search.
func testLogger(t testing.TB) (hclog.Logger, *testpeer.LogBuffer) {
	buf := &testpeer.LogBuffer{}
	return hclog.New(&hclog.LoggerOptions{Name: "tap", Level: hclog.Debug, Output: buf}), buf
}

// startRelay starts a relay to target (host:port) that the test closes at its end.
func startRelay(t testing.TB, target string, edit func(*Relay)) (*Relay, *testpeer.LogBuffer) {
	t.Helper()
	log, buf := testLogger(t)
	r := &Relay{Target: target, StallTimeout: stallTimeout, Logger: log}
	if edit != nil {
		edit(r)
	}
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { r.Close() })
	return r, buf
}

// pusher is one ffmpeg publishing through a relay.
type pusher struct {
	cmd    *exec.Cmd
	done   chan struct{}
	stderr testpeer.LogBuffer
}

// push starts ffmpeg publishing src (-re, copied; looped when loop) to
// target through relay r: the URL rewritten to r's address, -rtmp_tcurl the
// real one. The test kills it at its end if it still runs.
func push(t testing.TB, r *Relay, target, src string, loop bool) *pusher {
	t.Helper()
	testpeer.Need(t, "ffmpeg")
	tg, err := ParseTarget(target, "")
	require.NoError(t, err)
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "warning", "-re"}
	if loop {
		args = append(args, "-stream_loop", "-1")
	}
	args = append(args, "-i", src, "-c", "copy", "-f", "flv", "-rtmp_tcurl", tg.TCURL, tg.LocalURL(r.Addr()))
	p := &pusher{cmd: exec.Command("ffmpeg", args...), done: make(chan struct{})}
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, p.cmd.Start())
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// exited reports whether ffmpeg has exited.
func (p *pusher) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks ffmpeg to finish (SIGINT: it unpublishes) and waits for it.
func (p *pusher) stop(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	testpeer.Eventually(t, 10*time.Second, "ffmpeg to exit after SIGINT", p.exited)
}

// waitDone waits for the relay to end, failing the test after within.
func waitDone(t testing.TB, r *Relay, within time.Duration) error {
	t.Helper()
	select {
	case <-r.Done():
		return r.Err()
	case <-time.After(within):
		require.Failf(t, "the relay did not end", "the relay did not end within %v; reading %+v", within, r.Reading())
		return nil
	}
}
