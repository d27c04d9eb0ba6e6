// Package testpeer starts real protocol peers for tests: nginx with the RTMP
// module, lal, go2rtc and node-media-server (Server), a one-shot
// `ffmpeg -listen` receiver, an RTSP camera, and ffprobe checks. Every
// server listens on 127.0.0.1 on a free port and is stopped by t.Cleanup.
package testpeer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitTCP polls until addr accepts a TCP connection or the deadline passes.
func WaitTCP(t testing.TB, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never accepted a connection: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for a condition
	}
}

// Eventually polls cond every 20 ms until it is true or within passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Need skips the test when a binary is missing and FMSPUSH_REQUIRE_PEERS is
// unset; with it set (make test sets it) a missing peer fails the test.
func Need(t testing.TB, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("FMSPUSH_REQUIRE_PEERS") != "" {
				t.Fatalf("required peer %s is not installed: %v", b, err)
			}
			t.Skipf("%s not installed", b)
		}
	}
}

// Nginx is a running nginx with the RTMP module.
type Nginx struct {
	Port int
	// PublishURL is rtmp://127.0.0.1:PORT/live (append "/" + stream name).
	AppURL string
	Dir    string
	cmd    *exec.Cmd
}

const nginxConf = `load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
rtmp {
  server {
    listen 127.0.0.1:%[2]d;
    chunk_size 4096;
    application live {
      live on;
      record all;
      record_path %[1]s/rec;
      record_unique off;%[3]s
    }
  }
}
`

// NginxOptions add directives to the application "live".
type NginxOptions struct {
	// DropIdlePublisher, when positive, sets drop_idle_publisher: nginx
	// drops a publisher that sent no audio or video for this long (it then
	// logs "live: drop idle publisher"). nginx-rtmp's default is off: a
	// stale publisher keeps the name until its TCP connection ends.
	DropIdlePublisher time.Duration
}

// directives renders the options as nginx directives (each on its own line).
func (o NginxOptions) directives() string {
	var out string
	if o.DropIdlePublisher > 0 {
		out += fmt.Sprintf("\n      drop_idle_publisher %dms;", o.DropIdlePublisher.Milliseconds())
	}
	return out
}

// StartNginx starts nginx-rtmp on a free port. Its application "live" records
// every publish to Dir/rec/NAME.flv so that tests can ffprobe what arrived.
func StartNginx(t testing.TB) *Nginx {
	t.Helper()
	return StartNginxWith(t, NginxOptions{})
}

// StartNginxWith is StartNginx with options added to the application "live".
func StartNginxWith(t testing.TB, opts NginxOptions) *Nginx {
	t.Helper()
	Need(t, "nginx")
	if _, err := os.Stat("/usr/lib/nginx/modules/ngx_rtmp_module.so"); err != nil {
		Need(t, "libnginx-mod-rtmp-is-missing")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "rec"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "rec"), 0o777)
	port := FreePort(t)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, port, opts.directives())), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	n := &Nginx{Port: port, AppURL: fmt.Sprintf("rtmp://127.0.0.1:%d/live", port), Dir: dir, cmd: cmd}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	return n
}

// StartNginxServer starts nginx-rtmp like StartNginx, as a *Server: one
// foreground process (daemon off, master_process off) that Stop and Restart
// can end and start again on the same port. Publish to AppURL/NAME and play
// from PlayURL(NAME) (rtmp://127.0.0.1:PORT/live/NAME: nginx-rtmp cuts the
// query off the stream name). Its error log (info level) is Dir/error.log;
// it records every publish to Recording(NAME), Dir/rec/NAME.flv (what it
// received, as it received it).
func StartNginxServer(t testing.TB) *Server {
	t.Helper()
	Need(t, "nginx")
	if _, err := os.Stat("/usr/lib/nginx/modules/ngx_rtmp_module.so"); err != nil {
		Need(t, "libnginx-mod-rtmp-is-missing")
	}
	s := &Server{Name: NginxRTMPName(), Port: FreePort(t), Dir: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(s.Dir, "rec"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(s.Dir, "rec"), 0o777)
	s.AppURL = fmt.Sprintf("rtmp://127.0.0.1:%d/live", s.Port)
	s.recording = func(name string) string { return filepath.Join(s.Dir, "rec", name+".flv") }
	conf := filepath.Join(s.Dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, s.Dir, s.Port, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	return startServer(t, s, exec.Command("nginx", "-p", s.Dir, "-c", conf, "-e", filepath.Join(s.Dir, "error.log")))
}

// NginxRTMPName names the installed nginx-rtmp with its versions, e.g.
// "nginx-rtmp 1.2.2 (nginx 1.22.1)": the module's from its Debian package
// (libnginx-mod-rtmp, epoch and Debian suffixes cut off), nginx's from
// `nginx -v`; "?" for one not found.
func NginxRTMPName() string {
	mod := "?"
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "libnginx-mod-rtmp").Output(); err == nil && len(out) > 0 {
		v := strings.TrimSpace(string(out)) // 1:1.2.2+dfsg-3 → 1.2.2
		if _, after, ok := strings.Cut(v, ":"); ok {
			v = after
		}
		mod, _, _ = strings.Cut(v, "+")
		mod, _, _ = strings.Cut(mod, "-")
	}
	ngx := "?"
	if out, err := exec.Command("nginx", "-v").CombinedOutput(); err == nil {
		if _, v, ok := strings.Cut(strings.TrimSpace(string(out)), "nginx/"); ok {
			ngx = v
		}
	}
	return fmt.Sprintf("nginx-rtmp %s (nginx %s)", mod, ngx)
}

// Addr is nginx's RTMP address (127.0.0.1:PORT).
func (n *Nginx) Addr() string { return fmt.Sprintf("127.0.0.1:%d", n.Port) }

// ErrorLog returns nginx's error log so far (info level: every session,
// "live: already publishing", "live: drop idle publisher").
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "error.log"))
	return string(b)
}

