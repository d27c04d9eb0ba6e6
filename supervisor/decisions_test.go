package supervisor

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
)

// The run loop's decisions in simulated time (sim_test.go): every case
// asserts the state, the active path, the counters and the times the loop
// scheduled, to the nanosecond (the backoffs' jitter is fixed at none).

// A session of the preferred path ends at 5 s with a verdict at one layer.
// A target-layer or process verdict moves the stream to the standby at
// once when it is usable, and counts against the failed path (its backoff;
// its circuit for a target layer); with the standby unusable the stream is
// degraded and waits for the path that may be tried first.
func TestDecisionFailoverPerLayer(t *testing.T) {
	l2 := simVerdict(health.LayerConnect, "connect_rejected")
	cases := []struct {
		name          string
		layer         health.Layer
		cause         string
		ffProbe       *health.Verdict // the standby's probe failure
		wantState     health.State
		wantActive    string
		wantFFStarts  []time.Duration
		wantFailovers int64
		wantFailures  int64  // the native path's
		wantCircuit   string // the native path's
		wantNext      time.Duration
		wantReason    string
	}{
		{"L0", health.LayerNetwork, "connection_refused", nil, health.StateLive, "ffmpeg", offsets(5), 1, 1, CircuitOpen, 6 * time.Second, ""},
		{"L1", health.LayerHandshake, "handshake_timeout", nil, health.StateLive, "ffmpeg", offsets(5), 1, 1, CircuitOpen, 6 * time.Second, ""},
		{"L2", health.LayerConnect, "connect_rejected", nil, health.StateLive, "ffmpeg", offsets(5), 1, 1, CircuitOpen, 6 * time.Second, ""},
		{"L3", health.LayerPublish, "publish_rejected", nil, health.StateLive, "ffmpeg", offsets(5), 1, 1, CircuitOpen, 6 * time.Second, ""},
		{"L4", health.LayerUpkeep, health.CauseStalled, nil, health.StateLive, "ffmpeg", offsets(5), 1, 1, CircuitOpen, 6 * time.Second, ""},
		{"L5", health.LayerMedia, "reset_after_first_frame", nil, health.StateLive, "ffmpeg", offsets(5), 1, 1, CircuitOpen, 6 * time.Second, ""},
		// A process verdict is not the target's answer: no circuit failure.
		{"process", health.LayerProcess, "crashed", nil, health.StateLive, "ffmpeg", offsets(5), 1, 1, CircuitClosed, 6 * time.Second, ""},
		// The standby's probe failed at 0 s (its circuit opened until 30 s);
		// the native circuit opened at 5 s until 35 s (its backoff ends at 6 s):
		// ffmpeg first.
		{"L2, standby unusable", health.LayerConnect, "connect_rejected", l2, health.StateDegraded, "", nil, 0, 1, CircuitOpen, 6 * time.Second,
			"native failed at L2 (connect_rejected); no healthy standby, retrying ffmpeg in 25 s"},
		// A source verdict never counts against the path; the other path
		// reads the source its own way, and is tried at once.
		{"source", health.LayerSource, "source_lost", nil, health.StateLive, "ffmpeg", offsets(5), 0, 0, CircuitClosed, 0,
			"ffmpeg path is live"},
	}
	for _, c := range cases {
		runSim(t, c.name, func(t *testing.T) {
			pol := simPolicy()
			pol.CircuitFailures = 1 // one counted failure opens the circuit
			s := newSim(t, pol, false)
			s.ff.setProbe(c.ffProbe)
			s.start()
			s.requireLiveOn("native")
			s.clk.AdvanceTo(5 * time.Second)
			s.endSession(s.native, c.layer, c.cause)

			st := s.status()
			require.Equal(t, c.wantState, st.State, st.Reason)
			require.Equal(t, c.wantActive, st.ActivePath)
			if c.wantReason != "" {
				require.Equal(t, c.wantReason, st.Reason)
			}
			require.Equal(t, c.wantFFStarts, s.ff.startOffsets())
			require.Equal(t, offsets(0), s.native.startOffsets())
			require.Equal(t, c.wantFailovers, st.Counters.Failovers)
			if c.wantFailovers > 0 {
				require.Equal(t, []health.Failover{{From: "native", To: "ffmpeg", Layer: c.layer, Count: 1}}, st.Failovers)
			}
			np := s.path("native")
			require.Equal(t, c.wantFailures, np.Failures)
			require.Equal(t, c.wantCircuit, np.Circuit)
			if c.wantNext > 0 {
				require.Equal(t, t0.Add(c.wantNext), np.NextAttempt)
			} else {
				require.Zero(t, np.NextAttempt)
			}
			require.Equal(t, c.layer, np.LastVerdict.Layer)
		})
	}
}

