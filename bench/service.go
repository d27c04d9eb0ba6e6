package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fmspush/fmspush/health"
)

// NativeFlashVer is the flashVer the bench gives the native path, so that
// the emulator can tell its sessions from ffmpeg's and fault one path only.
const NativeFlashVer = "FMLE/3.0 (compatible; fmspush-native)"

// IsNative reports whether a session's flashVer is the native path's.
func IsNative(flashVer string) bool { return flashVer == NativeFlashVer }

// StreamSpec is one stream of a generated config.
type StreamSpec struct {
	Name   string
	Source string // builtin:sample or file:PATH
	Target string // rtmp://...
	Prefer string // native or ffmpeg
	Driver string // the ffmpeg path's driver: exec (default) or libav
}

// Failover are the failover settings written into every stream; zero
// fields keep fmspush's defaults.
type Failover struct {
	ProbeInterval     time.Duration
	FailbackAfter     time.Duration
	BackoffInitial    time.Duration
	BackoffMax        time.Duration
	AttemptsPerMinute int
	CircuitFailures   int
}

// FastFailover are settings for fault injection: short probe interval and
// backoff, and limits high enough that many faults in a row never open a
// circuit or hit the per-host rate limit.
var FastFailover = Failover{
	ProbeInterval:     300 * time.Millisecond,
	FailbackAfter:     time.Hour,
	BackoffInitial:    100 * time.Millisecond,
	BackoffMax:        500 * time.Millisecond,
	AttemptsPerMinute: 600,
	CircuitFailures:   1000,
}

// ServiceOptions start one fmspush service.
type ServiceOptions struct {
	Binary   string // bin/fmspush
	Dir      string // working directory for the config and the log
	Streams  []StreamSpec
	Failover Failover
	LogLevel string // default warn
}

