package supervisor

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/httpapi"
)

// ctlPath is a Path driven by a script per run (numbered from 1); it keeps
// the start time of every run and the signals of the last one.
type ctlPath struct {
	kind   string
	script func(ctx context.Context, run int64, sig *health.Signals) error
	runs   atomic.Int64
	sig    atomic.Pointer[health.Signals]
	mu     sync.Mutex
	starts []time.Time
}

func (p *ctlPath) Kind() string                { return p.kind }
func (p *ctlPath) Check(context.Context) error { return nil }
func (p *ctlPath) startTimes() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.starts...)
}
func (p *ctlPath) lastSignals() *health.Signals { return p.sig.Load() }
func (p *ctlPath) Run(ctx context.Context, _ time.Duration, sig *health.Signals) error {
	n := p.runs.Add(1)
	p.mu.Lock()
	p.starts = append(p.starts, time.Now())
	p.mu.Unlock()
	p.sig.Store(sig)
	return p.script(ctx, n, sig)
}

// goLive publishes until ctx ends or end is closed, then returns v (nil: clean stop).
func goLive(ctx context.Context, sig *health.Signals, end <-chan struct{}, v *health.Verdict) error {
	sig.VideoFrames.Add(1)
	sig.MarkLive()
	select {
	case <-ctx.Done():
		return nil
	case <-end:
		c := *v
		return &c
	}
}

func badName() *health.Verdict {
	v := health.NewVerdict(health.LayerPublish, "publish_bad_name", "the server refused the publish")
	v.ServerWords = "NetStream.Publish.BadName: KEY is already publishing"
	return v
}

func lockPolicy() Policy {
	pol := fastPolicy()
	pol.CircuitFailures = 1 // one counted failure would open the circuit
	pol.NameLockRetry = 50 * time.Millisecond
	pol.NameLockWindow = 10 * time.Second
	pol.DeliveryTick = 10 * time.Millisecond
	return pol
}

func pathStatus(t *testing.T, s health.StreamStatus, kind string) health.PathStatus {
	t.Helper()
	for _, p := range s.Paths {
		if p.Kind == kind {
			return p
		}
	}
	require.Failf(t, "no path", "no path %s in %+v", kind, s.Paths)
	return health.PathStatus{}
}

func TestNameLockAfterLiveSessionRetriesOutsideTheCircuit(t *testing.T) {
	end := make(chan struct{})
	native := &ctlPath{kind: "native", script: func(ctx context.Context, n int64, sig *health.Signals) error {
		return goLive(ctx, sig, end, health.NewVerdict(health.LayerMedia, "reset_after_first_frame", "reset"))
	}}
	var locked atomic.Bool
	locked.Store(true)
	ff := &ctlPath{kind: "ffmpeg", script: func(ctx context.Context, n int64, sig *health.Signals) error {
		if locked.Load() {
			return badName()
		}
		return goLive(ctx, sig, nil, nil)
	}}
	// Two attempts a minute: the name-lock retries must not wait for it.
	lim := &HostLimiter{}
	st := &Stream{Name: "s", Enabled: true, TargetHost: "h", AttemptsPerMinute: 2, Limiter: lim,
		Preferred: PathSpec{Path: native}, Fallback: PathSpec{Path: ff}, Policy: lockPolicy()}
	runStream(t, st)
	require.Eventually(t, func() bool { return st.Status().State == health.StateLive }, 5*time.Second, 5*time.Millisecond)
	close(end) // native fails at L5 after being live: failover to ffmpeg, whose publish finds the name held

	require.Eventually(t, func() bool { return ff.runs.Load() >= 5 }, 5*time.Second, 5*time.Millisecond, "name-lock retries")
	s := st.Status()
	require.Equal(t, health.StateNameLocked, s.State, s.Reason)
	require.False(t, s.State.Healthy())
	require.Contains(t, s.Reason, "the server still holds the stream name for a previous session; retrying every 50 ms (since ")
	require.GreaterOrEqual(t, s.Counters.NameLockRetries, int64(4))
	require.EqualValues(t, 1, s.Counters.Failovers, "only the L5 failure is a failover")
	last := s.LastVerdicts[len(s.LastVerdicts)-1]
	require.Equal(t, health.CauseNameLocked, last.Cause)
	require.Equal(t, health.LayerPublish, last.Layer)
	require.Equal(t, "NetStream.Publish.BadName: KEY is already publishing", last.ServerWords)
	fp := pathStatus(t, s, "ffmpeg")
	require.Equal(t, CircuitClosed, fp.Circuit, "name_locked must not count against the circuit")
	require.Zero(t, fp.Failures)
	require.Equal(t, fastPolicy().BackoffInitial, fp.Backoff, "name_locked must not grow the backoff")
	require.Equal(t, CircuitOpen, pathStatus(t, s, "native").Circuit, "the L5 failure counted")

	// The first retry after a fifth of NameLockRetry (the old session may be
	// gone already), doubling up to NameLockRetry.
	starts := ff.startTimes()
	for i := 1; i < len(starts); i++ {
		gap := starts[i].Sub(starts[i-1])
		floor := min(10*time.Millisecond<<(i-1), 50*time.Millisecond) * 8 / 10
		require.GreaterOrEqual(t, gap, floor, "retry %d came after %v", i, gap)
		require.Less(t, gap, time.Second, "retry %d came after %v", i, gap)
	}
	require.GreaterOrEqual(t, lim.Recent("h"), 5, "name-lock retries pass through the limiter")

	locked.Store(false)
	require.Eventually(t, func() bool {
		s := st.Status()
		return s.State == health.StateLive && s.ActivePath == "ffmpeg"
	}, 5*time.Second, 5*time.Millisecond)
	require.EqualValues(t, 1, st.Status().Counters.Failovers)
}