// One path failing again and again: the backoff doubles from
// backoff_initial (1 s) up to backoff_max (8 s), and a session that stayed
// live for stable_after (10 s) resets it; a source verdict waits with its
// own backoff, up to source_retry (4 s).
func TestDecisionBackoff(t *testing.T) {
	l0 := fails(health.LayerNetwork, "connection_refused")
	cases := []struct {
		name       string
		script     []outcome
		dflt       outcome
		until      time.Duration
		wantStarts []time.Duration
		wantState  health.State
		wantNext   time.Duration
		wantPeek   time.Duration // the backoff the next failure gets
	}{
		{"doubles up to the cap", nil, l0, 40 * time.Second,
			offsets(0, 1, 3, 7, 15, 23, 31, 39), health.StateDegraded, 47 * time.Second, 8 * time.Second},
		// Live from 7 s to 19 s: reset at 17 s.
		{"reset by a session live for stable_after", []outcome{l0, l0, l0, liveThen(12*time.Second, health.LayerNetwork, "connection_reset")}, l0, 27 * time.Second,
			offsets(0, 1, 3, 7, 20, 22, 26), health.StateDegraded, 34 * time.Second, 8 * time.Second},
		// Live from 7 s to 12 s: the next failure waits 8 s.
		{"not reset by a shorter session", []outcome{l0, l0, l0, liveThen(5*time.Second, health.LayerNetwork, "connection_reset")}, l0, 29 * time.Second,
			offsets(0, 1, 3, 7, 20, 28), health.StateDegraded, 36 * time.Second, 8 * time.Second},
		{"source verdicts wait up to source_retry", nil, fails(health.LayerSource, "source_unavailable"), 16 * time.Second,
			offsets(0, 1, 3, 7, 11, 15), health.StateWaitingForSource, 19 * time.Second, time.Second},
	}
	for _, c := range cases {
		runSim(t, c.name, func(t *testing.T) {
			pol := simPolicy()
			pol.CircuitFailures = 1000
			s := newSim(t, pol, true)
			s.native.setScript(c.dflt, c.script...)
			s.start()
			s.clk.AdvanceTo(c.until)
			st := s.status()
			require.Equal(t, c.wantStarts, s.native.startOffsets())
			require.Equal(t, c.wantState, st.State, st.Reason)
			np := s.path("native")
			require.Equal(t, t0.Add(c.wantNext), np.NextAttempt)
			require.Equal(t, c.wantPeek, np.Backoff)
			require.Equal(t, int64(len(c.wantStarts)-1), st.Counters.Reconnects)
		})
	}
}

// The circuit of one path (3 failures at one layer within 5 min, cooldown
// 30 s; backoff a flat 1 s): open, half-open after the cooldown (one
// attempt decides), re-opened for twice as long, closed by a live session.
func TestDecisionCircuit(t *testing.T) {
	l2 := fails(health.LayerConnect, "connect_rejected")
	l0 := fails(health.LayerNetwork, "connection_refused")
	type check struct {
		at      time.Duration
		circuit string
		state   health.State
		next    time.Duration
	}
	cases := []struct {
		name       string
		script     []outcome
		dflt       outcome
		checks     []check
		wantStarts []time.Duration
	}{
		{"opens, half-opens, re-opens doubled", nil, l2, []check{
			{1500 * time.Millisecond, CircuitClosed, health.StateDegraded, 2 * time.Second},
			{10 * time.Second, CircuitOpen, health.StateDegraded, 32 * time.Second},
			{40 * time.Second, CircuitOpen, health.StateDegraded, 92 * time.Second},
			{100 * time.Second, CircuitOpen, health.StateDegraded, 212 * time.Second},
		}, offsets(0, 1, 2, 32, 92)},
		{"other layers do not add up", []outcome{l2, l0, l2, l0}, live, []check{
			{3500 * time.Millisecond, CircuitClosed, health.StateDegraded, 4 * time.Second},
			{5 * time.Second, CircuitClosed, health.StateLive, 4 * time.Second},
		}, offsets(0, 1, 2, 3, 4)},
		{"a live half-open attempt closes it", []outcome{l2, l2, l2}, live, []check{
			{10 * time.Second, CircuitOpen, health.StateDegraded, 32 * time.Second},
			{40 * time.Second, CircuitClosed, health.StateLive, 32 * time.Second},
		}, offsets(0, 1, 2, 32)},
	}
	for _, c := range cases {
		runSim(t, c.name, func(t *testing.T) {
			pol := simPolicy()
			pol.BackoffMax = pol.BackoffInitial
			s := newSim(t, pol, true)
			s.native.setScript(c.dflt, c.script...)
			s.start()
			for _, ch := range c.checks {
				s.clk.AdvanceTo(ch.at)
				np := s.path("native")
				require.Equal(t, ch.circuit, np.Circuit, "at %v", ch.at)
				require.Equal(t, ch.state, s.status().State, "at %v", ch.at)
				require.Equal(t, t0.Add(ch.next), np.NextAttempt, "at %v", ch.at)
			}
			require.Equal(t, c.wantStarts, s.native.startOffsets())
		})
	}
}

