package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// nativeFlashVer tells the native path's sessions apart from ffmpeg's at the
// emulator, so that faults can hit one path only.
const nativeFlashVer = "FMLE/3.0 (compatible; fmspush-native)"

// failoverConfig is a config with the emulator (profile, rules) and one
// stream "s" with fast failover settings.
func failoverConfig(profile string, rules map[string]string, prefer string, extra string) string {
	var rb strings.Builder
	for k, v := range rules {
		fmt.Fprintf(&rb, "    %s = %q\n", k, v)
	}
	return "service {\n  http_listen = \"%s\"\n  log_level = \"debug\"\n}\n" +
		fmt.Sprintf("emulator {\n  listen = \"127.0.0.1:0\"\n  profile = %q\n  rules = {\n%s  }\n}\n", profile, rb.String()) +
		fmt.Sprintf(`stream "s" {
  source = "builtin:sample"
  target = "emulator://live/s"
  prefer = %q
  native {
    flashver = %q
  }
  ffmpeg {
    stale_timeout = "3s"
  }
  failover {
    probe_interval  = "300ms"
    failback_after  = "1s"
    backoff_initial = "100ms"
    backoff_max     = "1s"
    attempts_per_minute = 60
%s  }
}
`, prefer, nativeFlashVer, extra)
}

func (r *running) emu() *fmsim.Server { return r.svc.emulator.srv }

func (r *running) stream() health.StreamStatus { return r.streams()["s"] }

func liveOn(r *running, path string) func() bool {
	return func() bool {
		s := r.stream()
		return s.State == health.StateLive && s.ActivePath == path
	}
}

func TestFailoverWhenNativeFlashVerIsRejected(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	r := startService(t, failoverConfig("companion", map[string]string{"reject_flashver": "fmspush-native"}, "native", ""))
	testpeer.Eventually(t, 30*time.Second, "live on ffmpeg", liveOn(r, "ffmpeg"))
	s := r.stream()
	found := false
	for _, f := range s.Failovers {
		found = found || (f.From == "native" && f.To == "ffmpeg" && f.Layer == health.LayerConnect)
	}
	require.True(t, found, "no native->ffmpeg L2 failover recorded: %+v", s.Failovers)
	testpeer.Eventually(t, 15*time.Second, "native's circuit to open", func() bool {
		for _, p := range r.stream().Paths {
			if p.Kind == "native" && p.Circuit == "open" {
				return true
			}
		}
		return false
	})
	// No reconnect storm: every native attempt and probe was rejected, and
	// stayed within the per-host limit.
	rejected := 0
	for _, ss := range r.emu().Sessions() {
		if ss.FlashVer == nativeFlashVer {
			rejected++
		}
	}
	require.LessOrEqual(t, rejected, 60, "native connects within the test, limit is 60 a minute")
	st := r.stream()
	require.True(t, st.State == health.StateLive && st.ActivePath == "ffmpeg", "stream left ffmpeg: %s on %s: %+v\n%s", st.State, st.ActivePath, st, r.logs.String())
}

// ffmpegChild finds the ffmpeg process this test process started.
func ffmpegChild(t *testing.T) int {
	t.Helper()
	if kids := childrenOf(os.Getpid(), "ffmpeg"); len(kids) > 0 {
		return kids[0]
	}
	return 0
}

func TestKilledFFmpegFailsOverToNativeWithin2s(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	r := startService(t, failoverConfig("companion", nil, "ffmpeg", ""))
	testpeer.Eventually(t, 30*time.Second, "live on ffmpeg", liveOn(r, "ffmpeg"))
	var pid int
	testpeer.Eventually(t, 5*time.Second, "the ffmpeg child", func() bool { pid = ffmpegChild(t); return pid != 0 })
	before := len(r.emu().Sessions())
	killed := time.Now()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	testpeer.Eventually(t, 10*time.Second, "native frames at the emulator", func() bool {
		for _, ss := range r.emu().Sessions()[before:] {
			if ss.FlashVer == nativeFlashVer && ss.VideoFrames > 0 {
				return true
			}
		}
		return false
	})
	took := time.Since(killed)
	t.Logf("kill -9 to native frames accepted: %v", took)
	require.LessOrEqual(t, took, 2*time.Second, "failover took %v, want < 2s", took)
	s := r.stream()
	require.True(t, s.ActivePath == "native" && s.LastVerdicts[len(s.LastVerdicts)-1].Layer == health.LayerProcess,
		"active %s, verdicts %+v", s.ActivePath, s.LastVerdicts)
	// ffmpeg's last progress report lags what it sent: native must still
	// continue the target's timeline without going back.
	testpeer.Eventually(t, 5*time.Second, "native frames past ffmpeg's last", func() bool {
		for _, ss := range r.emu().Sessions()[before:] {
			if ss.FlashVer == nativeFlashVer && ss.VideoFrames > 10 {
				return true
			}
		}
		return false
	})
	info := r.emu().Streams()["s"]
	require.True(t, info.Monotonic, "timestamps went backwards across the failover: %+v\n%s", info, sessionTimes(r.emu()))
}

