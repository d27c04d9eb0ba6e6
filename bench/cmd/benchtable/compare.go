package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fmspush/fmspush/bench"
)

// CompareRow is one N of the side-by-side figure: each path's CPU per
// stream and native's ratio to bare ffmpeg's.
type CompareRow struct {
	Source  string                      `json:"source"`
	Streams int                         `json:"streams"`
	Runs    map[string]bench.CompareRun `json:"runs"`
	// Ratio is native's CPU per stream over bare ffmpeg's (0: not measured).
	Ratio float64 `json:"native_over_ffmpeg"`
	// RatioFrom says which ffmpeg figure the ratio uses when ffmpeg did not
	// run at this N (its per-stream cost at the largest N it ran).
	RatioFrom string `json:"ratio_from,omitempty"`
	// ExtraRSS is native's RSS per added stream: (RSS(N) - RSS(1)) / (N-1).
	ExtraRSS int64 `json:"native_extra_rss_per_stream"`
}

// subcommand runs the bench's helper processes (its sink, camera and floor
// writer), each in its own process so that the measured processes' CPU is
// their own. It reports whether args named one.
func subcommand(args []string) bool {
	if len(args) == 0 {
		return false
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "sink":
		err = bench.ServeSink(ctx, os.Stdout)
	case "camera":
		fs := flag.NewFlagSet("camera", flag.ExitOnError)
		file := fs.String("file", "", "the FLV the camera loops")
		_ = fs.Parse(args[1:])
		err = bench.ServeCamera(ctx, *file, os.Stdout)
	case "floor":
		fs := flag.NewFlagSet("floor", flag.ExitOnError)
		addr := fs.String("addr", "", "the sink's raw TCP port")
		file := fs.String("file", "", "the FLV whose tags are written")
		n := fs.Int("n", 1, "connections")
		_ = fs.Parse(args[1:])
		var l bench.FLVLoop
		if l, err = bench.ReadFLVLoop(*file); err == nil {
			err = bench.RunFloor(ctx, *addr, l, *n)
		}
	default:
		return false
	}
	if err != nil {
		fatal(err)
	}
	return true
}

// compareSettings are the side-by-side figure's knobs.
type compareSettings struct {
	n, rtspN, libavN []int
	ffmpegMax        int
	warmup, window   time.Duration
	libavBin         string
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && v > 0 {
			out = append(out, v)
		}
	}
	return out
}

