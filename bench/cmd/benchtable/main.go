// Command benchtable runs fmspush's benchmarks (make bench): CPU and RSS per
// stream of each path, scale of the native path, time to first frame,
// failover time under injected faults, probe time per depth and added
// latency. Comparisons alternate the two sides within one run and report
// medians. It prints a Markdown table and writes the full results as JSON.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fmspush/fmspush/bench"
	"github.com/fmspush/fmspush/fmsim"
)

// Report is the JSON document benchtable writes.
type Report struct {
	Machine  Machine        `json:"machine"`
	Started  time.Time      `json:"started"`
	Elapsed  time.Duration  `json:"elapsed_ns"`
	Settings Settings       `json:"settings"`
	Source   bench.HDSource `json:"source_1080p"`
	IdleRSS  int64          `json:"idle_rss"`
	// IdleRSSLibav is the idle RSS of the binary built with -tags libav.
	IdleRSSLibav int64                 `json:"idle_rss_libav,omitempty"`
	Compare      []CompareRow          `json:"compare"`
	Usage        []UsageRow            `json:"usage"`
	Runs         []bench.UsageRun      `json:"usage_runs"`
	TTFF         map[string]Dist       `json:"ttff"`
	Scale        []ScaleRow            `json:"scale"`
	Failover     map[string]Dist       `json:"failover"`
	Faults       []bench.FaultSample   `json:"faults"`
	Probe        map[string]Dist       `json:"probe"`
	Latency      []bench.LatencyResult `json:"latency"`
	Profile      string                `json:"profile_top,omitempty"`
	// HeapProfile is the in-use heap of the largest scale step that ran.
	HeapProfile string `json:"heap_top,omitempty"`
	// ProfileFile is the CPU profile of the largest scale step that ran.
	ProfileFile string                 `json:"profile_file,omitempty"`
	Notes       []string               `json:"notes"`
	Errors      []string               `json:"errors,omitempty"`
	Extra       map[string]interface{} `json:"extra,omitempty"`
}

// Machine notes where the figures were measured.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	FFmpeg    string `json:"ffmpeg"`
	Commit    string `json:"commit"`
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
}

// Settings are the run's parameters.
type Settings struct {
	Reps    int           `json:"reps"`
	N       int           `json:"n"`
	Warmup  time.Duration `json:"warmup_ns"`
	Window  time.Duration `json:"window_ns"`
	Scale   []int         `json:"scale"`
	Faults  int           `json:"faults"`
	Profile string        `json:"emulator_profile"`
}

// UsageRow is the median of a case's runs.
type UsageRow struct {
	Source, Path     string
	Streams          int
	CPUPerStream     float64 // cores, service + children
	ChildCPU         float64 // cores per stream, ffmpeg children only
	RSSPerStream     int64   // native: (service RSS - idle)/N; ffmpeg: children RSS / N
	MainRSS          int64
	FramesAccepted   float64
	Runs             int
	EndedInWindow    int
	ChildrenChurning int
}

// ScaleRow is one step of the scale figure.
type ScaleRow struct {
	Streams        int     `json:"streams"`
	Cores          float64 `json:"cores"` // service CPU, in cores
	RSS            int64   `json:"rss"`
	FramesAccepted float64 `json:"frames_accepted"`
	Ended          int     `json:"ended"`
	RealTime       bool    `json:"real_time"`
	Err            string  `json:"error,omitempty"`
}

// Dist is a distribution in milliseconds.
type Dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
	Min float64 `json:"min_ms"`
	OK  int     `json:"ok,omitempty"`
}