// Failback: native fails at L5 at 0 s, ffmpeg is live from 0 s, native is
// probed every 10 s from 10 s on; once its probes have passed for
// failback_after (30 s), ffmpeg is stopped and native started.
func TestDecisionFailback(t *testing.T) {
	l2 := simVerdict(health.LayerConnect, "connect_rejected")
	cases := []struct {
		name          string
		probe         func(at time.Duration) *health.Verdict
		until         time.Duration
		wantNative    []time.Duration
		wantActive    string
		wantFailbacks int64
	}{
		{"probes pass from 10 s: failback at 40 s", nil, 41 * time.Second, offsets(0, 40), "native", 1},
		{"probes pass from 10 s: not yet at 39 s", nil, 39 * time.Second, offsets(0), "ffmpeg", 0},
		{"a failed probe at 20 s restarts the clock", func(at time.Duration) *health.Verdict {
			if at == 20*time.Second {
				return l2
			}
			return nil
		}, 61 * time.Second, offsets(0, 60), "native", 1},
		{"probes failing: no failback", func(time.Duration) *health.Verdict { return l2 }, 5 * time.Minute, offsets(0), "ffmpeg", 0},
	}
	for _, c := range cases {
		runSim(t, c.name, func(t *testing.T) {
			s := newSim(t, simPolicy(), false)
			s.native.setScript(live, fails(health.LayerMedia, "reset_after_first_frame"))
			s.native.probe = c.probe
			s.start()
			s.requireLiveOn("ffmpeg")
			s.clk.AdvanceTo(c.until)
			s.requireLiveOn(c.wantActive)
			st := s.status()
			require.Equal(t, c.wantNative, s.native.startOffsets())
			require.Equal(t, offsets(0), s.ff.startOffsets())
			require.Equal(t, c.wantFailbacks, st.Counters.Failbacks)
			require.EqualValues(t, 1, st.Counters.Failovers)
		})
	}
}

// The per-host limit (3 attempts a minute; backoff a flat 1 s): a
// stream's first attempt is not held back, its reconnects are, by the
// attempts to its target's host and its source's (shared with others).
func TestDecisionPerHostLimit(t *testing.T) {
	cases := []struct {
		name       string
		sourceHost string
		others     int // other streams' attempts to the source host at 0 s
		until      time.Duration
		wantStarts []time.Duration
	}{
		{"three a minute", "", 0, 121 * time.Second, offsets(0, 1, 2, 60, 61, 62, 120, 121)},
		{"the source's host, with others' attempts", "cam:554", 3, 121 * time.Second, offsets(0, 60, 61, 62, 120, 121)},
	}
	for _, c := range cases {
		runSim(t, c.name, func(t *testing.T) {
			pol := simPolicy()
			pol.BackoffMax, pol.CircuitFailures = pol.BackoffInitial, 1000
			s := newSim(t, pol, true)
			s.st.AttemptsPerMinute = 3
			s.st.Preferred.SourceHost = c.sourceHost
			for range c.others {
				s.lim.Take(c.sourceHost)
			}
			s.native.setScript(fails(health.LayerNetwork, "connection_refused"))
			s.start()
			s.clk.AdvanceTo(30 * time.Second)
			require.Contains(t, s.status().Reason, "for the per-host connection limit before starting native")
			s.clk.AdvanceTo(c.until)
			require.Equal(t, c.wantStarts, s.native.startOffsets())
		})
	}
}