// runCompare measures native against bare ffmpeg (and the libav driver, and
// the floor) at each N, the paths' order alternating from one N to the
// next.
func runCompare(ctx context.Context, env bench.Env, rep *Report, cs compareSettings) {
	self, err := os.Executable()
	if err != nil {
		rep.Errors = append(rep.Errors, "compare: "+err.Error())
		return
	}
	loop, err := bench.ReadFLVLoop(rep.Source.Path)
	if err != nil {
		rep.Errors = append(rep.Errors, "compare: "+err.Error())
		return
	}
	sink, err := bench.StartSink(ctx, self, "sink")
	if err != nil {
		rep.Errors = append(rep.Errors, "compare: "+err.Error())
		return
	}
	defer sink.Stop()
	ce := bench.CompareEnv{Binary: env.Binary, Self: self, Dir: env.Dir, Keep: env.Keep, Sink: sink, File: rep.Source.Path, Loop: loop}
	rep.Notes = append(rep.Notes, fmt.Sprintf("compare: the file loops %d video frames in %.3f s (%.2f fps): 1.000 accepted is every frame at real time",
		loop.VideoFrames, loop.Period.Seconds(), loop.FramesPerSecond()))
	idle, err := bench.IdleRSS(ctx, env, env.Binary, 2*time.Second)
	if err == nil {
		rep.IdleRSS = idle
	}
	for i, n := range cs.n {
		paths := []string{bench.PathNative, bench.PathFFmpeg}
		if i%2 == 1 {
			paths = []string{bench.PathFFmpeg, bench.PathNative}
		}
		if cs.libavBin != "" && contains(cs.libavN, n) {
			paths = append(paths, bench.PathLibav)
		}
		paths = append(paths, bench.PathFloor)
		rep.Compare = append(rep.Compare, compareN(ctx, ce, cs, "file", n, paths))
	}
	if len(cs.rtspN) == 0 {
		return
	}
	cam, stopCam, err := startCamera(ctx, self, rep.Source.Path)
	if err != nil {
		rep.Errors = append(rep.Errors, "compare rtsp: "+err.Error())
		return
	}
	defer stopCam()
	ce.Camera = cam
	for i, n := range cs.rtspN {
		paths := []string{bench.PathNative, bench.PathFFmpeg}
		if i%2 == 1 {
			paths = []string{bench.PathFFmpeg, bench.PathNative}
		}
		rep.Compare = append(rep.Compare, compareN(ctx, ce, cs, "rtsp", n, paths))
	}
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// compareN runs the paths at n streams of source and derives the row.
func compareN(ctx context.Context, ce bench.CompareEnv, cs compareSettings, source string, n int, paths []string) CompareRow {
	row := CompareRow{Source: source, Streams: n, Runs: map[string]bench.CompareRun{}}
	window := cs.window
	if n >= 16 {
		window = max(cs.window*3/5, 5*time.Second)
	}
	for _, p := range paths {
		if ctx.Err() != nil {
			break
		}
		if p == bench.PathFFmpeg && n > cs.ffmpegMax {
			continue
		}
		env := ce
		c := bench.CompareCase{Source: source, Path: p, Streams: n}
		if p == bench.PathLibav {
			env.Binary = cs.libavBin
		}
		logf("compare: %s x%d %s", source, n, p)
		r := bench.RunCompare(ctx, env, c, cs.warmup, window)
		if r.Err != "" {
			logf("compare: %s x%d %s: %s", source, n, p, r.Err)
		} else {
			logf("compare: %s x%d %s: %.3f%% of a core per stream, RSS %s, accepted %.3f", source, n, p, 100*r.CPUPerStream, mib(r.RSS), r.FramesAccepted)
		}
		row.Runs[p] = r
	}
	return row
}

// finishCompare fills in the ratios (against the per-stream ffmpeg figure
// of the largest N ffmpeg ran at, where it did not run) and the RSS per
// added native stream.
func finishCompare(rep *Report) {
	lastFF := map[string]bench.CompareRun{}
	one := map[string]bench.CompareRun{}
	for i := range rep.Compare {
		row := &rep.Compare[i]
		nat, okN := row.Runs[bench.PathNative]
		ff, okF := row.Runs[bench.PathFFmpeg]
		if okF && ff.Err == "" {
			lastFF[row.Source] = ff
		} else if prev, ok := lastFF[row.Source]; ok {
			ff, okF = prev, true
			row.RatioFrom = fmt.Sprintf("ffmpeg's per-stream figure at %d streams (ffmpeg not run at %d)", prev.Case.Streams, row.Streams)
		}
		if okN && nat.Err == "" && okF && ff.CPUPerStream > 0 {
			row.Ratio = nat.CPUPerStream / ff.CPUPerStream
		}
		if okN && nat.Err == "" {
			if row.Streams == 1 {
				one[row.Source] = nat
			} else if o, ok := one[row.Source]; ok {
				row.ExtraRSS = (nat.RSS - o.RSS) / int64(row.Streams-1)
			}
		}
	}
}

func startCamera(ctx context.Context, self, file string) (string, func(), error) {
	cmd := execCommand(self, "camera", "-file", file)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }
	line := make(chan string, 1)
	go func() {
		b := make([]byte, 256)
		k, _ := io.ReadAtLeast(out, b, 1)
		line <- strings.TrimSpace(string(b[:k]))
	}()
	select {
	case l := <-line:
		if !strings.HasPrefix(l, "rtsp://") {
			stop()
			return "", nil, fmt.Errorf("camera: %q", l)
		}
		return l, stop, nil
	case <-time.After(30 * time.Second):
		stop()
		return "", nil, fmt.Errorf("camera: no URL within 30 s")
	case <-ctx.Done():
		stop()
		return "", nil, ctx.Err()
	}
}

func printCompare(w io.Writer, rep *Report) {
	if len(rep.Compare) == 0 {
		return
	}
	fmt.Fprintln(w, "### Side by side: the service (native) against bare ffmpeg, libav and the floor, per N")
	fmt.Fprintln(w, "\n| source | streams | path | CPU (cores) | CPU/stream (% of a core) | RSS | RSS/stream | accepted | ended |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, row := range rep.Compare {
		for _, p := range []string{bench.PathNative, bench.PathFFmpeg, bench.PathLibav, bench.PathFloor} {
			r, ok := row.Runs[p]
			if !ok {
				continue
			}
			if r.Err != "" {
				fmt.Fprintf(w, "| %s | %d | %s | failed: %s |||||||\n", row.Source, row.Streams, p, r.Err)
				continue
			}
			fmt.Fprintf(w, "| %s | %d | %s | %.3f | %.3f%% | %s | %s | %.3f | %d |\n", row.Source, row.Streams, p, r.CPU, 100*r.CPUPerStream,
				mib(r.RSS), mib(r.RSS/int64(row.Streams)), r.FramesAccepted, r.Ended)
		}
	}
	fmt.Fprintln(w, "\n| source | streams | native/ffmpeg CPU per stream | native/floor | native extra RSS per added stream | note |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, row := range rep.Compare {
		floor := ""
		if nat, f := row.Runs[bench.PathNative], row.Runs[bench.PathFloor]; f.CPUPerStream > 0 && nat.Err == "" && nat.CPUPerStream > 0 {
			floor = fmt.Sprintf("%.1f", nat.CPUPerStream/f.CPUPerStream)
		}
		ratio := "-"
		if row.Ratio > 0 {
			ratio = fmt.Sprintf("%.3f", row.Ratio)
		}
		extra := "-"
		if row.ExtraRSS != 0 {
			extra = mib(row.ExtraRSS)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", row.Source, row.Streams, ratio, floor, extra, row.RatioFrom)
	}
	fmt.Fprintln(w)
}

// execCommand is a helper process of the bench that dies with it.
func execCommand(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	return cmd
}
