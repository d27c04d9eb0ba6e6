package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/internal/wake"
)

// SoakOptions configure RunSoak.
type SoakOptions struct {
	Binary     string        // bin/fmspush
	Dir        string        // scratch directory
	Duration   time.Duration // how long the service runs (default 10 min, at most 2 h)
	FaultEvery time.Duration // one fault per period (default 30 s)
	Profile    string        // emulator profile (default companion)
	Logf       func(format string, args ...any)
}

// SoakSample is the service's footprint just before a fault, when the stream
// has been steady on the native path since the last failback.
type SoakSample struct {
	At         time.Duration `json:"at_ns"` // since the start
	Goroutines int           `json:"goroutines"`
	FDs        int           `json:"fds"`
	Threads    int           `json:"threads"`
	RSS        int64         `json:"rss"`
	RSSAnon    int64         `json:"rss_anon"`
}

// SoakReport is what a soak run observed; Problems lists what failed.
type SoakReport struct {
	Duration time.Duration       `json:"duration_ns"`
	Samples  []SoakSample        `json:"samples"`
	Faults   []FaultSample       `json:"faults"`
	Sessions []fmsim.SessionInfo `json:"-"`
	Stream   fmsim.StreamInfo    `json:"stream"`
	Problems []string            `json:"problems"`
}

// Soak thresholds.
const (
	soakGoroutineSlack = 5       // goroutines more than the baseline
	soakFDSlack        = 2       // descriptors more than the baseline
	soakRSSBand        = 0.10    // anonymous RSS within +-10% of the baseline ...
	soakRSSFloor       = 1 << 20 // ... or 1 MiB: one GC cycle of the service's small heap
	soakRecovery       = 10 * time.Second
	soakSampleFPS      = 25.0 // the builtin sample's frame rate
)

// soakFaults are the fault rotations: each injects one or two faults (the
// second on the ffmpeg path the first one moved the stream to).
var soakFaults = [][]string{
	{FaultRSTNative},
	{FaultCloseNative, FaultKillFFmpeg},
	{FaultCloseNative},
	{FaultRSTNative, FaultCloseFFmpeg},
}