// sessionTimes lists each publish session's first and last timestamps.
func sessionTimes(srv *fmsim.Server) string {
	var b strings.Builder
	for _, ss := range srv.Sessions() {
		if ss.Published() {
			fmt.Fprintf(&b, "session %d %s: video %d..%d ms (%d frames), audio %d..%d ms (%d frames)\n", ss.ID, ss.FlashVer,
				ss.FirstVideoTS, ss.LastVideoTS, ss.VideoFrames, ss.FirstAudioTS, ss.LastAudioTS, ss.AudioFrames)
		}
	}
	return b.String()
}

func TestNativeResetAfterFirstFrameIsL5AndFailsOver(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	rules := map[string]string{"fault_flashver": "fmspush-native", "rst_after_first_frame": "100ms"}
	r := startService(t, failoverConfig("companion", rules, "native", ""))
	testpeer.Eventually(t, 30*time.Second, "live on ffmpeg", liveOn(r, "ffmpeg"))
	var v *health.Verdict
	for _, p := range r.stream().Paths {
		if p.Kind == "native" {
			v = p.LastVerdict
		}
	}
	require.True(t, v != nil && v.Layer == health.LayerMedia && v.TimeToRST >= 80*time.Millisecond && v.TimeToRST <= time.Second,
		"native verdict %+v, want L5 about 100ms after the first frame", v)
	t.Logf("native verdict: %s", v.Error())
	// The same verdict is counted for Prometheus by path, layer and cause,
	// and the status JSON reads its time to reset as people read it.
	_, _, metrics := r.get("/metrics")
	require.Regexp(t, `fmspush_verdicts_total\{cause="`+v.Cause+`",layer="L5",path="native",stream="s",target=""\} [1-9]`, string(metrics))
	require.Regexp(t, `fmspush_failovers_total\{from="native",layer="L5",stream="s",target="",to="ffmpeg"\} [1-9]`, string(metrics))
	require.Regexp(t, `fmspush_circuit_state\{path="native",stream="s",target=""\} [0-2]\n`, string(metrics))
	_, _, body := r.get("/v1/streams/s")
	require.Regexp(t, `"time_to_rst_ns": [1-9][0-9]*,\s+[^}]*"time_to_rst": "[0-9.]+(ms|s)"`, string(body))
}

func TestFailbackWithMonotonicTimestamps(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	rules := map[string]string{"fault_flashver": "fmspush-native", "rst_after_first_frame": "100ms"}
	r := startService(t, failoverConfig("lenient", rules, "native", ""))
	testpeer.Eventually(t, 30*time.Second, "live on ffmpeg", liveOn(r, "ffmpeg"))
	base, err := fmsim.Profile("lenient")
	require.NoError(t, err)
	r.emu().SetRules(base) // the fault clears
	testpeer.Eventually(t, 30*time.Second, "failback to native", func() bool {
		s := r.stream()
		return s.ActivePath == "native" && s.State == health.StateLive && s.Counters.Failbacks >= 1
	})
	// The last publish session is native's (the standby's probes of
	// ffmpeg are sessions too, without a publish: skipped).
	testpeer.Eventually(t, 10*time.Second, "native frames after failback", func() bool {
		ss := r.emu().Sessions()
		for i := len(ss) - 1; i >= 0; i-- {
			if ss[i].Published() {
				return ss[i].FlashVer == nativeFlashVer && ss[i].VideoFrames > 25
			}
		}
		return false
	})
	info := r.emu().Streams()["s"]
	require.True(t, info.Monotonic, "timestamps went backwards across sessions: %+v", info)
	require.GreaterOrEqual(t, len(info.Sessions), 3, "want native, ffmpeg, native sessions; got %v", info.Sessions)
}

