package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/internal/wake"
)

// LatencyResult is the added latency of one path: for every video frame the
// emulator accepted, its receive time minus its FLV timestamp, taken
// relative to the smallest such value of the session.
type LatencyResult struct {
	Path    string          `json:"path"`
	Frames  int             `json:"frames"`
	Samples []time.Duration `json:"-"`
	P50     time.Duration   `json:"p50_ns"`
	P99     time.Duration   `json:"p99_ns"`
	Max     time.Duration   `json:"max_ns"`
}

// RunLatency pushes the builtin sample on one path for d to an emulator
// that writes transcripts, and computes each frame's arrival relative to
// its timestamp. The sources both paths can read today are files paced at
// real time from when the path started, so the constant part (the path's
// pacing origin) is not observable: the figure is the delay above the
// session's fastest frame (queueing, interleaving, write batching, GC),
// with the transcript's 1 ms resolution.
func RunLatency(ctx context.Context, env Env, path string, d time.Duration) (LatencyResult, error) {
	res := LatencyResult{Path: path}
	dir, err := os.MkdirTemp(env.Dir, "latency-")
	if err != nil {
		return res, err
	}
	defer env.cleanup(dir)
	tdir := filepath.Join(dir, "transcripts")
	if err := os.MkdirAll(tdir, 0o755); err != nil {
		return res, err
	}
	emu, err := StartEmulator(env.Emu.CurrentRulesProfile(), tdir)
	if err != nil {
		return res, err
	}
	defer emu.Close()
	name := "latency-" + path
	svc, err := StartService(ctx, ServiceOptions{Binary: env.Binary, Dir: dir,
		Streams: []StreamSpec{{Name: name, Source: "builtin:sample", Target: emu.Target(name), Prefer: path}}})
	if err != nil {
		return res, err
	}
	if err := Poll(ctx, 30*time.Second, func() bool { return emu.AllLive([]string{name}, path == "native") }); err != nil {
		svc.Stop()
		return res, fmt.Errorf("latency: %s not live: %w", path, err)
	}
	if err := wake.SleepRuntime(ctx, d); err != nil {
		svc.Stop()
		return res, err
	}
	sess := emu.Live()[name]
	svc.Stop()
	if sess.Transcript == "" {
		return res, fmt.Errorf("latency: no transcript")
	}
	samples, err := frameDelays(sess)
	if err != nil {
		return res, err
	}
	// Skip the first second: the GOP cache burst at the start of a native
	// publish and ffmpeg's probing are start-up, not steady state.
	res.Samples = samples
	res.Frames = len(samples)
	s := Summarize(samples)
	res.P50, res.P99, res.Max = s.P50, s.P99, s.Max
	return res, nil
}

// CurrentRulesProfile is the profile name the bench's emulators use.
func (e *Emulator) CurrentRulesProfile() string { return e.Profile }

// frameDelays reads a session transcript and returns, for the video frames
// after the first second, (arrival - timestamp) minus its minimum.
func frameDelays(sess fmsim.SessionInfo) ([]time.Duration, error) {
	f, err := os.Open(sess.Transcript)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var raw []int64
	var firstT int64 = -1
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e fmsim.Entry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if e.Dir != "in" || e.Type != 9 || !strings.Contains(e.Kind, "nalu") {
			continue
		}
		if firstT < 0 {
			firstT = e.TMs
		}
		if e.TMs-firstT < 1000 {
			continue
		}
		raw = append(raw, e.TMs-int64(e.Timestamp))
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("latency: no video frames in %s", sess.Transcript)
	}
	lo := raw[0]
	for _, v := range raw {
		lo = min(lo, v)
	}
	out := make([]time.Duration, len(raw))
	for i, v := range raw {
		out[i] = time.Duration(v-lo) * time.Millisecond
	}
	return out, nil
}
