package testpeer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is an RTMP server started for one test (nginx-rtmp, lal, go2rtc,
// node-media-server): a process of its own on 127.0.0.1, stopped by
// t.Cleanup. scripts/peers.sh builds or installs the independent servers'
// binaries into PeersDir. Stop and Restart end the process mid-test (a
// server-side reset as a publisher sees it); Restart starts it again on the
// same port with the same configuration.
type Server struct {
	// Name is the server and its version, e.g. "lal v0.37.4".
	Name string
	Port int
	// AppURL is rtmp://127.0.0.1:PORT/live: publish to AppURL + "/" + name.
	AppURL string
	// Dir is the server's working directory (its config and logs).
	Dir string
	// Log is the server's stdout and stderr.
	Log LogBuffer
	// Started is how long the server took from exec to accepting on Port.
	Started time.Duration

	playURL    func(name string) string
	publishURL func(name string) string
	recording  func(name string) string
	argv       []string // the command line, for Restart

	mu   sync.Mutex // guards cmd and done (Restart replaces them)
	cmd  *exec.Cmd
	done chan struct{}
}

// PeersDir is where scripts/peers.sh puts the servers it builds and installs:
// $FMSPUSH_PEERS_DIR, by default ~/.cache/fmspush-peers.
func PeersDir() string {
	if d := os.Getenv("FMSPUSH_PEERS_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "fmspush-peers")
	}
	return filepath.Join(home, ".cache", "fmspush-peers")
}

// needPeerFile is Need for a file scripts/peers.sh provides: a missing one
// fails the test under FMSPUSH_REQUIRE_PEERS (make test) and skips it
// otherwise.
func needPeerFile(t testing.TB, path, what string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("FMSPUSH_REQUIRE_PEERS") != "" {
			t.Fatalf("required peer %s is not installed (%v): run scripts/peers.sh", what, err)
		}
		t.Skipf("%s not installed: run scripts/peers.sh", what)
	}
}