func TestTargetUnreachableDegradesAndRecovers(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	port := testpeer.FreePort(t)
	cfg := "service {\n  http_listen = \"%s\"\n}\n" + fmt.Sprintf(`stream "s" {
  source = "builtin:sample"
  target = "rtmp://127.0.0.1:%d/live/s"
  failover {
    backoff_initial     = "100ms"
    backoff_max         = "800ms"
    attempts_per_minute = 20
  }
}
`, port)
	r := startService(t, cfg)
	testpeer.Eventually(t, 20*time.Second, "degraded with both paths marked", func() bool {
		s := r.stream()
		if s.State != health.StateDegraded {
			return false
		}
		for _, p := range s.Paths {
			if p.LastVerdict == nil || p.LastVerdict.Layer != health.LayerNetwork {
				return false
			}
		}
		return true
	})
	require.LessOrEqual(t, r.svc.limiter.Recent(fmt.Sprintf("127.0.0.1:%d", port)), 20, "attempts in the last minute, limit 20")
	grown := false
	for _, p := range r.stream().Paths {
		grown = grown || p.Backoff > 100*time.Millisecond
	}
	require.True(t, grown, "backoff did not grow: %+v", r.stream().Paths)
	srv := &fmsim.Server{Listen: fmt.Sprintf("127.0.0.1:%d", port), Profile: "lenient"}
	require.NoError(t, srv.Start())
	defer srv.Close()
	testpeer.Eventually(t, 60*time.Second, "automatic recovery", func() bool { return r.stream().State == health.StateLive })
}

func TestSourceDownWaitsWithoutFlappingAndRecovers(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	for _, prefer := range []string{"native", "ffmpeg"} {
		t.Run(prefer, func(t *testing.T) {
			cam := filepath.Join(t.TempDir(), "cam.flv")
			cfg := failoverConfig("lenient", nil, prefer, "")
			cfg = strings.Replace(cfg, `source = "builtin:sample"`, fmt.Sprintf("source = %q", "file:"+cam), 1)
			cfg = strings.Replace(cfg, "native {\n", "native {\n    source_grace = \"300ms\"\n", 1)
			r := startService(t, cfg)
			testpeer.Eventually(t, 20*time.Second, "waiting_for_source after retries", func() bool {
				s := r.stream()
				return s.State == health.StateWaitingForSource && len(s.LastVerdicts) >= 3
			})
			s := r.stream()
			require.True(t, s.Counters.Failovers == 0 && s.SourceStatus == "down", "a source failure moved the stream: %+v", s)
			// Each round tries the preferred path, then the other (it reads
			// the source its own way), then waits: source verdicts only, from
			// both paths, and the stream comes back on the preferred path.
			perPath := map[string]int{}
			for _, v := range s.LastVerdicts {
				require.Equal(t, health.LayerSource, v.Layer, "verdict %+v: want source verdicts only", v)
				perPath[v.Path]++
			}
			require.Len(t, perPath, 2, "source verdicts per path: want both paths tried")
			sample, err := os.ReadFile(testpeer.SamplePath(t))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(cam, sample, 0o644))
			// A round starts on the preferred path, so the stream comes back
			// there, unless the source returned between the round's two
			// tries: then on the other path (failback after failback_after).
			testpeer.Eventually(t, 30*time.Second, "recovery when the source returns", func() bool {
				return r.stream().State == health.StateLive
			})
		})
	}
}

// liveStream is a stream to the emulator; both streams share its host, so
// the per-host limit is raised from 6 to leave room for their probes.
func liveStream(name, target string) string {
	return fmt.Sprintf("stream %q {\n  source = \"builtin:sample\"\n  target = %q\n  failover {\n    attempts_per_minute = 60\n  }\n}\n", name, target)
}

func TestReloadChangesOneLiveStreamOthersUnbroken(t *testing.T) {
	r := startService(t, withStreams(liveStream("a", "emulator://live/a"), liveStream("b", "emulator://live/b")))
	testpeer.Eventually(t, 20*time.Second, "both live", func() bool {
		s := r.streams()
		return s["a"].State == health.StateLive && s["b"].State == health.StateLive
	})
	publishing := func(name string) []fmsim.SessionInfo {
		var out []fmsim.SessionInfo
		for _, ss := range r.emu().Sessions() {
			if ss.StreamName == name && ss.Published() {
				out = append(out, ss)
			}
		}
		return out
	}
	before := publishing("a")
	require.Len(t, before, 1, "stream a: publish sessions")
	// Change b only (its target's name), by atomic rename.
	r.writeByRename(withStreams(liveStream("a", "emulator://live/a"), liveStream("b", "emulator://live/b2")))
	testpeer.Eventually(t, 20*time.Second, "b republished under its new name", func() bool {
		ss := publishing("b2")
		return len(ss) == 1 && ss[0].VideoFrames > 0
	})
	after := publishing("a")
	require.True(t, len(after) == 1 && after[0].ID == before[0].ID && !after[0].Ended && after[0].VideoFrames > before[0].VideoFrames,
		"stream a's session was touched by the reload: before %+v after %+v", before[0].ID, after)
	old := publishing("b")
	require.True(t, len(old) == 1 && old[0].Ended && !old[0].Verdict.ByServer(), "stream b's old session did not end cleanly: %+v", old)
}