func TestNameLockBecomesNormalL3FailureAfterWindow(t *testing.T) {
	end := make(chan struct{})
	native := &ctlPath{kind: "native", script: func(ctx context.Context, n int64, sig *health.Signals) error {
		return goLive(ctx, sig, end, health.NewVerdict(health.LayerUpkeep, health.CauseStalled, "the server took nothing for 3 s"))
	}}
	ff := &ctlPath{kind: "ffmpeg", script: func(ctx context.Context, n int64, sig *health.Signals) error { return badName() }}
	pol := lockPolicy()
	pol.NameLockWindow = 300 * time.Millisecond
	st := &Stream{Name: "s", Enabled: true, Preferred: PathSpec{Path: native}, Fallback: PathSpec{Path: ff}, Policy: pol}
	runStream(t, st)
	require.Eventually(t, func() bool { return st.Status().State == health.StateLive }, 5*time.Second, 5*time.Millisecond)
	close(end)

	require.Eventually(t, func() bool { return pathStatus(t, st.Status(), "ffmpeg").Failures == 1 }, 5*time.Second, 5*time.Millisecond)
	s := st.Status()
	require.Equal(t, health.StateDegraded, s.State, s.Reason)
	fp := pathStatus(t, s, "ffmpeg")
	require.Equal(t, CircuitOpen, fp.Circuit, "past the window BadName counts")
	require.Equal(t, "publish_bad_name", fp.LastVerdict.Cause)
	// Bounded by the window: 9, 18, 36, then 45 ms (retries less jitter) fit
	// at most 8 times in 300 ms.
	require.GreaterOrEqual(t, s.Counters.NameLockRetries, int64(2))
	require.LessOrEqual(t, s.Counters.NameLockRetries, int64(8))
	require.EqualValues(t, s.Counters.NameLockRetries+1, ff.runs.Load())
}

func TestBadNameWithoutRecentSessionIsARejection(t *testing.T) {
	native := &ctlPath{kind: "native", script: func(ctx context.Context, n int64, sig *health.Signals) error { return badName() }}
	ff := &ctlPath{kind: "ffmpeg", script: func(ctx context.Context, n int64, sig *health.Signals) error { return goLive(ctx, sig, nil, nil) }}
	st := &Stream{Name: "s", Enabled: true, Preferred: PathSpec{Path: native}, Fallback: PathSpec{Path: ff}, Policy: lockPolicy()}
	runStream(t, st)
	require.Eventually(t, func() bool {
		s := st.Status()
		return s.State == health.StateLive && s.ActivePath == "ffmpeg"
	}, 5*time.Second, 5*time.Millisecond)
	s := st.Status()
	require.EqualValues(t, 1, s.Counters.Failovers)
	require.Zero(t, s.Counters.NameLockRetries)
	require.Equal(t, "publish_bad_name", s.LastVerdicts[0].Cause)
	np := pathStatus(t, s, "native")
	require.EqualValues(t, 1, np.Failures)
	require.Equal(t, CircuitOpen, np.Circuit)
}

