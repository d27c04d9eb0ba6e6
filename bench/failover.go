package bench

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/fmspush/fmspush/fmsim"
)

// Fault kinds injected by the failover figure and the soak.
const (
	// FaultRSTNative: the emulator resets the native session (rst_after_first_frame keyed on native's flashVer).
	FaultRSTNative = "rst_native"
	// FaultCloseNative: the emulator closes the native session (close_after_publish keyed on native's flashVer).
	FaultCloseNative = "close_native"
	// FaultKillFFmpeg: kill -9 of the ffmpeg child.
	FaultKillFFmpeg = "kill9_ffmpeg"
	// FaultCloseFFmpeg: the emulator closes ffmpeg's session (close_after_publish keyed on ffmpeg's flashVer).
	FaultCloseFFmpeg = "close_ffmpeg"
)

// ffmpegFlashVerPattern matches the ffmpeg path's flashVer (ffmpegpath's default) and not native's.
const ffmpegFlashVerPattern = "FMSc"

// FaultSample is one injected fault and the recovery from it.
type FaultSample struct {
	Kind     string        `json:"kind"`
	From     string        `json:"from"`
	To       string        `json:"to"`
	At       time.Time     `json:"at"`
	Recovery time.Duration `json:"recovery_ns"` // fault to first frame accepted on the other path
	OK       bool          `json:"ok"`
	Note     string        `json:"note,omitempty"`
}

// Injector injects faults into the one stream of a service and measures the
// recovery: the time from the fault to the first frame the emulator accepts
// from a new session of the other path.
type Injector struct {
	Emu     *Emulator
	Svc     *Service
	Stream  string
	Profile string        // the emulator's profile, restored after each fault
	Timeout time.Duration // per fault (default 20 s)
}

func (in *Injector) clearRules() error {
	r, err := fmsim.Profile(in.Profile)
	if err != nil {
		return err
	}
	in.Emu.SetRules(r)
	return nil
}

// Active waits for a live session of the stream that has accepted at least
// minFrames video frames, and returns it.
func (in *Injector) Active(ctx context.Context, minFrames int, within time.Duration) (fmsim.SessionInfo, error) {
	var cur fmsim.SessionInfo
	err := Poll(ctx, within, func() bool {
		s, ok := in.Emu.Live()[in.Stream]
		cur = s
		return ok && s.VideoFrames >= minFrames
	})
	return cur, err
}

// Settle waits until the current session cur has been live for a second
// and the other path may be tried at once (its backoff from an earlier
// fault has passed, its circuit is closed): a fault injected before that is
// a double fault, after which the supervisor rightly retries the same path.
func (in *Injector) Settle(ctx context.Context, cur fmsim.SessionInfo, within time.Duration) error {
	other := pathName(!IsNative(cur.FlashVer))
	return Poll(ctx, within, func() bool {
		if time.Since(cur.FirstFrameAt) < time.Second {
			return false
		}
		st, err := in.Svc.Streams()
		if err != nil {
			return false
		}
		for _, p := range st[in.Stream].Paths {
			if p.Kind == other {
				return p.Circuit == "closed" && (p.NextAttempt.IsZero() || time.Now().After(p.NextAttempt))
			}
		}
		return false
	})
}

// Inject injects one fault of kind into the current session cur (which must
// be on the matching path) and waits for the recovery on the other path.
func (in *Injector) Inject(ctx context.Context, kind string, cur fmsim.SessionInfo) FaultSample {
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	native := IsNative(cur.FlashVer)
	fs := FaultSample{Kind: kind, From: pathName(native), To: pathName(!native)}
	var at time.Time
	switch kind {
	case FaultRSTNative, FaultCloseNative, FaultCloseFFmpeg:
		pat := "fmspush-native"
		if kind == FaultCloseFFmpeg {
			pat = ffmpegFlashVerPattern
		}
		rule := "rst_after_first_frame=1ms"
		if kind != FaultRSTNative {
			rule = "close_after_publish=1ms"
		}
		if err := in.Emu.UpdateRules("fault_stream="+in.Stream, "fault_flashver="+pat, rule); err != nil {
			fs.Note = err.Error()
			return fs
		}
		var ended fmsim.SessionInfo
		err := Poll(ctx, 5*time.Second, func() bool {
			s, ok := in.Emu.Session(cur.ID)
			ended = s
			return ok && s.Ended
		})
		_ = in.clearRules()
		if err != nil {
			fs.Note = "the emulator did not end the session"
			return fs
		}
		at = ended.EndedAt
		if ended.Verdict != nil && !ended.Verdict.At.IsZero() {
			at = ended.Verdict.At
		}
	case FaultKillFFmpeg:
		kids := in.Svc.FFmpegChildren()
		if len(kids) != 1 {
			fs.Note = fmt.Sprintf("%d ffmpeg children", len(kids))
			return fs
		}
		at = time.Now()
		if err := syscall.Kill(kids[0].PID, syscall.SIGKILL); err != nil {
			fs.Note = err.Error()
			return fs
		}
	default:
		fs.Note = "unknown fault kind"
		return fs
	}
	fs.At = at
	var next fmsim.SessionInfo
	err := Poll(ctx, timeout, func() bool {
		s, ok := in.Emu.FirstFrameAfter(in.Stream, !native, at)
		next = s
		return ok
	})
	if err != nil {
		fs.Note = "not recovered on the other path within " + timeout.String()
		return fs
	}
	fs.Recovery = next.FirstFrameAt.Sub(at)
	fs.OK = true
	return fs
}

func pathName(native bool) string {
	if native {
		return "native"
	}
	return "ffmpeg"
}

// FaultFor picks the i-th fault kind for a session on the native path or
// the ffmpeg path, rotating through the kinds that apply to that path.
func FaultFor(native bool, i int) string {
	if native {
		return []string{FaultRSTNative, FaultCloseNative}[i%2]
	}
	return []string{FaultKillFFmpeg, FaultCloseFFmpeg}[i%2]
}

// RunFailover starts a service with one builtin-sample stream (native
// preferred, fast failover settings, failback off) and injects n faults in
// a row, each on whichever path is active: every fault moves the stream to
// the other path.
func RunFailover(ctx context.Context, env Env, profile string, n int) ([]FaultSample, error) {
	dir, err := os.MkdirTemp(env.Dir, "failover-")
	if err != nil {
		return nil, err
	}
	defer env.cleanup(dir)
	name := "failover"
	svc, err := StartService(ctx, ServiceOptions{Binary: env.Binary, Dir: dir, Failover: FastFailover,
		Streams: []StreamSpec{{Name: name, Source: "builtin:sample", Target: env.Emu.Target(name), Prefer: "native"}}})
	if err != nil {
		return nil, err
	}
	defer svc.Stop()
	in := &Injector{Emu: env.Emu, Svc: svc, Stream: name, Profile: profile}
	var out []FaultSample
	nNative, nFFmpeg := 0, 0
	for len(out) < n {
		cur, err := in.Active(ctx, 10, 30*time.Second)
		if err != nil {
			return out, fmt.Errorf("stream not live after %d faults: %w (log %s)", len(out), err, svc.LogPath)
		}
		if err := in.Settle(ctx, cur, 10*time.Second); err != nil {
			return out, fmt.Errorf("the other path never became ready after %d faults: %w", len(out), err)
		}
		native := IsNative(cur.FlashVer)
		var kind string
		if native {
			kind = FaultFor(true, nNative)
			nNative++
		} else {
			kind = FaultFor(false, nFFmpeg)
			nFFmpeg++
		}
		out = append(out, in.Inject(ctx, kind, cur))
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
	}
	return out, nil
}