// Recording is the path nginx records a publish of name to.
func (n *Nginx) Recording(name string) string { return filepath.Join(n.Dir, "rec", name+".flv") }

// Listener is a one-shot `ffmpeg -listen 1` RTMP receiver writing what it
// receives to an FLV file.
type Listener struct {
	URL  string // rtmp://127.0.0.1:PORT/app/key
	Out  string
	cmd  *exec.Cmd
	done chan struct{}
	// Err is the receiver's stderr.
	Err LogBuffer
}

// StartFFmpegListen starts `ffmpeg -listen 1` on a free port receiving into Out.
func StartFFmpegListen(t testing.TB) *Listener {
	t.Helper()
	Need(t, "ffmpeg")
	port := FreePort(t)
	l := &Listener{
		URL:  fmt.Sprintf("rtmp://127.0.0.1:%d/app/key", port),
		Out:  filepath.Join(t.TempDir(), "received.flv"),
		done: make(chan struct{}),
	}
	l.cmd = exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
		"-listen", "1", "-timeout", "30", "-f", "flv", "-i", l.URL, "-c", "copy", "-y", l.Out)
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	l.cmd.Stderr = &l.Err
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("start ffmpeg -listen: %v", err)
	}
	go func() { l.cmd.Wait(); close(l.done) }()
	t.Cleanup(func() {
		l.cmd.Process.Kill()
		<-l.done
	})
	WaitListening(t, port, 10*time.Second)
	return l
}

// PublishSample runs the real ffmpeg publishing the sample to url over RTMP
// (FLV, codecs copied), looped and paced at real time, until the test ends;
// t.Cleanup kills it and waits for it. It skips the test without ffmpeg (see
// Need) and does not wait for the server to take the stream.
func PublishSample(t testing.TB, url string) *exec.Cmd {
	t.Helper()
	Need(t, "ffmpeg")
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
		"-i", SamplePath(t), "-c", "copy", "-f", "flv", url)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ffmpeg publishing %s: %v", url, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	return cmd
}

// WaitListening polls /proc/net/tcp until something listens on port; unlike
// WaitTCP it never opens a connection (a one-shot server would take it).
func WaitListening(t testing.TB, port int, within time.Duration) {
	t.Helper()
	want := fmt.Sprintf(":%04X ", port)
	Eventually(t, within, fmt.Sprintf("a listener on port %d", port), func() bool {
		b, _ := os.ReadFile("/proc/net/tcp")
		for _, line := range bytes.Split(b, []byte("\n")) {
			f := bytes.Fields(line)
			if len(f) > 3 && bytes.HasSuffix(append(f[1], ' '), []byte(want)) && string(f[3]) == "0A" {
				return true
			}
		}
		return false
	})
}

// Wait waits for the receiver to exit (the publisher closed) and returns the
// output path.
func (l *Listener) Wait(t testing.TB, within time.Duration) string {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(within):
		t.Fatalf("ffmpeg -listen did not finish within %v; stderr: %s", within, l.Err.String())
	}
	return l.Out
}

// Stream is one stream of an ffprobe report.
type Stream struct {
	CodecType string `json:"codec_type"`
	CodecName string `json:"codec_name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Frames    string `json:"nb_read_frames"`
	Duration  string `json:"duration"`
}

// FrameCount returns nb_read_frames as an int (0 when absent).
func (s Stream) FrameCount() int { n, _ := strconv.Atoi(s.Frames); return n }

// Probe is an ffprobe report.
type Probe struct {
	Streams []Stream `json:"streams"`
	Format  struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// Video returns the first video stream, or nil.
func (p *Probe) Video() *Stream { return p.first("video") }

// Audio returns the first audio stream, or nil.
func (p *Probe) Audio() *Stream { return p.first("audio") }

func (p *Probe) first(kind string) *Stream {
	for i := range p.Streams {
		if p.Streams[i].CodecType == kind {
			return &p.Streams[i]
		}
	}
	return nil
}

// DurationSeconds is the container duration.
func (p *Probe) DurationSeconds() float64 {
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return d
}

// FFprobe runs ffprobe -count_frames on a file or URL.
func FFprobe(t testing.TB, target string) *Probe {
	t.Helper()
	Need(t, "ffprobe")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_frames", "-show_streams",
		"-show_format", "-of", "json", target).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", target, err)
	}
	var p Probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe json: %v", err)
	}
	return &p
}

// SamplePath returns the embedded sample as a file path (the repository's
// media/sample/sample.flv), found from the test's working directory.
func SamplePath(t testing.TB) string {
	t.Helper()
	dir, _ := os.Getwd()
	for i := 0; i < 6; i++ {
		p := filepath.Join(dir, "media", "sample", "sample.flv")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		dir = filepath.Dir(dir)
	}
	t.Fatal("media/sample/sample.flv not found above the working directory")
	return ""
}