func TestNameLockedAtStartIsRetried(t *testing.T) {
	// A session of the stream's previous run (before a reload or restart)
	// may hold the name: an explicit name_locked refusal is retried from the
	// loop's start.
	native := &ctlPath{kind: "native", script: func(ctx context.Context, n int64, sig *health.Signals) error {
		if n <= 2 {
			return health.NewVerdict(health.LayerPublish, health.CauseNameLocked, "already publishing")
		}
		return goLive(ctx, sig, nil, nil)
	}}
	st := &Stream{Name: "s", Enabled: true, Preferred: PathSpec{Path: native}, Policy: lockPolicy()}
	runStream(t, st)
	require.Eventually(t, func() bool { return st.Status().State == health.StateLive }, 5*time.Second, 5*time.Millisecond)
	s := st.Status()
	require.EqualValues(t, 2, s.Counters.NameLockRetries)
	require.Zero(t, s.Paths[0].Failures)
	require.Equal(t, CircuitClosed, s.Paths[0].Circuit)
}

func TestNameLockAfterFailbackRetriesThePreferredPath(t *testing.T) {
	var nativeLocked atomic.Bool
	native := &ctlPath{kind: "native", script: func(ctx context.Context, n int64, sig *health.Signals) error {
		if n == 1 {
			return health.NewVerdict(health.LayerMedia, "reset_after_first_frame", "reset")
		}
		if nativeLocked.Load() {
			return badName()
		}
		return goLive(ctx, sig, nil, nil)
	}}
	ff := &ctlPath{kind: "ffmpeg", script: func(ctx context.Context, n int64, sig *health.Signals) error { return goLive(ctx, sig, nil, nil) }}
	pol := lockPolicy()
	pol.CircuitFailures = 3
	pol.FailbackAfter = 50 * time.Millisecond
	nativeLocked.Store(true)
	st := &Stream{Name: "s", Enabled: true, Preferred: PathSpec{Path: native, Probe: okProbe}, Fallback: PathSpec{Path: ff, Probe: okProbe}, Policy: pol}
	runStream(t, st)
	// native fails, ffmpeg goes live, then the failback stops ffmpeg cleanly
	// and native's publish finds the name still held by ffmpeg's session.
	require.Eventually(t, func() bool { return native.runs.Load() >= 4 }, 5*time.Second, 5*time.Millisecond)
	s := st.Status()
	require.Equal(t, health.StateNameLocked, s.State, s.Reason)
	require.EqualValues(t, 1, ff.runs.Load(), "the retries stay on the preferred path")
	require.EqualValues(t, 1, s.Counters.Failbacks)
	require.EqualValues(t, 1, pathStatus(t, s, "native").Failures, "only the L5 failure counted")
	nativeLocked.Store(false)
	require.Eventually(t, func() bool {
		s := st.Status()
		return s.State == health.StateLive && s.ActivePath == "native"
	}, 5*time.Second, 5*time.Millisecond)
	require.EqualValues(t, 1, st.Status().Counters.Failovers)
}

// statusSource serves one stream's status to httpapi.API.
type statusSource struct{ st *Stream }