// Source verdicts (issue 11, item 9): the other path reads the source its
// own way (ffmpeg opens it itself), so a path that fails at the source
// hands over to it at once, once a round; when both fail at the source,
// the stream waits with the source backoff (1 s doubling to 4 s), and the
// next round starts on the preferred path. No failback to a preferred path that could not
// read the source the other path read at once; a path that lost the source
// while live had read it, and is failed back to.
func TestDecisionSourceVerdicts(t *testing.T) {
	unsupported := fails(health.LayerSource, "source_unsupported")
	ffSource := fails(health.LayerSource, "source_missing")
	down := fails(health.LayerSource, "source_unavailable")
	lost := liveThen(5*time.Second, health.LayerSource, "source_lost")
	l2 := simVerdict(health.LayerConnect, "connect_rejected")
	cases := []struct {
		name          string
		native, ff    []outcome // the first runs; then live
		nativeDflt    outcome
		ffProbe       *health.Verdict
		until         time.Duration
		wantState     health.State
		wantActive    string
		wantReason    string
		wantNative    []time.Duration
		wantFF        []time.Duration
		wantFailbacks int64
	}{
		{"only ffmpeg reads the source: no failback", nil, nil, unsupported, nil, 5 * time.Minute,
			health.StateLive, "ffmpeg", "ffmpeg path is live; no failback to native, which could not read the source (source_unsupported)",
			offsets(0), offsets(0), 0},
		{"both fail: each round tries native, then ffmpeg, then waits", []outcome{down, down, down}, []outcome{ffSource, ffSource, ffSource}, live, nil, 5 * time.Second,
			health.StateWaitingForSource, "", "the source is unavailable (source_missing); retrying in 4 s",
			offsets(0, 1, 3), offsets(0, 1, 3), 0},
		{"both fail, the source returns: live on native at 7 s, no failback needed", []outcome{down, down, down}, []outcome{ffSource, ffSource, ffSource}, live, nil, 41 * time.Second,
			health.StateLive, "native", "native path is live",
			offsets(0, 1, 3, 7), offsets(0, 1, 3), 0},
		{"only ffmpeg reads, through an outage: live on ffmpeg in the round the source returns", nil, []outcome{ffSource, ffSource}, unsupported, nil, 30 * time.Second,
			health.StateLive, "ffmpeg", "ffmpeg path is live",
			offsets(0, 1, 3), offsets(0, 1, 3), 0},
		{"lost while live: ffmpeg at once, failback at 40 s", []outcome{lost}, nil, live, nil, 41 * time.Second,
			health.StateLive, "native", "native path is live",
			offsets(0, 40), offsets(5), 1},
		{"a failback that cannot read the source: back to ffmpeg at once, no more failback", []outcome{lost, unsupported}, nil, live, nil, 5 * time.Minute,
			health.StateLive, "ffmpeg", "ffmpeg path is live; no failback to native, which could not read the source (source_unsupported)",
			offsets(0, 40), offsets(5, 40), 1},
		// ffmpeg's probe failed at 0 s: its circuit is open until 30 s.
		{"the other path unusable: wait on this one", []outcome{lost}, nil, unsupported, l2, 10 * time.Second,
			health.StateWaitingForSource, "", "the source is unavailable (source_unsupported); retrying in 4 s",
			offsets(0, 6, 8), nil, 0},
	}
	for _, c := range cases {
		runSim(t, c.name, func(t *testing.T) {
			pol := simPolicy()
			pol.CircuitFailures = 1
			s := newSim(t, pol, false)
			s.native.setScript(c.nativeDflt, c.native...)
			s.ff.setScript(live, c.ff...)
			s.ff.setProbe(c.ffProbe)
			s.start()
			s.clk.AdvanceTo(c.until)
			st := s.status()
			require.Equal(t, c.wantState, st.State, st.Reason)
			require.Equal(t, c.wantActive, st.ActivePath)
			require.Equal(t, c.wantReason, st.Reason)
			require.Equal(t, c.wantNative, s.native.startOffsets())
			require.Equal(t, c.wantFF, s.ff.startOffsets())
			require.Equal(t, c.wantFailbacks, st.Counters.Failbacks)
			require.Zero(t, st.Counters.Failovers, "a source verdict is no failover")
			np := s.path("native")
			require.Zero(t, np.Failures)
			require.Equal(t, CircuitClosed, np.Circuit)
			require.Equal(t, health.LayerSource, np.LastVerdict.Layer)
		})
	}
}