func dist(ds []time.Duration) Dist {
	s := bench.Summarize(ds)
	return Dist{N: s.N, P50: ms(s.P50), P99: ms(s.P99), Max: ms(s.Max), Min: ms(s.Min)}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func main() {
	if subcommand(os.Args[1:]) {
		return
	}
	bin := flag.String("bin", "bin/fmspush", "the fmspush binary (built with make build)")
	out := flag.String("out", "bench/results/latest.json", "JSON results file")
	reps := flag.Int("reps", 3, "runs of each CPU/RSS case (alternating native and ffmpeg)")
	n := flag.Int("n", 8, "streams of the N-stream cases")
	warmup := flag.Duration("warmup", 2*time.Second, "settling time before a CPU window")
	window := flag.Duration("window", 6*time.Second, "CPU measurement window")
	scaleFlag := flag.String("scale", "16,32,48,64", "native 1080p30 stream counts of the scale figure")
	faults := flag.Int("faults", 52, "faults injected by the failover figure")
	profile := flag.String("profile", fmsim.ProfileCompanion, "emulator profile")
	only := flag.String("only", "compare,failover,probe,latency", "comma-separated figures to run (compare,usage,scale,failover,probe,latency), or all")
	compareN := flag.String("compare-n", "1,4,16,64,256", "stream counts of the side-by-side figure (file source)")
	rtspN := flag.String("rtsp-n", "1,4,16", "stream counts of the side-by-side figure with the RTSP camera as the source")
	libavN := flag.String("libav-n", "1,4,16,64", "stream counts at which the libav driver runs in the side-by-side figure (with -libav-bin)")
	ffmpegMax := flag.Int("ffmpeg-max", 64, "most bare ffmpeg processes run at once (above it, the ratio uses ffmpeg's per-stream figure at the largest N run)")
	cWarmup := flag.Duration("compare-warmup", 5*time.Second, "settling time before a side-by-side window")
	cWindow := flag.Duration("compare-window", 20*time.Second, "side-by-side window below 16 streams (3/5 of it from 16 on)")
	quick := flag.Bool("quick", false, "development run: side by side at 1,4,16 (file) and 1 (rtsp), short windows, no libav")
	cpuprof := flag.String("cpuprofile", "bench/results/native-scale.pprof", "CPU profiles of the service at each scale step (NAME-STREAMS.pprof)")
	keep := flag.Bool("keep", false, "keep the scratch directory (configs, service logs)")
	libavBin := flag.String("libav-bin", "", "fmspush built with -tags libav: adds the libav driver to the CPU/RSS figure")
	commit := flag.String("commit", "", "the commit measured (default: git rev-parse HEAD)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	binary, err := filepath.Abs(*bin)
	if err != nil {
		fatal(err)
	}
	if _, err := os.Stat(binary); err != nil {
		fatal(fmt.Errorf("%s: build it first (make build)", *bin))
	}
	var steps []int
	for _, f := range strings.Split(*scaleFlag, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && v > 0 {
			steps = append(steps, v)
		}
	}
	if *quick {
		*compareN, *rtspN, *libavN, *cWarmup, *cWindow, *only = "1,4,16", "1", "", 3*time.Second, 8*time.Second, "compare"
	}
	want := func(fig string) bool {
		if *only == "" || *only == "all" {
			return true
		}
		for _, f := range strings.Split(*only, ",") {
			if strings.TrimSpace(f) == fig {
				return true
			}
		}
		return false
	}

	rep := &Report{Started: time.Now(), Machine: machine(*commit), TTFF: map[string]Dist{}, Failover: map[string]Dist{}, Probe: map[string]Dist{},
		Settings: Settings{Reps: *reps, N: *n, Warmup: *warmup, Window: *window, Scale: steps, Faults: *faults, Profile: *profile}}
	scratch, err := os.MkdirTemp("", "fmspush-bench-")
	if err != nil {
		fatal(err)
	}
	if *keep {
		logf("scratch directory %s is kept", scratch)
	} else {
		defer os.RemoveAll(scratch)
	}
	emu, err := bench.StartEmulator(*profile, "")
	if err != nil {
		fatal(err)
	}
	defer emu.Close()
	env := bench.Env{Binary: binary, Dir: scratch, Emu: emu, Keep: *keep}
	libavNote := "libav driver: not measured (no -libav-bin: build fmspush with -tags libav; make bench does when libav is installed)"
	if *libavBin != "" {
		if p, err := filepath.Abs(*libavBin); err == nil {
			if _, err := os.Stat(p); err == nil {
				env.LibavBinary = p
				libavNote = "libav driver: the ffmpeg path in-process (fmspush built with -tags libav); its CPU and RSS are the service process's, RSS per stream counted from that binary's idle RSS"
			}
		}
	}
	logf("machine: %s, %d cores, kernel %s, %s; load %s", rep.Machine.CPU, rep.Machine.Cores, rep.Machine.Kernel, rep.Machine.Go, rep.Machine.LoadStart)

	cache, _ := os.UserCacheDir()
	if cache == "" {
		cache = os.TempDir()
	}
	if want("usage") || want("scale") || want("compare") {
		logf("generating the 1080p30 4 Mbit/s source (cached)")
		rep.Source, err = bench.Make1080p(ctx, filepath.Join(cache, "fmspush-bench"))
		if err != nil {
			fatal(err)
		}
	}
	rep.Notes = append(rep.Notes,
		libavNote,
		"ffmpeg CPU/RSS count the service process and its ffmpeg children; the service process also keeps the native ingest warm as standby",
		"native RSS per stream = (service RSS - idle service RSS) / streams",
	)
	if rep.Source.Path != "" {
		rep.Notes = append(rep.Notes, fmt.Sprintf("1080p30 source: %dx%d %.0f fps, %.2f Mbit/s, %.1f s, %s; native's file: source loads the whole FLV into memory per stream",
			rep.Source.Width, rep.Source.Height, rep.Source.FPS, float64(rep.Source.BitRate)/1e6, rep.Source.Seconds, mib(rep.Source.FileSize)))
	}
	if want("compare") {
		runCompare(ctx, env, rep, compareSettings{n: ints(*compareN), rtspN: ints(*rtspN), libavN: ints(*libavN),
			ffmpegMax: *ffmpegMax, warmup: *cWarmup, window: *cWindow, libavBin: env.LibavBinary})
		finishCompare(rep)
	}
	if want("usage") {
		runUsage(ctx, env, rep, *reps, *n, *warmup, *window)
	}
	if want("scale") {
		runScale(ctx, env, rep, steps, *warmup, *window+2*time.Second, *cpuprof)
	}
	if want("failover") {
		logf("failover: %d faults", *faults)
		samples, err := bench.RunFailover(ctx, env, *profile, *faults)
		rep.Faults = samples
		if err != nil {
			rep.Errors = append(rep.Errors, "failover: "+err.Error())
		}
		byKind := map[string][]time.Duration{}
		okN := map[string]int{}
		var all []time.Duration
		for _, s := range samples {
			byKind[s.Kind] = byKind[s.Kind]
			if s.OK {
				byKind[s.Kind] = append(byKind[s.Kind], s.Recovery)
				all = append(all, s.Recovery)
				okN[s.Kind]++
			}
		}
		for k, v := range byKind {
			d := dist(v)
			d.OK = okN[k]
			rep.Failover[k] = d
		}
		d := dist(all)
		d.OK = len(all)
		rep.Failover["all"] = d
		rep.Extra = map[string]interface{}{"faults_injected": len(samples)}
	}
	if want("probe") {
		logf("probe: 50 walks to L3")
		pt, err := bench.RunProbes(ctx, emu, 50)
		if err != nil {
			rep.Errors = append(rep.Errors, "probe: "+err.Error())
		}
		for l, v := range pt {
			rep.Probe["step "+l] = dist(v)
		}
		logf("probe: prober.Probe at L2, L3 (30 each) and L5 (5, 1 s of media)")
		for _, d := range bench.RunLayeredProbes(ctx, emu, 30, 5, time.Second) {
			x := dist(d.Elapsed)
			x.OK = len(d.Elapsed)
			rep.Probe["prober.Probe "+d.Depth] = x
			if d.Failed > 0 {
				rep.Errors = append(rep.Errors, fmt.Sprintf("probe %s: %d failed", d.Depth, d.Failed))
			}
		}
	}
	if want("latency") {
		for _, p := range []string{"native", "ffmpeg", "ffmpeg", "native"} {
			logf("latency: %s", p)
			r, err := bench.RunLatency(ctx, env, p, 15*time.Second)
			if err != nil {
				rep.Errors = append(rep.Errors, "latency: "+err.Error())
				continue
			}
			rep.Latency = append(rep.Latency, r)
		}
	}
	rep.Machine.LoadEnd = loadavg()
	rep.Elapsed = time.Since(rep.Started)
	printTable(os.Stdout, rep)
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err == nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			fatal(err)
		}
		logf("wrote %s", *out)
	}
	if len(rep.Errors) > 0 {
		os.Exit(1)
	}
}

