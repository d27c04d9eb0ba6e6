package supervisor

import (
	"context"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/pause"
)

// The tests of the loop's decisions run a Stream in simulated time: a
// fakeClock is the Stream's Clock (and the HostLimiter's Now), and the
// Stream runs in a synctest bubble, whose Wait tells when the loop and every
// goroutine it started (path runs, probes) are blocked, so that each timer
// fires only after the consequences of the one before are settled. Time
// moves only when the test advances the fake clock.

// t0 is the simulated time a sim starts at.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// fakeClock is a Clock whose time moves only by Advance.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer implements Clock.
func (c *fakeClock) NewTimer(d time.Duration) Timer { return c.add(&fakeTimer{}, d) }

// NewTicker implements Clock.
func (c *fakeClock) NewTicker(d time.Duration) Ticker {
	return fakeTicker{c.add(&fakeTimer{period: d}, d)}
}

func (c *fakeClock) add(t *fakeTimer, d time.Duration) *fakeTimer {
	t.c, t.ch = c, make(chan time.Time, 1)
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

// Advance moves the clock by d, firing each timer due on the way at its
// time, in order, and settling the bubble after each.
func (c *fakeClock) Advance(d time.Duration) {
	end := c.Now().Add(d)
	for {
		synctest.Wait()
		c.mu.Lock()
		next := c.due(end)
		if next == nil {
			c.now = end
			c.mu.Unlock()
			synctest.Wait()
			return
		}
		c.now = later(c.now, next.when)
		next.fire()
		c.mu.Unlock()
	}
}

// AdvanceTo advances the clock to t0+at.
func (c *fakeClock) AdvanceTo(at time.Duration) { c.Advance(t0.Add(at).Sub(c.Now())) }

// due is the active timer due first, by end (c.mu held).
func (c *fakeClock) due(end time.Time) *fakeTimer {
	var next *fakeTimer
	for _, t := range c.timers {
		if t.active && !t.when.After(end) && (next == nil || t.when.Before(next.when)) {
			next = t
		}
	}
	return next
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// fakeTimer is a timer (period 0) or a ticker of a fakeClock.
type fakeTimer struct {
	c      *fakeClock
	ch     chan time.Time
	period time.Duration
	when   time.Time
	active bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

// Reset implements Timer: a timer set to d <= 0 fires at once.
func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.drain()
	t.when, t.active = t.c.now.Add(d), true
	if d <= 0 && t.period == 0 {
		t.fire()
	}
	return was
}

// Stop implements Timer.
func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	t.drain()
	return was
}

func (t *fakeTimer) drain() {
	select {
	case <-t.ch:
	default:
	}
}

// fire sends the time (c.mu held); a ticker goes on, a timer stops.
func (t *fakeTimer) fire() {
	select {
	case t.ch <- t.c.now:
	default: // a tick not taken yet: dropped, as time.Ticker does
	}
	if t.period > 0 {
		t.when = t.when.Add(t.period)
	} else {
		t.active = false
	}
}

type fakeTicker struct{ *fakeTimer }

func (t fakeTicker) Stop() { t.fakeTimer.Stop() }

// outcome is what one run of a simPath does: fail with a verdict at once,
// or go live, and then (after liveFor, when set) end with end.
type outcome struct {
	fail    *health.Verdict
	liveFor time.Duration
	end     *health.Verdict
}

// live is the outcome of a run that goes live and publishes until stopped.
var live = outcome{}

func fails(l health.Layer, cause string) outcome { return outcome{fail: simVerdict(l, cause)} }

func liveThen(d time.Duration, l health.Layer, cause string) outcome {
	return outcome{liveFor: d, end: simVerdict(l, cause)}
}

func simVerdict(l health.Layer, cause string) *health.Verdict {
	return &health.Verdict{Layer: l, Cause: cause, SinceDial: health.NotReached,
		SincePublish: health.NotReached, SinceFirstFrame: health.NotReached}
}

// simPath is a Path (and its probe) that does what the test scripts, in
// simulated time. It stands in for the supervisor's collaborators, the
// paths, never for a protocol peer.
type simPath struct {
	kind string
	clk  *fakeClock

	mu     sync.Mutex
	script []outcome // the next runs, in order; then dflt
	dflt   outcome
	starts []time.Time
	probe  func(at time.Duration) *health.Verdict // the probe's failure at t0+at; nil: it passes
	depth  health.Layer                           // the layer a passing probe reaches
	probes int
	end    chan *health.Verdict // ends the live session (buffered)
}

func (p *simPath) Kind() string                { return p.kind }
func (p *simPath) Check(context.Context) error { return nil }

// Run implements Path.
func (p *simPath) Run(ctx context.Context, _ time.Duration, sig *health.Signals) error {
	o := p.next()
	if o.fail != nil {
		v := *o.fail
		return &v
	}
	sig.VideoFrames.Add(1)
	sig.MarkLive()
	var after <-chan time.Time
	if o.liveFor > 0 {
		t := p.clk.NewTimer(o.liveFor)
		defer t.Stop()
		after = t.C()
	}
	select {
	case <-ctx.Done():
		return nil
	case v := <-p.end:
		return v
	case <-after:
		v := *o.end
		return &v
	}
}

func (p *simPath) next() outcome {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starts = append(p.starts, p.clk.Now())
	if len(p.script) == 0 {
		return p.dflt
	}
	o := p.script[0]
	p.script = p.script[1:]
	return o
}

// Probe is the path's ProbeFunc.
func (p *simPath) Probe(context.Context) health.ProbeSummary {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.probes++
	now := p.clk.Now()
	if p.probe != nil {
		if v := p.probe(now.Sub(t0)); v != nil {
			return health.ProbeSummary{OK: false, Verdict: v, At: now}
		}
	}
	return health.ProbeSummary{OK: true, At: now, Depth: p.depth}
}

// setProbe makes the probes fail with v (nil: pass).
func (p *simPath) setProbe(v *health.Verdict) {
	p.mu.Lock()
	p.probe = func(time.Duration) *health.Verdict { return v }
	p.mu.Unlock()
}

// setScript replaces the runs to come.
func (p *simPath) setScript(dflt outcome, script ...outcome) {
	p.mu.Lock()
	p.script, p.dflt = script, dflt
	p.mu.Unlock()
}

// startOffsets is when each run started, from t0.
func (p *simPath) startOffsets() []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Duration
	for _, s := range p.starts {
		out = append(out, s.Sub(t0))
	}
	return out
}

