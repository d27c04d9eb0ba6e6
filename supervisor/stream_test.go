package supervisor

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scripted is a Path whose behaviour the test sets: it either goes live and
// publishes until cancelled, or fails with a verdict. It stands in for our
// own paths (never for a protocol peer) to test the policy in isolation.
type scripted struct {
	kind  string
	mu    sync.Mutex
	fail  *health.Verdict // nil: go live
	runs  atomic.Int64
	bases []time.Duration
}

func (p *scripted) Kind() string                    { return p.kind }
func (p *scripted) Check(ctx context.Context) error { return nil }

func (p *scripted) set(v *health.Verdict) { p.mu.Lock(); p.fail = v; p.mu.Unlock() }

func (p *scripted) Run(ctx context.Context, base time.Duration, sig *health.Signals) error {
	p.runs.Add(1)
	p.mu.Lock()
	v := p.fail
	p.bases = append(p.bases, base)
	p.mu.Unlock()
	if v != nil {
		c := *v
		return &c
	}
	sig.VideoFrames.Add(1)
	sig.LastTimestamp.Store((base + 500*time.Millisecond).Milliseconds())
	sig.MarkLive()
	<-ctx.Done()
	return nil
}

func okProbe(ctx context.Context) health.ProbeSummary {
	return health.ProbeSummary{OK: true, At: time.Now(), Depth: health.LayerConnect}
}

func verdict(l health.Layer, cause string) *health.Verdict {
	return &health.Verdict{Layer: l, Cause: cause, At: time.Now()}
}

func fastPolicy() Policy {
	return Policy{ProbeInterval: 20 * time.Millisecond, FailbackAfter: time.Hour, BackoffInitial: 10 * time.Millisecond,
		BackoffMax: 80 * time.Millisecond, SourceRetry: 40 * time.Millisecond, CircuitCooldown: time.Hour}
}

func runStream(t *testing.T, st *Stream) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = st.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func TestFailoverOnConnectRejection(t *testing.T) {
	native := &scripted{kind: "native", fail: verdict(health.LayerConnect, "connect_rejected")}
	ff := &scripted{kind: "ffmpeg"}
	st := &Stream{Name: "s", Enabled: true, Preferred: PathSpec{Path: native, Probe: okProbe},
		Fallback: PathSpec{Path: ff, Probe: okProbe}, Policy: fastPolicy()}
	runStream(t, st)
	testpeer.Eventually(t, 5*time.Second, "live on ffmpeg", func() bool {
		s := st.Status()
		return s.State == health.StateLive && s.ActivePath == "ffmpeg"
	})
	s := st.Status()
	require.True(t, s.Counters.Failovers == 1 && len(s.Failovers) == 1 && s.Failovers[0].Layer == health.LayerConnect,
		"failover not recorded as L2: %+v %+v", s.Counters, s.Failovers)
	require.True(t, s.LastVerdicts[0].Path == "native" && s.LastVerdicts[0].Layer == health.LayerConnect, "verdict %+v", s.LastVerdicts)
}

// Both paths failing at the source: each is tried once, then the stream
// waits for the source on the last one tried, without counting a failover.
func TestSourceDownTriesBothPathsEachRound(t *testing.T) {
	native := &scripted{kind: "native", fail: verdict(health.LayerSource, "source_unreachable")}
	ff := &scripted{kind: "ffmpeg", fail: verdict(health.LayerSource, "source_missing")}
	st := &Stream{Name: "s", Enabled: true, Preferred: PathSpec{Path: native}, Fallback: PathSpec{Path: ff}, Policy: fastPolicy()}
	runStream(t, st)
	testpeer.Eventually(t, 5*time.Second, "three source rounds", func() bool { return native.runs.Load() >= 3 && ff.runs.Load() >= 3 })
	s := st.Status()
	require.Contains(t, []health.State{health.StateWaitingForSource, health.StateFailingOver}, s.State, s.Reason)
	require.Zero(t, s.Counters.Failovers, "a source verdict is no failover")
	require.InDelta(t, native.runs.Load(), ff.runs.Load(), 1, "each round tries native, then ffmpeg")
	native.set(nil)
	testpeer.Eventually(t, 5*time.Second, "recovery on the preferred path when the source returns", func() bool {
		s := st.Status()
		return s.State == health.StateLive && s.ActivePath == "native"
	})
}

