package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/fmspush/fmspush/internal/wake"
)

// Env is what every measurement needs.
type Env struct {
	Binary string // bin/fmspush
	Dir    string // scratch directory
	Emu    *Emulator
	// Keep leaves each run's directory (config, service log) in Dir.
	Keep bool
	// LibavBinary is fmspush built with -tags libav (empty: no libav cases).
	LibavBinary string
}

func (e Env) cleanup(dir string) {
	if !e.Keep {
		os.RemoveAll(dir)
	}
}

// UsageCase is one configuration of the CPU/RSS figure.
type UsageCase struct {
	Path    string  // native, ffmpeg (exec driver) or libav (ffmpeg path, libav driver)
	Source  string  // builtin:sample or file:PATH
	Label   string  // "sample" or "1080p30"
	Streams int     // concurrent streams
	FPS     float64 // the source's video frame rate
}

// UsageRun is one measured run of a UsageCase.
type UsageRun struct {
	Case UsageCase
	// TTFF is each stream's time from service start to its first frame
	// accepted by the emulator; the run's figure is the median.
	TTFF []time.Duration
	// CPU per stream over the window: the service process, its ffmpeg
	// children, and both.
	MainCPUPerStream, ChildCPUPerStream, CPUPerStream float64 // cores
	MainRSS, ChildRSS                                 int64
	Window                                            time.Duration
	// FramesAccepted is video frames accepted in the window over what real
	// time asks for (1.0 = every frame at real time).
	FramesAccepted float64
	Ended          int // sessions that ended during the window (should be 0)
	Churn          int // ffmpeg children that came or went during the window
}

// RunUsage starts a service with c.Streams streams of c.Path, waits until
// every stream is live on that path, lets it settle for warmup, and
// measures CPU, RSS and accepted frames over window. When profile is set, a
// CPU profile of the service is taken over the window into that file, and a
// heap profile after it (NAME.heap.pprof).
func RunUsage(ctx context.Context, env Env, c UsageCase, prefix string, warmup, window time.Duration, profile string) (UsageRun, error) {
	run := UsageRun{Case: c, Window: window}
	dir, err := os.MkdirTemp(env.Dir, "usage-")
	if err != nil {
		return run, err
	}
	defer env.cleanup(dir)
	names := make([]string, c.Streams)
	specs := make([]StreamSpec, c.Streams)
	set := map[string]bool{}
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", prefix, i)
		set[names[i]] = true
		specs[i] = StreamSpec{Name: names[i], Source: c.Source, Target: env.Emu.Target(names[i]), Prefer: c.Path}
	}
	binary := env.Binary
	if c.Path == "libav" {
		binary = env.LibavBinary
		for i := range specs {
			specs[i].Prefer, specs[i].Driver = "ffmpeg", "libav"
		}
	}
	// Every stream connects to the same host: lift the per-host limit of
	// connection attempts (6 a minute by default) so that all start at once.
	svc, err := StartService(ctx, ServiceOptions{Binary: binary, Dir: dir, Streams: specs,
		Failover: Failover{AttemptsPerMinute: 600}})
	if err != nil {
		return run, err
	}
	defer svc.Stop()
	native := c.Path == "native"
	limit := 30*time.Second + time.Duration(c.Streams)*500*time.Millisecond
	if err := Poll(ctx, limit, func() bool { return env.Emu.AllLive(names, native) }); err != nil {
		return run, fmt.Errorf("%d %s streams not all live on %s within %s: %w (log %s)", c.Streams, c.Label, c.Path, limit, err, svc.LogPath)
	}
	for _, n := range names {
		if s, ok := env.Emu.FirstFrameAfter(n, native, svc.Started); ok {
			run.TTFF = append(run.TTFF, s.FirstFrameAt.Sub(svc.Started))
		}
	}
	if err := wake.SleepRuntime(ctx, warmup); err != nil {
		return run, err
	}
	live0 := env.Emu.Live()
	f0 := env.Emu.VideoFrames(set)
	u0, err := ReadUsage(svc.PID())
	if err != nil {
		return run, err
	}
	if profile != "" {
		if err := svc.CPUProfile(window, profile); err != nil {
			return run, err
		}
	} else if err := wake.SleepRuntime(ctx, window); err != nil {
		return run, err
	}
	u1, err := ReadUsage(svc.PID())
	if err != nil {
		return run, err
	}
	if profile != "" {
		if err := svc.HeapProfile(strings.TrimSuffix(profile, ".pprof") + ".heap.pprof"); err != nil {
			return run, err
		}
	}
	f1 := env.Emu.VideoFrames(set)
	live1 := env.Emu.Live()
	for n, s := range live0 {
		if set[n] && live1[n].ID != s.ID {
			run.Ended++
		}
	}
	d := u1.Sub(u0)
	run.Window = d.Wall
	secs := d.Wall.Seconds()
	run.MainCPUPerStream = d.MainCPU.Seconds() / secs / float64(c.Streams)
	run.ChildCPUPerStream = d.ChildCPU.Seconds() / secs / float64(c.Streams)
	run.CPUPerStream = run.MainCPUPerStream + run.ChildCPUPerStream
	run.MainRSS, run.ChildRSS = d.MainRSS, d.ChildRSS
	run.Churn = d.Churn
	run.FramesAccepted = float64(f1-f0) / (c.FPS * secs * float64(c.Streams))
	return run, nil
}

// IdleRSS is the RSS of a service (binary) with no streams: the baseline
// the in-process paths' (native, libav) per-stream RSS is counted from.
func IdleRSS(ctx context.Context, env Env, binary string, settle time.Duration) (int64, error) {
	dir, err := os.MkdirTemp(env.Dir, "idle-")
	if err != nil {
		return 0, err
	}
	defer env.cleanup(dir)
	svc, err := StartService(ctx, ServiceOptions{Binary: binary, Dir: dir})
	if err != nil {
		return 0, err
	}
	defer svc.Stop()
	if err := wake.SleepRuntime(ctx, settle); err != nil {
		return 0, err
	}
	p, err := ReadProc(svc.PID())
	return p.RSS, err
}