// sim is one Stream in simulated time: native preferred, ffmpeg the
// fallback unless single.
type sim struct {
	t          *testing.T
	clk        *fakeClock
	native, ff *simPath
	lim        *HostLimiter
	st         *Stream
	stop       func()
}

// simPolicy is the policy the sims start from.
func simPolicy() Policy {
	return Policy{ProbeInterval: 10 * time.Second, FailbackAfter: 30 * time.Second,
		BackoffInitial: time.Second, BackoffMax: 8 * time.Second, SourceRetry: 4 * time.Second,
		StableAfter: 10 * time.Second, CircuitFailures: 3, CircuitWindow: 5 * time.Minute,
		CircuitCooldown: 30 * time.Second, DeliveryTick: time.Second}
}

// newSim builds the sim; the test scripts its paths, then calls start.
// Call it inside synctest.Test.
func newSim(t *testing.T, pol Policy, single bool) *sim {
	clk := &fakeClock{now: t0}
	s := &sim{t: t, clk: clk, native: newSimPath("native", clk), ff: newSimPath("ffmpeg", clk),
		lim: &HostLimiter{Now: clk.Now}}
	s.st = &Stream{Name: "s", Enabled: true, TargetHost: "target:1935", AttemptsPerMinute: 60,
		Preferred: PathSpec{Path: s.native, Probe: s.native.Probe}, Policy: pol, Limiter: s.lim,
		Clock: clk, jitter: func() float64 { return 0.5 }, // no spread: exact times
		// Pauses are told on the real clock: this watch sees none.
		Pauses: &pause.Watch{Slack: math.MaxInt64 / 2, Manual: true}}
	if !single {
		s.st.Fallback = PathSpec{Path: s.ff, Probe: s.ff.Probe}
	}
	return s
}

func newSimPath(kind string, clk *fakeClock) *simPath {
	return &simPath{kind: kind, clk: clk, dflt: live, end: make(chan *health.Verdict, 1)}
}

// start runs the stream and settles; the stream stops when the test ends.
func (s *sim) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.st.Run(ctx) }()
	s.stop = func() { cancel(); <-done }
	s.t.Cleanup(s.stop)
	synctest.Wait()
}

// endSession ends the live session of p with a verdict and settles.
func (s *sim) endSession(p *simPath, l health.Layer, cause string) {
	p.end <- simVerdict(l, cause)
	synctest.Wait()
}

func (s *sim) status() health.StreamStatus { return s.st.Status() }

func (s *sim) path(kind string) health.PathStatus {
	for _, p := range s.status().Paths {
		if p.Kind == kind {
			return p
		}
	}
	require.Failf(s.t, "no path", "no path %s", kind)
	return health.PathStatus{}
}

// requireLiveOn asserts the stream is live on kind.
func (s *sim) requireLiveOn(kind string) {
	s.t.Helper()
	st := s.status()
	require.Equal(s.t, health.StateLive, st.State, st.Reason)
	require.Equal(s.t, kind, st.ActivePath, st.Reason)
}

// offsets turns seconds into durations from t0.
func offsets(secs ...float64) []time.Duration {
	out := make([]time.Duration, len(secs))
	for i, s := range secs {
		out[i] = time.Duration(s * float64(time.Second))
	}
	return out
}

// runSim runs f as a subtest in a synctest bubble.
func runSim(t *testing.T, name string, f func(t *testing.T)) {
	t.Run(name, func(t *testing.T) { synctest.Test(t, f) })
}