func TestBothPathsFailingDegradesAndBacksOff(t *testing.T) {
	native := &scripted{kind: "native", fail: verdict(health.LayerNetwork, "connection_refused")}
	ff := &scripted{kind: "ffmpeg", fail: verdict(health.LayerNetwork, "connection_refused")}
	var mu sync.Mutex
	var attempts []time.Time
	// The window is shortened from a minute to 400ms so the test sees several windows.
	lim := &HostLimiter{PerMinute: 6, Window: 400 * time.Millisecond, Now: func() time.Time {
		return time.Now()
	}}
	pol := fastPolicy()
	pol.BackoffInitial, pol.BackoffMax, pol.CircuitFailures = time.Millisecond, 20*time.Millisecond, 1000
	st := &Stream{Name: "s", Enabled: true, TargetHost: "h", Preferred: PathSpec{Path: native}, Fallback: PathSpec{Path: ff},
		Policy: pol, Limiter: lim}
	st.Logger = nil
	runStream(t, st)
	testpeer.Eventually(t, 5*time.Second, "20 attempts", func() bool {
		n := native.runs.Load() + ff.runs.Load()
		mu.Lock()
		for int64(len(attempts)) < n {
			attempts = append(attempts, time.Now())
		}
		mu.Unlock()
		return n >= 20
	})
	// Each failure first fails over to the other path (state failing_over),
	// and only a failure with no usable standby shows degraded: wait for it.
	testpeer.Eventually(t, 5*time.Second, "degraded", func() bool { return st.Status().State == health.StateDegraded })
	s := st.Status()
	require.LessOrEqual(t, lim.Recent("h"), 6, "attempts in one window, limit 6")
	elapsed := attempts[len(attempts)-1].Sub(attempts[0])
	require.GreaterOrEqual(t, elapsed, 2*lim.Window, "20 attempts in %v: the limiter did not hold them to 6 per %v", elapsed, lim.Window)
	for _, p := range s.Paths {
		require.True(t, p.LastVerdict != nil && p.Failures != 0 && p.Backoff > pol.BackoffInitial,
			"path %s not marked or backoff not grown: %+v", p.Kind, p)
	}
	native.set(nil)
	ff.set(nil)
	testpeer.Eventually(t, 5*time.Second, "automatic recovery", func() bool { return st.Status().State == health.StateLive })
}

func TestFailbackAfterProbesPass(t *testing.T) {
	native := &scripted{kind: "native", fail: verdict(health.LayerMedia, "reset_after_first_frame")}
	ff := &scripted{kind: "ffmpeg"}
	var nativeProbeOK atomic.Bool
	probe := func(ctx context.Context) health.ProbeSummary {
		return health.ProbeSummary{OK: nativeProbeOK.Load(), Verdict: verdict(health.LayerMedia, "x"), At: time.Now()}
	}
	pol := fastPolicy()
	pol.FailbackAfter = 100 * time.Millisecond
	st := &Stream{Name: "s", Enabled: true, Preferred: PathSpec{Path: native, Probe: probe}, Fallback: PathSpec{Path: ff, Probe: okProbe}, Policy: pol}
	runStream(t, st)
	testpeer.Eventually(t, 5*time.Second, "live on ffmpeg", func() bool { return st.Status().ActivePath == "ffmpeg" && st.Status().State == health.StateLive })
	native.set(nil)
	nativeProbeOK.Store(true)
	testpeer.Eventually(t, 5*time.Second, "failback to native", func() bool {
		s := st.Status()
		return s.ActivePath == "native" && s.State == health.StateLive && s.Counters.Failbacks == 1
	})
	native.mu.Lock()
	defer native.mu.Unlock()
	ff.mu.Lock()
	defer ff.mu.Unlock()
	last, ffBase := native.bases[len(native.bases)-1], ff.bases[0]
	require.Greater(t, last, ffBase+500*time.Millisecond, "failback base %v does not continue after ffmpeg's last timestamp (base %v + 500ms)", last, ffBase)
}

func TestDisabledStreamIsIdle(t *testing.T) {
	st := &Stream{Name: "off", Enabled: false, Preferred: PathSpec{Path: &scripted{kind: "native"}}}
	runStream(t, st)
	testpeer.Eventually(t, 2*time.Second, "idle", func() bool { return st.Status().State == health.StateIdle })
}

func TestManagerAppliesOnlyChanges(t *testing.T) {
	m := &Manager{}
	defer m.Close()
	spec := func(name, fp string) Spec {
		return Spec{Name: name, Fingerprint: fp, Build: func() *Stream {
			return &Stream{Name: name, Enabled: true, Preferred: PathSpec{Path: &scripted{kind: "native"}}, Policy: fastPolicy()}
		}}
	}
	ctx := context.Background()
	m.Apply(ctx, []Spec{spec("a", "1"), spec("b", "1")})
	testpeer.Eventually(t, 2*time.Second, "both live", func() bool {
		l := m.Streams()
		return len(l) == 2 && l[0].State == health.StateLive && l[1].State == health.StateLive
	})
	startA := m.Streams()[0].StartedAt
	ch := m.Apply(ctx, []Spec{spec("a", "1"), spec("b", "2"), spec("c", "1")})
	require.True(t, len(ch.Unchanged) == 1 && len(ch.Changed) == 1 && len(ch.Added) == 1, "changes %+v", ch)
	require.Equal(t, startA, m.Streams()[0].StartedAt, "an unchanged stream was restarted")
	ch = m.Apply(ctx, []Spec{spec("a", "1")})
	require.True(t, len(ch.Removed) == 2 && len(m.Streams()) == 1, "removal: %+v", ch)
}
