package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fmspush/fmspush/fmsim"
)

// SinkSession is what the sink process reports of one publishing session.
type SinkSession struct {
	ID          int       `json:"id"`
	Stream      string    `json:"stream"`
	FlashVer    string    `json:"flashver"`
	VideoFrames int       `json:"video_frames"`
	AudioFrames int       `json:"audio_frames"`
	FirstFrame  time.Time `json:"first_frame"`
	Ended       bool      `json:"ended"`
}

// SinkReport is the sink's answer: its RTMP sessions and the bytes its raw
// TCP port (the floor's target) took.
type SinkReport struct {
	Sessions []SinkSession `json:"sessions"`
	RawBytes int64         `json:"raw_bytes"`
}

// ServeSink runs the sink in this process until ctx ends: the emulator
// (profile lenient: accepts what nginx-rtmp accepts) on 127.0.0.1:0, a raw
// TCP port that reads and discards (the floor's target), and a loopback HTTP
// port answering GET /report with a SinkReport. It prints one line, "RTMP
// RAW HTTP" (three host:port), once all listen.
func ServeSink(ctx context.Context, out io.Writer) error {
	emu := &fmsim.Server{Listen: "127.0.0.1:0", Profile: fmsim.ProfileLenient, MaxSessions: 100000}
	if err := emu.Start(); err != nil {
		return err
	}
	defer emu.Close()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer raw.Close()
	var rawBytes atomic.Int64
	go discard(raw, &rawBytes)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/report", func(w http.ResponseWriter, _ *http.Request) {
		rep := SinkReport{RawBytes: rawBytes.Load()}
		for _, s := range emu.Sessions() {
			rep.Sessions = append(rep.Sessions, SinkSession{ID: s.ID, Stream: s.StreamName, FlashVer: s.FlashVer,
				VideoFrames: s.VideoFrames, AudioFrames: s.AudioFrames, FirstFrame: s.FirstFrameAt, Ended: s.Ended})
		}
		_ = json.NewEncoder(w).Encode(rep)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(hl) }()
	defer srv.Close()
	fmt.Fprintf(out, "%s %s %s\n", emu.Addr(), raw.Addr(), hl.Addr())
	<-ctx.Done()
	return nil
}

func discard(ln net.Listener, n *atomic.Int64) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 256<<10)
			for {
				k, err := c.Read(buf)
				n.Add(int64(k))
				if err != nil {
					return
				}
			}
		}()
	}
}

// Sink is the sink process, started by StartSink.
type Sink struct {
	RTMP, Raw, HTTP string // host:port
	cmd             *exec.Cmd
	done            chan struct{}
}

// StartSink starts `self args...` (a binary that calls ServeSink for those
// arguments) and reads its addresses.
func StartSink(ctx context.Context, self string, args ...string) (*Sink, error) {
	cmd := exec.Command(self, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Sink{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 3 {
		s.Stop()
		return nil, fmt.Errorf("sink: no addresses (%q): %v", line, err)
	}
	s.RTMP, s.Raw, s.HTTP = f[0], f[1], f[2]
	return s, nil
}

// PID is the sink process's.
func (s *Sink) PID() int { return s.cmd.Process.Pid }

// Stop ends the sink process.
func (s *Sink) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Target is the publish URL of stream name at the sink.
func (s *Sink) Target(name string) string { return "rtmp://" + s.RTMP + "/live/" + name }

// Report asks the sink for its sessions.
func (s *Sink) Report() (SinkReport, error) {
	var r SinkReport
	err := getJSON("http://"+s.HTTP+"/report", &r)
	return r, err
}

// Live returns, per stream name, the newest session that accepted a frame
// and has not ended.
func (r SinkReport) Live() map[string]SinkSession {
	out := map[string]SinkSession{}
	for _, s := range r.Sessions {
		if s.Stream != "" && !s.Ended && !s.FirstFrame.IsZero() {
			out[s.Stream] = s
		}
	}
	return out
}

// Frames adds up the video frames accepted from the given streams.
func (r SinkReport) Frames(names map[string]bool) int {
	n := 0
	for _, s := range r.Sessions {
		if names[s.Stream] {
			n += s.VideoFrames
		}
	}
	return n
}

// AllLive reports whether every name has a live session.
func (r SinkReport) AllLive(names []string) bool {
	live := r.Live()
	for _, n := range names {
		if _, ok := live[n]; !ok {
			return false
		}
	}
	return true
}
