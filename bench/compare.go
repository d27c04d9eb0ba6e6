package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/fmspush/fmspush/internal/wake"
)

// Paths of the side-by-side figure.
const (
	PathNative = "native" // the service (fmspush run), native path
	PathFFmpeg = "ffmpeg" // bare ffmpeg processes, as a user runs them by hand
	PathFloor  = "floor"  // the physical reference (RunFloor)
	// PathLibav is the service with every stream on the ffmpeg path's libav
	// driver (CompareEnv.Binary built with -tags libav).
	PathLibav = "libav"
)

// CompareEnv is what the side-by-side figure needs.
type CompareEnv struct {
	Binary string // bin/fmspush
	Self   string // the bench binary: its "floor" subcommand runs RunFloor
	Dir    string // scratch directory
	Keep   bool   // keep each run's directory
	Sink   *Sink
	File   string // the 1080p30 FLV
	Loop   FLVLoop
	Camera string // the RTSP camera's URL (empty: no RTSP cases)
}

// CompareCase is one configuration: N streams of a source on one path.
type CompareCase struct {
	Source  string `json:"source"` // file or rtsp
	Path    string `json:"path"`
	Streams int    `json:"streams"`
}

// CompareRun is one measured CompareCase.
type CompareRun struct {
	Case CompareCase `json:"case"`
	// CPU is the cores the path's processes used over the window: the
	// service with its children, the ffmpeg processes, or the floor writer.
	CPU          float64       `json:"cpu_cores"`
	CPUPerStream float64       `json:"cpu_per_stream"`
	RSS          int64         `json:"rss"` // the path's processes, summed
	Window       time.Duration `json:"window_ns"`
	// FramesAccepted is what the sink accepted over the window against
	// what real time asks of the file (1.0: every frame at real time):
	// video frames, or the floor's bytes.
	FramesAccepted float64 `json:"frames_accepted"`
	Ended          int     `json:"ended"` // sessions that ended in the window
	Err            string  `json:"error,omitempty"`
}

// RunCompare measures one case: starts the path, waits until every stream
// is live at the sink, lets it settle for warmup, then measures over window.
func RunCompare(ctx context.Context, env CompareEnv, c CompareCase, warmup, window time.Duration) CompareRun {
	run := CompareRun{Case: c}
	dir, err := os.MkdirTemp(env.Dir, "compare-")
	if err != nil {
		run.Err = err.Error()
		return run
	}
	if !env.Keep {
		defer os.RemoveAll(dir)
	}
	names := make([]string, c.Streams)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%s-%d-%d-%d", c.Source, c.Path, c.Streams, time.Now().UnixNano()%1e6, i)
	}
	pids, stop, err := startPath(ctx, env, c, dir, names)
	if err != nil {
		run.Err = err.Error()
		return run
	}
	defer stop()
	if err := measure(ctx, env, c, names, pids, warmup, window, &run); err != nil {
		run.Err = err.Error()
	}
	return run
}

// startPath starts the path's processes and returns a function that
// returns the pids to measure (the service's children are found anew).
func startPath(ctx context.Context, env CompareEnv, c CompareCase, dir string, names []string) (func() []int, func(), error) {
	src := "file:" + env.File
	if c.Source == "rtsp" {
		src = env.Camera
	}
	switch c.Path {
	case PathNative, PathLibav:
		specs := make([]StreamSpec, len(names))
		for i, n := range names {
			specs[i] = StreamSpec{Name: n, Source: src, Target: env.Sink.Target(n), Prefer: "native"}
			if c.Path == PathLibav {
				specs[i].Prefer, specs[i].Driver = "ffmpeg", "libav"
			}
		}
		svc, err := StartService(ctx, ServiceOptions{Binary: env.Binary, Dir: dir, Streams: specs,
			Failover: Failover{AttemptsPerMinute: 600}})
		if err != nil {
			return nil, nil, err
		}
		pids := func() []int {
			out := []int{svc.PID()}
			for _, ch := range Children(svc.PID(), "") {
				out = append(out, ch.PID)
			}
			return out
		}
		return pids, func() { _ = svc.Stop() }, nil
	case PathFFmpeg:
		var cmds []*exec.Cmd
		stop := func() {
			for _, cmd := range cmds {
				_ = cmd.Process.Signal(syscall.SIGINT)
			}
			for _, cmd := range cmds {
				done := make(chan struct{})
				go func() { _ = cmd.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					_ = cmd.Process.Kill()
					<-done
				}
			}
		}
		for _, n := range names {
			cmd := exec.Command("ffmpeg", bareFFmpegArgs(c.Source, src, env.Sink.Target(n))...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				stop()
				return nil, nil, err
			}
			cmds = append(cmds, cmd)
		}
		pids := func() []int {
			out := make([]int, len(cmds))
			for i, cmd := range cmds {
				out[i] = cmd.Process.Pid
			}
			return out
		}
		return pids, stop, nil
	case PathFloor:
		cmd := exec.Command(env.Self, "floor", "-addr", env.Sink.Raw, "-file", env.File, "-n", strconv.Itoa(len(names)))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		stop := func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }
		return func() []int { return []int{cmd.Process.Pid} }, stop, nil
	}
	return nil, nil, fmt.Errorf("unknown path %q", c.Path)
}