// A cold backup ingest: a failure at L0-L3 moves the same path to the
// backup at once (no backoff, no failover of paths); once the standby's
// probes of the primary have passed for failback_after while the backup was
// live as long, the stream returns to the primary. A failure at L4 or L5
// is the path's and fails over as usual, on the same ingest.
func TestDecisionColdBackup(t *testing.T) {
	runSim(t, "L2 on the primary, back after failback_after", func(t *testing.T) {
		s := newSim(t, simPolicy(), false)
		s.st.Backup = &Backup{}
		s.start()
		s.requireLiveOn("native")
		require.Equal(t, "primary", s.status().Ingest)
		s.clk.AdvanceTo(5 * time.Second)
		s.endSession(s.native, health.LayerConnect, "connect_rejected")
		s.requireLiveOn("native")
		require.True(t, s.st.Backup.Active())
		require.Equal(t, "backup", s.status().Ingest)
		require.Equal(t, offsets(0, 5), s.native.startOffsets())
		s.clk.AdvanceTo(39 * time.Second)
		require.True(t, s.st.Backup.Active(), "returned before the primary answered for failback_after")
		s.clk.AdvanceTo(41 * time.Second)
		s.requireLiveOn("native")
		require.False(t, s.st.Backup.Active())
		require.Equal(t, offsets(0, 5, 40), s.native.startOffsets())
		require.Empty(t, s.ff.startOffsets())
		st := s.status()
		require.EqualValues(t, 1, st.Counters.Failbacks)
		require.EqualValues(t, 1, st.Counters.Failovers)
	})
	runSim(t, "primary probes failing: stays on the backup", func(t *testing.T) {
		s := newSim(t, simPolicy(), false)
		s.st.Backup = &Backup{}
		s.ff.setProbe(simVerdict(health.LayerNetwork, "connect_refused"))
		s.start()
		s.clk.AdvanceTo(5 * time.Second)
		s.endSession(s.native, health.LayerNetwork, "connect_refused")
		s.clk.AdvanceTo(5 * time.Minute)
		require.True(t, s.st.Backup.Active())
		s.requireLiveOn("native")
		require.Equal(t, offsets(0, 5), s.native.startOffsets())
	})
	runSim(t, "a session lost at L4 on a primary that no longer answers", func(t *testing.T) {
		s := newSim(t, simPolicy(), false)
		s.st.Backup = &Backup{}
		s.start()
		s.clk.AdvanceTo(5 * time.Second)
		s.native.setProbe(simVerdict(health.LayerNetwork, "connect_refused"))
		s.endSession(s.native, health.LayerUpkeep, "closed")
		s.requireLiveOn("native")
		require.True(t, s.st.Backup.Active(), "the primary is gone: the backup")
		require.Equal(t, offsets(0, 5), s.native.startOffsets())
		require.Empty(t, s.ff.startOffsets(), "no detour through the other path")
	})
	runSim(t, "L5 is the path's: failover on the primary", func(t *testing.T) {
		s := newSim(t, simPolicy(), false)
		s.st.Backup = &Backup{}
		s.start()
		s.clk.AdvanceTo(5 * time.Second)
		s.endSession(s.native, health.LayerMedia, "reset_after_first_frame")
		s.requireLiveOn("ffmpeg")
		require.False(t, s.st.Backup.Active())
	})
}

// switchedToFFmpeg starts a sim live on native and has an operator switch
// it to ffmpeg: the reply, and the stream live on ffmpeg. Call it inside
// runSim.
func switchedToFFmpeg(t *testing.T) (*sim, Reply) {
	s := newSim(t, simPolicy(), false)
	s.start()
	s.requireLiveOn("native")
	r, err := s.st.Do(context.Background(), CmdSwitch)
	require.NoError(t, err)
	synctest.Wait()
	s.requireLiveOn("ffmpeg")
	return s, r
}