func (s statusSource) Snapshot() health.ServiceStatus {
	return health.ServiceStatus{Streams: []health.StreamStatus{s.st.Status()}}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestCongestedIsAWarningNotAFailure(t *testing.T) {
	native := &ctlPath{kind: "native", script: func(ctx context.Context, n int64, sig *health.Signals) error { return goLive(ctx, sig, nil, nil) }}
	ff := &ctlPath{kind: "ffmpeg", script: func(ctx context.Context, n int64, sig *health.Signals) error { return goLive(ctx, sig, nil, nil) }}
	st := &Stream{Name: "s", Enabled: true, MaxDelay: 2 * time.Second, Preferred: PathSpec{Path: native},
		Fallback: PathSpec{Path: ff}, Policy: lockPolicy()}
	runStream(t, st)
	h := (&httpapi.API{Source: statusSource{st}}).Handler()
	require.Eventually(t, func() bool { return st.Status().State == health.StateLive }, 5*time.Second, 5*time.Millisecond)

	sig := native.lastSignals()
	sig.ThroughputBps.Store(2_400_000)
	sig.NeededBps.Store(4_000_000)
	sig.LagMillis.Store(1500)
	sig.DroppedFrames.Store(7)
	sig.BytesAcked.Store(123456)
	sig.UnackedFor.Store(250)
	sig.SetCongested(true)
	require.Eventually(t, func() bool { return st.Status().State == health.StateCongested }, 5*time.Second, 5*time.Millisecond)
	s := st.Status()
	require.True(t, s.State.Healthy())
	require.Equal(t, "uplink takes 2.4 Mbit/s of the 4.0 Mbit/s the stream needs; dropping frames to keep the delay under 2 s", s.Reason)
	require.Equal(t, &health.Delivery{LagMillis: 1500, BytesAcked: 123456, DroppedFrames: 7, ThroughputBps: 2_400_000,
		NeededBps: 4_000_000, UnackedMillis: 250, Congested: true}, s.Delivery)
	require.EqualValues(t, 7, s.Counters.DroppedFrames)
	require.EqualValues(t, 123456, s.Counters.BytesAcked)
	require.EqualValues(t, 7, pathStatus(t, s, "native").DroppedFrames)

	code, body := get(t, h, "/healthz")
	require.Equal(t, http.StatusOK, code, body)
	var rep httpapi.HealthReport
	require.NoError(t, json.Unmarshal([]byte(body), &rep))
	require.True(t, rep.Healthy)
	require.Len(t, rep.Warnings, 1)
	require.Equal(t, health.StateCongested, rep.Warnings[0].State)

	code, body = get(t, h, "/v1/streams/s")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"delivery": {`)
	require.Contains(t, body, `"lag_ms": 1500`)
	require.Contains(t, body, `"congested": true`)
	_, metrics := get(t, h, "/metrics")
	for _, line := range []string{
		`fmspush_delivery_lag_seconds{path="native",stream="s",target=""} 1.5`,
		`fmspush_throughput_bits_per_second{path="native",stream="s",target=""} 2.4e+06`,
		`fmspush_needed_bits_per_second{path="native",stream="s",target=""} 4e+06`,
		`fmspush_bytes_acked_total{stream="s",target=""} 123456`,
		`fmspush_dropped_frames_total{stream="s",target=""} 7`,
		`fmspush_name_lock_retries_total{stream="s",target=""} 0`,
		`fmspush_stream_up{stream="s",target=""} 1`,
	} {
		require.Contains(t, metrics, line)
	}

	sig.SetCongested(false)
	require.Eventually(t, func() bool { return st.Status().State == health.StateLive }, 5*time.Second, 5*time.Millisecond)
	s = st.Status()
	require.Zero(t, s.Counters.Failovers)
	require.Zero(t, s.Counters.Reconnects)
	require.Zero(t, ff.runs.Load())
	require.Equal(t, CircuitClosed, s.Paths[0].Circuit)
	_, body = get(t, h, "/healthz")
	require.NotContains(t, body, "warnings")
}

func TestStallIsUnhealthyAtOnce(t *testing.T) {
	end := make(chan struct{})
	native := &ctlPath{kind: "native", script: func(ctx context.Context, n int64, sig *health.Signals) error {
		return goLive(ctx, sig, end, health.NewVerdict(health.LayerUpkeep, health.CauseStalled, "the server took nothing for 3 s"))
	}}
	// ffmpeg connects but never goes live: the stream stays failing over.
	ff := &ctlPath{kind: "ffmpeg", script: func(ctx context.Context, n int64, sig *health.Signals) error { <-ctx.Done(); return nil }}
	st := &Stream{Name: "s", Enabled: true, Preferred: PathSpec{Path: native}, Fallback: PathSpec{Path: ff}, Policy: lockPolicy()}
	runStream(t, st)
	h := (&httpapi.API{Source: statusSource{st}}).Handler()
	require.Eventually(t, func() bool { return st.Status().State == health.StateLive }, 5*time.Second, 5*time.Millisecond)
	code, _ := get(t, h, "/healthz")
	require.Equal(t, http.StatusOK, code)
	close(end)
	require.Eventually(t, func() bool { return ff.runs.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	s := st.Status()
	require.Equal(t, health.StateFailingOver, s.State, s.Reason)
	require.Contains(t, s.Reason, "stalled")
	require.Len(t, s.Failovers, 1)
	require.Equal(t, health.LayerUpkeep, s.Failovers[0].Layer)
	code, body := get(t, h, "/healthz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.True(t, strings.Contains(body, `"state": "failing_over"`), body)
}