func runUsage(ctx context.Context, env bench.Env, rep *Report, reps, n int, warmup, window time.Duration) {
	idle, err := bench.IdleRSS(ctx, env, env.Binary, 2*time.Second)
	if err != nil {
		rep.Errors = append(rep.Errors, "idle rss: "+err.Error())
	}
	rep.IdleRSS = idle
	paths := []string{"native", "ffmpeg"}
	idleOf := map[string]int64{"native": idle}
	if env.LibavBinary != "" {
		paths = append(paths, "libav")
		li, err := bench.IdleRSS(ctx, env, env.LibavBinary, 2*time.Second)
		if err != nil {
			rep.Errors = append(rep.Errors, "idle rss (libav build): "+err.Error())
		}
		idleOf["libav"] = li
		rep.IdleRSSLibav = li
	}
	type src struct {
		label, spec string
		fps         float64
	}
	srcs := []src{{"sample", "builtin:sample", 25}}
	if rep.Source.Path != "" {
		srcs = append(srcs, src{"1080p30", "file:" + rep.Source.Path, rep.Source.FPS})
	}
	var cases [][]bench.UsageCase
	for _, s := range srcs {
		for _, k := range []int{1, n} {
			var group []bench.UsageCase
			for _, p := range paths {
				group = append(group, bench.UsageCase{Path: p, Source: s.spec, Label: s.label, Streams: k, FPS: s.fps})
			}
			cases = append(cases, group)
		}
	}
	runs := map[bench.UsageCase][]bench.UsageRun{}
	seq := 0
	for r := 0; r < reps; r++ {
		for _, group := range cases {
			// Rotate which path goes first, so that none is always first
			// (or always last) on a machine whose load drifts.
			var order []int
			for i := range group {
				order = append(order, (i+r+seq)%len(group))
			}
			if (r+seq)%2 == 1 {
				slices.Reverse(order)
			}
			seq++
			for _, i := range order {
				c := group[i]
				if ctx.Err() != nil {
					return
				}
				logf("usage rep %d: %s %s x%d", r+1, c.Label, c.Path, c.Streams)
				run, err := bench.RunUsage(ctx, env, c, fmt.Sprintf("u%d-%s-%s-%d", r, c.Label, c.Path, c.Streams), warmup, window, "")
				if err != nil {
					rep.Errors = append(rep.Errors, fmt.Sprintf("usage %s %s x%d: %v", c.Label, c.Path, c.Streams, err))
					continue
				}
				runs[c] = append(runs[c], run)
				rep.Runs = append(rep.Runs, run)
			}
		}
	}
	ttff := map[string][]time.Duration{}
	for _, group := range cases {
		for _, c := range group {
			rs := runs[c]
			if len(rs) == 0 {
				continue
			}
			var cpu, child, rss, mainRSS, frames []float64
			row := UsageRow{Source: c.Label, Path: c.Path, Streams: c.Streams, Runs: len(rs)}
			for _, r := range rs {
				cpu = append(cpu, r.CPUPerStream)
				child = append(child, r.ChildCPUPerStream)
				mainRSS = append(mainRSS, float64(r.MainRSS))
				frames = append(frames, r.FramesAccepted)
				if c.Path != "ffmpeg" {
					rss = append(rss, float64(r.MainRSS-idleOf[c.Path])/float64(c.Streams))
				} else {
					rss = append(rss, float64(r.ChildRSS)/float64(c.Streams))
				}
				row.EndedInWindow += r.Ended
				row.ChildrenChurning += r.Churn
				if c.Streams == 1 {
					ttff[c.Path] = append(ttff[c.Path], r.TTFF...)
				}
			}
			row.CPUPerStream, row.ChildCPU = bench.Median(cpu), bench.Median(child)
			row.RSSPerStream, row.MainRSS = int64(bench.Median(rss)), int64(bench.Median(mainRSS))
			row.FramesAccepted = bench.Median(frames)
			rep.Usage = append(rep.Usage, row)
		}
	}
	for p, v := range ttff {
		rep.TTFF[p] = dist(v)
	}
}