// writeConfig copies testdata/NAME into dir with every key of repl replaced
// by its value, and returns the copy's path.
func writeConfig(t testing.TB, dir, name string, repl ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdataDir(t), name))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	out := filepath.Join(dir, name)
	if err := os.WriteFile(out, []byte(strings.NewReplacer(repl...).Replace(string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// testdataDir finds internal/testpeer/testdata above the working directory.
func testdataDir(t testing.TB) string {
	t.Helper()
	dir, _ := os.Getwd()
	for i := 0; i < 6; i++ {
		p := filepath.Join(dir, "internal", "testpeer", "testdata")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if filepath.Base(dir) == "testpeer" {
			if _, err := os.Stat(filepath.Join(dir, "testdata")); err == nil {
				return filepath.Join(dir, "testdata")
			}
		}
		dir = filepath.Dir(dir)
	}
	t.Fatal("internal/testpeer/testdata not found above the working directory")
	return ""
}

// startServer runs cmd in s.Dir, waits until s.Port accepts and registers
// the stop (SIGTERM, then SIGKILL to the process group after 5 s).
func startServer(t testing.TB, s *Server, cmd *exec.Cmd) *Server {
	t.Helper()
	s.argv = append([]string{cmd.Path}, cmd.Args[1:]...)
	s.Started = s.launch(t)
	t.Cleanup(s.stop)
	t.Logf("%s listening on 127.0.0.1:%d after %v", s.Name, s.Port, s.Started.Round(time.Millisecond))
	return s
}

// launch starts s.argv in s.Dir and waits until s.Port is listening; it
// returns how long that took.
func (s *Server) launch(t testing.TB) time.Duration {
	t.Helper()
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Dir = s.Dir
	cmd.Stdout = &s.Log
	cmd.Stderr = &s.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", s.Name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !listening(s.Port) {
		select {
		case <-done:
			t.Fatalf("%s exited before listening: %v\n%s", s.Name, cmd.ProcessState, s.Log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %d within 10s:\n%s", s.Name, s.Port, s.Log.String())
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for a condition
	}
	return time.Since(begin)
}

// Stop ends the server's process (SIGTERM, then SIGKILL to its process
// group after 5 s) and waits until it has exited and its port is closed.
// The connections it held end with it: publishers and players see the
// server go away. It returns how long the stop took.
func (s *Server) Stop(t testing.TB) time.Duration {
	t.Helper()
	begin := time.Now()
	s.stop()
	Eventually(t, 5*time.Second, s.Name+"'s port to close", func() bool { return !listening(s.Port) })
	return time.Since(begin)
}

// Restart stops the server (Stop) and starts it again on the same port with
// the same configuration; the streams it held are gone until publishers
// come back. It returns how long the server was away: from the stop to the
// new process listening.
func (s *Server) Restart(t testing.TB) time.Duration {
	t.Helper()
	begin := time.Now()
	stopped := s.Stop(t)
	fmt.Fprintf(&s.Log, "--- testpeer: %s restarted ---\n", s.Name)
	up := s.launch(t)
	away := time.Since(begin)
	t.Logf("%s restarted on 127.0.0.1:%d: stopped in %v, listening again %v later (away %v)", s.Name, s.Port,
		stopped.Round(time.Millisecond), up.Round(time.Millisecond), away.Round(time.Millisecond))
	return away
}

// stop ends the current process, if it still runs.
func (s *Server) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// listening reports whether something listens on 127.0.0.1:port (read from
// /proc/net/tcp, so no connection is opened).
func listening(port int) bool {
	b, _ := os.ReadFile("/proc/net/tcp")
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == want && f[3] == "0A" {
			return true
		}
	}
	return false
}

// Addr is the server's RTMP address (127.0.0.1:PORT).
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// PublishURL is the RTMP URL that publishes the stream name (AppURL/name,
// unless the server names streams otherwise: see StartGo2RTCStreams). A
// query (an auth token) is appended to it by the caller.
func (s *Server) PublishURL(name string) string {
	if s.publishURL != nil {
		return s.publishURL(name)
	}
	return s.AppURL + "/" + name
}

// Recording is the file the server records a publish of name to, or ""
// when it records nothing (only StartNginxServer's nginx-rtmp records).
func (s *Server) Recording(name string) string {
	if s.recording != nil {
		return s.recording(name)
	}
	return ""
}

// PlayURL is the RTMP URL that plays what was published to PublishURL(name).
func (s *Server) PlayURL(name string) string {
	if s.playURL != nil {
		return s.playURL(name)
	}
	return s.AppURL + "/" + name
}

// Capture plays name from the server for d (ffmpeg -c copy into an FLV file)
// and returns the file's ffprobe report. It fails the test when ffmpeg
// cannot play the stream.
func (s *Server) Capture(t testing.TB, name string, d time.Duration) *Probe {
	t.Helper()
	return FFprobe(t, s.CaptureFile(t, name, d))
}

// CaptureFile is Capture without the probe: it returns the FLV file. Until
// the stream is there (go2rtc refuses a play before the publish) it tries
// again, for up to 20 s.
func (s *Server) CaptureFile(t testing.TB, name string, d time.Duration) string {
	t.Helper()
	Need(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), name+".flv")
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), d+15*time.Second)
		// -rtmp_live live: without it ffmpeg asks getStreamLength, which
		// go2rtc does not know.
		cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
			"-rtmp_live", "live", "-rw_timeout", "3000000", "-i", s.PlayURL(name),
			"-t", fmt.Sprintf("%.3f", d.Seconds()), "-c", "copy", "-y", out)
		var stderr LogBuffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		cancel()
		if err == nil {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("play %s from %s: %v\n%s\nserver log:\n%s", name, s.Name, err, stderr.String(), tail(s.Log.String(), 40))
		}
		time.Sleep(200 * time.Millisecond) // retry interval, not a wait for a condition
	}
}

// tail returns the last n lines of text.
func tail(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