// An operator's commands: switch to the other path now, pause (the session
// ends, the stream stays paused and healthy), resume on the preferred path,
// probe the standby now; a command that does not apply says so.
func TestDecisionCommands(t *testing.T) {
	runSim(t, "switch, pause, resume, probe", func(t *testing.T) {
		s, r := switchedToFFmpeg(t)
		ctx := context.Background()
		require.Contains(t, r.Did, "switching from native to ffmpeg")
		st := s.status()
		require.Zero(t, st.Counters.Failovers+st.Counters.Failbacks, "a switch by request is no failover")

		_, err := s.st.Do(ctx, CmdPause)
		require.NoError(t, err)
		synctest.Wait()
		st = s.status()
		require.Equal(t, health.StatePaused, st.State)
		require.Empty(t, st.ActivePath)
		require.True(t, st.State.Healthy())
		s.clk.Advance(time.Minute)
		require.Equal(t, health.StatePaused, s.status().State, "a paused stream started again by itself")
		_, err = s.st.Do(ctx, CmdSwitch)
		require.ErrorIs(t, err, ErrNotApplicable)

		_, err = s.st.Do(ctx, CmdResume)
		require.NoError(t, err)
		synctest.Wait()
		s.requireLiveOn("native")
		_, err = s.st.Do(ctx, CmdResume)
		require.ErrorIs(t, err, ErrNotApplicable)

		probes := s.ff.probes
		r, err = s.st.Do(ctx, CmdProbe)
		require.NoError(t, err)
		require.Contains(t, r.Did, "ffmpeg")
		synctest.Wait()
		require.Greater(t, s.ff.probes, probes)
	})
	runSim(t, "a switch to the other path sticks until switched back", func(t *testing.T) {
		s, r := switchedToFFmpeg(t)
		ctx := context.Background()
		require.Contains(t, r.Did, "no failback to native until switched back")
		s.clk.Advance(5 * time.Minute) // native's probes pass all along: past FailbackAfter ten times over
		s.requireLiveOn("ffmpeg")
		st := s.status()
		require.Zero(t, st.Counters.Failbacks, "failed back over the operator's switch")
		require.Contains(t, st.Reason, "switched to by request")

		_, err := s.st.Do(ctx, CmdSwitch)
		require.NoError(t, err)
		synctest.Wait()
		s.requireLiveOn("native")
		require.NotContains(t, s.status().Reason, "by request")
	})
}

// Both paths refused (L0) until the target came back at 25 s: the circuits
// opened, and the stream would wait for the pending path's cooldown (a
// minute); the standby's probe at 30 s reaches L3, so the standby starts
// then. A failure the probe does not reach (L5, after the first frame)
// waits on.
func TestDecisionProbeEndsTheWait(t *testing.T) {
	for _, c := range []struct {
		name   string
		fail   outcome
		starts bool
	}{
		{"refused: started at the probe", fails(health.LayerNetwork, "connection_refused"), true},
		{"reset after the first frame: waits", fails(health.LayerMedia, "reset_after_first_frame"), false},
	} {
		runSim(t, c.name, func(t *testing.T) {
			pol := simPolicy()
			pol.CircuitCooldown = time.Minute
			s := newSim(t, pol, false)
			back := 25 * time.Second
			down := func(at time.Duration) *health.Verdict {
				if at < back {
					return simVerdict(health.LayerNetwork, "connection_refused")
				}
				return nil
			}
			for _, p := range []*simPath{s.native, s.ff} {
				p.setScript(c.fail)
				p.probe, p.depth = down, health.LayerPublish
			}
			s.start()
			s.clk.AdvanceTo(back)
			s.native.setScript(live)
			s.ff.setScript(live)
			s.clk.AdvanceTo(30*time.Second + time.Millisecond)
			st := s.status()
			what := fmt.Sprintf("native starts %v, ffmpeg %v, %s: %s", s.native.startOffsets(), s.ff.startOffsets(), st.State, st.Reason)
			if !c.starts {
				require.NotEqual(t, health.StateLive, st.State, what)
				return
			}
			require.Equal(t, health.StateLive, st.State, what)
			on, other := s.native, s.ff
			if st.ActivePath == "ffmpeg" {
				on, other = s.ff, s.native
			}
			starts := on.startOffsets()
			require.Equal(t, 30*time.Second, starts[len(starts)-1], what)
			require.True(t, s.path(other.kind).NextAttempt.After(t0.Add(30*time.Second)), "%s was due anyway: %s", other.kind, what)
		})
	}
}