func runScale(ctx context.Context, env bench.Env, rep *Report, steps []int, warmup, window time.Duration, prof string) {
	if rep.Source.Path == "" {
		return
	}
	c := bench.UsageCase{Path: "native", Source: "file:" + rep.Source.Path, Label: "1080p30", FPS: rep.Source.FPS}
	for _, k := range steps {
		c.Streams = k
		logf("scale: %d native 1080p30 streams", k)
		p := ""
		if prof != "" {
			p = strings.TrimSuffix(prof, ".pprof") + fmt.Sprintf("-%d.pprof", k)
			_ = os.MkdirAll(filepath.Dir(p), 0o755)
		}
		run, err := bench.RunUsage(ctx, env, c, fmt.Sprintf("scale%d", k), warmup, window, p)
		row := ScaleRow{Streams: k}
		if err != nil {
			row.Err = err.Error()
		} else {
			row.Cores = run.CPUPerStream * float64(k)
			row.RSS = run.MainRSS
			row.FramesAccepted = run.FramesAccepted
			row.Ended = run.Ended
			row.RealTime = run.FramesAccepted >= 0.98 && run.Ended == 0
		}
		rep.Scale = append(rep.Scale, row)
		if p != "" && err == nil {
			rep.ProfileFile = p
			if top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", env.Binary, p).Output(); err == nil {
				rep.Profile = string(top)
			}
			heap := strings.TrimSuffix(p, ".pprof") + ".heap.pprof"
			if top, err := exec.Command("go", "tool", "pprof", "-sample_index=inuse_space", "-top", "-nodecount=12", env.Binary, heap).Output(); err == nil {
				rep.HeapProfile = string(top)
			}
		}
	}
}

