package testpeer

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Etcd is a one-member etcd cluster (Debian's etcd-server, /usr/bin/etcd)
// on loopback, with its data in a test's temporary directory.
type Etcd struct {
	// URL is the client URL, http://127.0.0.1:PORT.
	URL string
	// Addr is the client address, 127.0.0.1:PORT.
	Addr string
	t    testing.TB
	dir  string
	peer int
	cmd  *exec.Cmd
	log  *LogBuffer
}

// StartEtcd starts etcd for the test and stops it by t.Cleanup; the test
// is skipped without etcd (failed with FMSPUSH_REQUIRE_PEERS set).
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	Need(t, "etcd")
	port := FreePort(t)
	e := &Etcd{t: t, dir: t.TempDir(), peer: FreePort(t), log: &LogBuffer{},
		Addr: "127.0.0.1:" + strconv.Itoa(port)}
	e.URL = "http://" + e.Addr
	e.Start()
	t.Cleanup(e.Stop)
	return e
}

// Start starts etcd (again, after Stop: with the same data, so leases
// granted before it stopped are still known).
func (e *Etcd) Start() {
	e.t.Helper()
	peer := fmt.Sprintf("http://127.0.0.1:%d", e.peer)
	e.cmd = exec.Command("etcd", "--name", "t", "--data-dir", e.dir,
		"--listen-client-urls", e.URL, "--advertise-client-urls", e.URL,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "t="+peer, "--log-outputs", "stderr", "--logger", "zap")
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := e.cmd.Start(); err != nil {
		e.t.Fatalf("start etcd: %v", err)
	}
	WaitTCP(e.t, e.Addr, 15*time.Second)
	Eventually(e.t, 15*time.Second, "etcd healthy (a leader elected)", e.healthy)
}

// healthy reports whether etcd's /health says it serves (it has a leader):
// a member killed before that may not come back with its data.
func (e *Etcd) healthy() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(e.URL + "/health")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return resp.StatusCode == http.StatusOK && strings.Contains(string(b), `"true"`)
}

// Stop stops etcd (SIGKILL: as a crash) and waits for it.
func (e *Etcd) Stop() {
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Kill()
	_ = e.cmd.Wait()
	e.cmd = nil
}

// Log returns what etcd wrote.
func (e *Etcd) Log() string { return e.log.String() }