// Service is a running `fmspush run` subprocess.
type Service struct {
	Started time.Time // just before the process was started
	HTTP    string    // status API host:port
	Debug   string    // pprof host:port (FMSPUSH_DEBUG_LISTEN)
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// FreePort returns a free loopback TCP port.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func dur(d time.Duration) string { return strconv.Quote(d.String()) }

// Config renders the HCL config for opts with the status API on httpAddr.
func Config(opts ServiceOptions, httpAddr string) string {
	lvl := opts.LogLevel
	if lvl == "" {
		lvl = "warn"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "service {\n  http_listen = %q\n  log_level = %q\n}\n", httpAddr, lvl)
	f := opts.Failover
	for _, s := range opts.Streams {
		fmt.Fprintf(&b, "stream %q {\n  source = %q\n  target = %q\n  prefer = %q\n", s.Name, s.Source, s.Target, s.Prefer)
		fmt.Fprintf(&b, "  native {\n    flashver = %q\n  }\n", NativeFlashVer)
		if s.Driver != "" {
			fmt.Fprintf(&b, "  ffmpeg {\n    driver = %q\n  }\n", s.Driver)
		}
		b.WriteString("  failover {\n")
		if f.ProbeInterval > 0 {
			fmt.Fprintf(&b, "    probe_interval = %s\n", dur(f.ProbeInterval))
		}
		if f.FailbackAfter > 0 {
			fmt.Fprintf(&b, "    failback_after = %s\n", dur(f.FailbackAfter))
		}
		if f.BackoffInitial > 0 {
			fmt.Fprintf(&b, "    backoff_initial = %s\n", dur(f.BackoffInitial))
		}
		if f.BackoffMax > 0 {
			fmt.Fprintf(&b, "    backoff_max = %s\n", dur(f.BackoffMax))
		}
		if f.AttemptsPerMinute > 0 {
			fmt.Fprintf(&b, "    attempts_per_minute = %d\n", f.AttemptsPerMinute)
		}
		if f.CircuitFailures > 0 {
			fmt.Fprintf(&b, "    circuit_failures = %d\n", f.CircuitFailures)
		}
		b.WriteString("  }\n}\n")
	}
	return b.String()
}

// StartService writes the config and starts `fmspush run` with the debug
// listener on; it returns once the status API answers.
func StartService(ctx context.Context, opts ServiceOptions) (*Service, error) {
	hp, err := FreePort()
	if err != nil {
		return nil, err
	}
	dp, err := FreePort()
	if err != nil {
		return nil, err
	}
	s := &Service{HTTP: fmt.Sprintf("127.0.0.1:%d", hp), Debug: fmt.Sprintf("127.0.0.1:%d", dp),
		LogPath: filepath.Join(opts.Dir, "fmspush.log"), done: make(chan struct{})}
	cfgPath := filepath.Join(opts.Dir, "bench.hcl")
	if err := os.WriteFile(cfgPath, []byte(Config(opts, s.HTTP)), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(s.LogPath)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(opts.Binary, "run", "-config", cfgPath)
	s.cmd.Dir = opts.Dir
	s.cmd.Env = append(os.Environ(), "FMSPUSH_DEBUG_LISTEN="+s.Debug)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	s.Started = time.Now()
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { s.err = s.cmd.Wait(); logf.Close(); close(s.done) }()
	err = Poll(ctx, 15*time.Second+time.Duration(len(opts.Streams))*50*time.Millisecond, func() bool {
		_, err := s.Streams()
		return err == nil
	})
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("fmspush did not serve its status API: %w (log %s)", err, s.LogPath)
	}
	return s, nil
}

// PID is the service's process id.
func (s *Service) PID() int { return s.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (s *Service) Exited() <-chan struct{} { return s.done }

// Stop interrupts the service (a clean shutdown unpublishes every stream)
// and kills its process group if it has not exited within 10 s.
func (s *Service) Stop() error {
	select {
	case <-s.done:
		return s.err
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	return s.err
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func getJSON(url string, v any) error {
	resp, err := httpClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Streams returns every stream's status by name.
func (s *Service) Streams() (map[string]health.StreamStatus, error) {
	var st health.ServiceStatus
	if err := getJSON("http://"+s.HTTP+"/v1/streams", &st); err != nil {
		return nil, err
	}
	out := map[string]health.StreamStatus{}
	for _, x := range st.Streams {
		out[x.Name] = x
	}
	return out, nil
}

// Goroutines reads the service's goroutine count from its debug listener.
func (s *Service) Goroutines() (int, error) {
	resp, err := httpClient.Get("http://" + s.Debug + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		return 0, err
	}
	// "goroutine profile: total N"
	_, n, ok := strings.Cut(strings.TrimSpace(line), "total ")
	if !ok {
		return 0, fmt.Errorf("unexpected goroutine profile header %q", line)
	}
	return strconv.Atoi(n)
}

// CPUProfile records a CPU profile of the service for d into path.
func (s *Service) CPUProfile(d time.Duration, path string) error {
	return s.fetchProfile(fmt.Sprintf("profile?seconds=%d", int(d.Seconds())), d, path)
}

// HeapProfile writes the service's heap profile (in-use and allocated
// since start) into path.
func (s *Service) HeapProfile(path string) error { return s.fetchProfile("heap", 0, path) }

func (s *Service) fetchProfile(what string, d time.Duration, path string) error {
	c := &http.Client{Timeout: d + 30*time.Second}
	resp, err := c.Get("http://" + s.Debug + "/debug/pprof/" + what)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// FFmpegChildren returns the service's ffmpeg child processes.
func (s *Service) FFmpegChildren() []ProcSample { return Children(s.PID(), "ffmpeg") }

// ErrTimeout is returned by Poll when the condition did not hold in time.
var ErrTimeout = errors.New("timed out")

// Poll checks cond every 20 ms until it holds, within ends, or ctx ends.
func Poll(ctx context.Context, within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return ErrTimeout
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