func printTable(w io.Writer, rep *Report) {
	m := rep.Machine
	fmt.Fprintf(w, "\n## fmspush bench, %s\n\n", rep.Started.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "machine: %s, %d cores, Linux %s, %s, %s; commit %s; load avg at start %s, at end %s; %s elapsed\n\n",
		m.CPU, m.Cores, m.Kernel, m.Go, m.FFmpeg, m.Commit, m.LoadStart, m.LoadEnd, rep.Elapsed.Round(time.Second))
	printCompare(w, rep)
	if len(rep.Usage) > 0 {
		fmt.Fprintf(w, "### 1. CPU and RSS per stream (median of %d alternating runs, %s windows)\n\n", rep.Settings.Reps, rep.Settings.Window)
		fmt.Fprintln(w, "| source | streams | path | CPU/stream (% of a core) | of which ffmpeg | RSS/stream | service RSS | frames accepted | native/this CPU |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
		for i, r := range rep.Usage {
			ratio := ""
			if r.Path != "native" && r.CPUPerStream > 0 {
				for j := i - 1; j >= 0; j-- {
					if u := rep.Usage[j]; u.Path == "native" && u.Source == r.Source && u.Streams == r.Streams {
						ratio = fmt.Sprintf("%.2f", u.CPUPerStream/r.CPUPerStream)
						break
					}
				}
			}
			fmt.Fprintf(w, "| %s | %d | %s | %.2f%% | %.2f%% | %s | %s | %.3f | %s |\n", r.Source, r.Streams, r.Path,
				100*r.CPUPerStream, 100*r.ChildCPU, mib(r.RSSPerStream), mib(r.MainRSS), r.FramesAccepted, ratio)
		}
		fmt.Fprintf(w, "\nidle service RSS: %s", mib(rep.IdleRSS))
		if rep.IdleRSSLibav > 0 {
			fmt.Fprintf(w, " (libav build: %s)", mib(rep.IdleRSSLibav))
		}
		fmt.Fprint(w, ".\n\n")
	}
	if len(rep.Scale) > 0 {
		fmt.Fprintln(w, "### 2. Scale: native 1080p30 4 Mbit/s streams")
		fmt.Fprintln(w, "\n| streams | service CPU (cores) | RSS | frames accepted | real time |")
		fmt.Fprintln(w, "|---|---|---|---|---|")
		for _, s := range rep.Scale {
			if s.Err != "" {
				fmt.Fprintf(w, "| %d | - | - | - | failed: %s |\n", s.Streams, s.Err)
				continue
			}
			fmt.Fprintf(w, "| %d | %.2f | %s | %.3f | %v |\n", s.Streams, s.Cores, mib(s.RSS), s.FramesAccepted, s.RealTime)
		}
		fmt.Fprintln(w)
	}
	distRows := func(title string, ds map[string]Dist, order []string) {
		if len(ds) == 0 {
			return
		}
		fmt.Fprintf(w, "### %s\n\n| | n | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|\n", title)
		for _, k := range order {
			if d, ok := ds[k]; ok {
				fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.1f |\n", k, d.N, d.P50, d.P99, d.Max)
			}
		}
		fmt.Fprintln(w)
	}
	distRows("3. Time to first frame accepted, from service start", rep.TTFF, []string{"native", "ffmpeg"})
	distRows("4. Failover: fault to first frame accepted on the other path", rep.Failover,
		[]string{bench.FaultRSTNative, bench.FaultCloseNative, bench.FaultKillFFmpeg, bench.FaultCloseFFmpeg, "all"})
	if len(rep.Faults) > 0 {
		bad := 0
		for _, f := range rep.Faults {
			if !f.OK {
				bad++
			}
		}
		fmt.Fprintf(w, "%d faults injected, %d not recovered.\n\n", len(rep.Faults), bad)
	}
	distRows("5. Probe time per depth (prober.Probe, whole probe; L5 sends 1 s of media) and rtmp.Dial's step clock (dial to each layer done)", rep.Probe,
		[]string{"prober.Probe L2", "prober.Probe L3", "prober.Probe L5", "step L0", "step L1", "step L2", "step L3"})
	if len(rep.Latency) > 0 {
		fmt.Fprintln(w, "### 6. Added latency above the fastest frame (arrival - FLV timestamp, 1 ms resolution)")
		fmt.Fprintln(w, "\n| path | frames | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|")
		for _, l := range rep.Latency {
			fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.1f |\n", l.Path, l.Frames, ms(l.P50), ms(l.P99), ms(l.Max))
		}
		fmt.Fprintln(w)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "- ERROR: %s\n", e)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func machine(commit string) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadStart: loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := exec.Command("ffmpeg", "-version").Output(); err == nil {
		m.FFmpeg, _, _ = strings.Cut(string(b), "\n")
		m.FFmpeg = strings.TrimSpace(strings.TrimSuffix(strings.SplitN(m.FFmpeg, " Copyright", 2)[0], " "))
	}
	m.Commit = commit
	if b, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil && commit == "" {
		m.Commit = strings.TrimSpace(string(b))
	}
	return m
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "benchtable:", err)
	os.Exit(1)
}