// RunSoak runs the service with one builtin-sample stream (native preferred,
// failback after 5 s) for Duration against the emulator, injects a fault
// every FaultEvery (rotating kinds), samples goroutines, descriptors and RSS
// before every fault, and checks: no goroutine or descriptor growth, RSS
// within 10%, every fault recovered within 10 s, timestamps monotonic at the
// target, and every session's frames complete (none lost outside the fault
// windows between sessions).
func RunSoak(ctx context.Context, o SoakOptions) (*SoakReport, error) {
	if o.Duration <= 0 {
		o.Duration = 10 * time.Minute
	}
	o.Duration = min(o.Duration, 2*time.Hour)
	if o.FaultEvery <= 0 {
		o.FaultEvery = 30 * time.Second
	}
	if o.Profile == "" {
		o.Profile = fmsim.ProfileCompanion
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	emu, err := StartEmulator(o.Profile, "")
	if err != nil {
		return nil, err
	}
	defer emu.Close()
	name := "soak"
	fo := FastFailover
	fo.FailbackAfter = 5 * time.Second
	svc, err := StartService(ctx, ServiceOptions{Binary: o.Binary, Dir: o.Dir, Failover: fo,
		Streams: []StreamSpec{{Name: name, Source: "builtin:sample", Target: emu.Target(name), Prefer: "native"}}})
	if err != nil {
		return nil, err
	}
	defer svc.Stop()
	rep := &SoakReport{}
	problem := func(format string, args ...any) {
		rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
	}
	in := &Injector{Emu: emu, Svc: svc, Stream: name, Profile: o.Profile, Timeout: soakRecovery}
	start := time.Now()
	onNative := func(minFrames int, within time.Duration) (fmsim.SessionInfo, error) {
		var cur fmsim.SessionInfo
		err := Poll(ctx, within, func() bool {
			s, ok := emu.Live()[name]
			cur = s
			return ok && IsNative(s.FlashVer) && s.VideoFrames >= minFrames
		})
		return cur, err
	}
	if _, err := onNative(1, 30*time.Second); err != nil {
		return rep, fmt.Errorf("soak: never live on native: %w (log %s)", err, svc.LogPath)
	}
	sample := func() {
		p, err := ReadProc(svc.PID())
		if err != nil {
			problem("read /proc: %v", err)
			return
		}
		g, err := svc.Goroutines()
		if err != nil {
			problem("goroutines: %v", err)
		}
		s := SoakSample{At: time.Since(start), Goroutines: g, FDs: p.FDs, Threads: p.Threads, RSS: p.RSS, RSSAnon: p.RSSAnon}
		rep.Samples = append(rep.Samples, s)
		logf("soak %s: goroutines %d, fds %d, threads %d, rss %.1f MiB (anonymous %.1f MiB)", s.At.Round(time.Second), g, p.FDs, p.Threads,
			float64(p.RSS)/(1<<20), float64(p.RSSAnon)/(1<<20))
	}
	for i := 0; ; i++ {
		next := start.Add(time.Duration(i+1) * o.FaultEvery)
		if next.After(start.Add(o.Duration)) {
			break
		}
		if err := wake.SleepRuntime(ctx, time.Until(next)); err != nil {
			return rep, err
		}
		sample()
		for _, kind := range soakFaults[i%len(soakFaults)] {
			var cur fmsim.SessionInfo
			err := Poll(ctx, soakRecovery, func() bool {
				s, ok := emu.Live()[name]
				cur = s
				return ok && s.VideoFrames >= 5 && IsNative(s.FlashVer) == (kind == FaultRSTNative || kind == FaultCloseNative)
			})
			if err != nil {
				problem("fault %d (%s): the stream was not live on the right path", i, kind)
				continue
			}
			if err := in.Settle(ctx, cur, soakRecovery); err != nil {
				problem("fault %d (%s): the other path never became ready", i, kind)
				continue
			}
			f := in.Inject(ctx, kind, cur)
			rep.Faults = append(rep.Faults, f)
			logf("soak fault %d %s: recovered=%v in %s %s", i, kind, f.OK, f.Recovery.Round(time.Millisecond), f.Note)
			if !f.OK {
				problem("fault %d (%s) not recovered: %s", i, kind, f.Note)
			}
		}
		// Back on native (failback) before the next period.
		if _, err := onNative(5, o.FaultEvery-time.Second); err != nil {
			problem("fault %d: no failback to native", i)
		}
	}
	if err := wake.SleepRuntime(ctx, time.Until(start.Add(o.Duration))); err != nil {
		return rep, err
	}
	sample()
	rep.Duration = time.Since(start)
	rep.Sessions = emu.Sessions()
	rep.Stream = emu.Streams()[name]
	if err := svc.Stop(); err != nil {
		problem("the service did not exit cleanly: %v", err)
	}
	if kids := Children(svc.PID(), "ffmpeg"); len(kids) > 0 {
		problem("%d ffmpeg processes left behind", len(kids))
	}
	rep.check(problem)
	if len(rep.Problems) > 0 {
		if b, err := os.ReadFile(svc.LogPath); err == nil && len(b) > 0 {
			tail := b[max(0, len(b)-4000):]
			rep.Problems = append(rep.Problems, "service log tail:\n"+string(tail))
		}
	}
	return rep, nil
}

// check applies the soak's assertions to what was observed.
func (rep *SoakReport) check(problem func(string, ...any)) {
	if len(rep.Samples) >= 2 {
		// The baseline is the sample after the first fault period: by then
		// every code path (both paths, failover, failback, probes) has run
		// once and the heap has reached its working size. The first sample,
		// before any fault, is still warming up.
		base, rest := rep.Samples[0], rep.Samples[1:]
		if len(rep.Samples) >= 3 {
			base, rest = rep.Samples[1], rep.Samples[2:]
		}
		for _, s := range rest {
			if s.Goroutines > base.Goroutines+soakGoroutineSlack {
				problem("goroutines at %s: %d, baseline %d", s.At.Round(time.Second), s.Goroutines, base.Goroutines)
			}
			if s.FDs > base.FDs+soakFDSlack {
				problem("descriptors at %s: %d, baseline %d", s.At.Round(time.Second), s.FDs, base.FDs)
			}
			// VmRSS also counts the binary's file-backed pages, which are
			// faulted in as code paths run for the first time (they grow for
			// minutes and are not a leak): the band applies to RssAnon.
			diff := s.RSSAnon - base.RSSAnon
			if d := float64(diff) / float64(base.RSSAnon); (d > soakRSSBand || d < -soakRSSBand) && max(diff, -diff) > soakRSSFloor {
				problem("anonymous RSS at %s is %.1f MiB, %.0f%% from the baseline %.1f MiB (band %.0f%% or 1 MiB)", s.At.Round(time.Second),
					float64(s.RSSAnon)/(1<<20), 100*d, float64(base.RSSAnon)/(1<<20), 100*soakRSSBand)
			}
		}
	} else {
		problem("only %d samples: run the soak for at least two fault periods", len(rep.Samples))
	}
	if !rep.Stream.Monotonic {
		problem("timestamps at the target went backwards (emulator StreamInfo.Monotonic is false):%s", sessionTable(rep.Sessions))
	}
	for _, s := range rep.Sessions {
		if s.StreamName != "soak" || s.VideoFrames == 0 {
			continue
		}
		if s.VideoTSRegressions > 0 {
			problem("session %d: %d video timestamp regressions", s.ID, s.VideoTSRegressions)
		}
		// Frames inside one session: every 40 ms of timestamps has its frame
		// (a frame lost in the relay leaves a hole in the timeline) ...
		span := time.Duration(s.LastVideoTS-s.FirstVideoTS) * time.Millisecond
		if want := int(span.Seconds()*soakSampleFPS*0.99) - 1; s.VideoFrames < want {
			problem("session %d (%s): %d video frames over %s of timestamps, want at least %d", s.ID, pathName(IsNative(s.FlashVer)), s.VideoFrames, span, want)
		}
		// ... and the session kept up with real time (no stall).
		end := s.EndedAt
		if end.IsZero() || s.FirstFrameAt.IsZero() {
			continue
		}
		wall := end.Sub(s.FirstFrameAt)
		if want := int((wall.Seconds()-1)*soakSampleFPS*0.98) - 2; wall > 3*time.Second && s.VideoFrames < want {
			problem("session %d (%s): %d video frames in %s, want at least %d at real time", s.ID, pathName(IsNative(s.FlashVer)), s.VideoFrames, wall.Round(time.Millisecond), want)
		}
	}
}

// sessionTable lists the soak stream's sessions: path, timestamps and times.
func sessionTable(ss []fmsim.SessionInfo) string {
	out := ""
	var t0 time.Time
	for _, s := range ss {
		if s.StreamName != "soak" {
			continue
		}
		if t0.IsZero() {
			t0 = s.Accepted
		}
		ended := "running"
		if !s.EndedAt.IsZero() {
			ended = "ended at " + s.EndedAt.Sub(t0).Round(time.Millisecond).String()
		}
		out += fmt.Sprintf("\n  session %d %-6s ts %d..%d (%d frames, %d regressions) first frame at %s, %s",
			s.ID, pathName(IsNative(s.FlashVer)), s.FirstVideoTS, s.LastVideoTS, s.VideoFrames, s.VideoTSRegressions,
			s.FirstFrameAt.Sub(t0).Round(time.Millisecond), ended)
	}
	return out
}