// bareFFmpegArgs is the command a user runs by hand: a file looped at real
// time, or a camera pulled over RTSP/TCP, copied to the target.
func bareFFmpegArgs(source, src, target string) []string {
	in := []string{"-re", "-stream_loop", "-1", "-i", src}
	if source == "rtsp" {
		in = []string{"-rtsp_transport", "tcp", "-i", src}
	}
	args := append([]string{"-nostdin", "-v", "error"}, in...)
	return append(args, "-c", "copy", "-f", "flv", target)
}

func measure(ctx context.Context, env CompareEnv, c CompareCase, names []string, pids func() []int, warmup, window time.Duration, run *CompareRun) error {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	limit := 30*time.Second + time.Duration(len(names))*500*time.Millisecond
	floor := c.Path == PathFloor
	var r0 SinkReport
	err := Poll(ctx, limit, func() bool {
		r, err := env.Sink.Report()
		if floor {
			return err == nil && r.RawBytes > 0
		}
		return err == nil && r.AllLive(names)
	})
	if err != nil {
		return fmt.Errorf("%d %s streams not all live at the sink within %s: %w", len(names), c.Path, limit, err)
	}
	if err := wake.SleepRuntime(ctx, warmup); err != nil {
		return err
	}
	ps := pids()
	t0 := time.Now()
	cpu0 := cpuOf(ps)
	if r0, err = env.Sink.Report(); err != nil {
		return err
	}
	if err := wake.SleepRuntime(ctx, window); err != nil {
		return err
	}
	cpu1 := cpuOf(ps)
	r1, err := env.Sink.Report()
	if err != nil {
		return err
	}
	run.Window = time.Since(t0)
	secs := run.Window.Seconds()
	n := float64(len(names))
	run.CPU = (cpu1 - cpu0).Seconds() / secs
	run.CPUPerStream = run.CPU / n
	for _, pid := range ps {
		if p, err := ReadProc(pid); err == nil {
			run.RSS += p.RSS
		}
	}
	if floor {
		perSecond := float64(loopBytes(env.Loop)) / env.Loop.Period.Seconds()
		run.FramesAccepted = float64(r1.RawBytes-r0.RawBytes) / (perSecond * secs * n)
		return nil
	}
	run.FramesAccepted = float64(r1.Frames(set)-r0.Frames(set)) / (env.Loop.FramesPerSecond() * secs * n)
	live0, live1 := r0.Live(), r1.Live()
	for name := range set {
		if live1[name].ID != live0[name].ID {
			run.Ended++
		}
	}
	return nil
}

// cpuOf adds up the CPU time of the processes (their live threads) and of
// their children that ended and were waited for.
func cpuOf(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		d, _ := SchedCPU(pid)
		sum += d + WaitedChildrenCPU(pid)
	}
	return sum
}

func loopBytes(l FLVLoop) int {
	n := 0
	for _, b := range l.Bursts {
		n += len(b.Bytes)
	}
	return n
}
