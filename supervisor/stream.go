package supervisor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/pause"
)

// ProbeFunc probes the target the way one path would connect to it, up to
// the configured depth, and never publishes on a live key.
type ProbeFunc func(ctx context.Context) health.ProbeSummary

// Policy is a stream's failover policy.
type Policy struct {
	// The settings a config file has take config's defaults when zero
	// (config.DefaultProbeInterval, ...: one declaration of each).
	ProbeInterval   time.Duration // standby probe period
	FailbackAfter   time.Duration // preferred path's probes must pass this long
	BackoffInitial  time.Duration
	BackoffMax      time.Duration
	SourceRetry     time.Duration // longest wait between attempts while the source is away (default 10s)
	StableAfter     time.Duration // a session live this long resets its path's backoff (default 10s)
	CircuitFailures int
	CircuitWindow   time.Duration
	CircuitCooldown time.Duration
	// NameLockWindow is how long after a live session of the stream ended
	// a publish refused for the name (name_locked, or BadName) is taken for
	// the server still holding that session: retried every NameLockRetry,
	// without counting against the path (default 30s).
	NameLockWindow time.Duration
	NameLockRetry  time.Duration // default 1s (±10% jitter); the first retry comes after a fifth of it, doubling
	// DeliveryTick is how often the loop reads the active session's delivery
	// signals (congestion) (default 500ms).
	DeliveryTick time.Duration
}

func (p Policy) withDefaults() Policy {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.ProbeInterval, config.DefaultProbeInterval)
	def(&p.FailbackAfter, config.DefaultFailbackAfter)
	def(&p.BackoffInitial, config.DefaultBackoffInitial)
	def(&p.BackoffMax, config.DefaultBackoffMax)
	def(&p.SourceRetry, 10*time.Second)
	def(&p.StableAfter, 10*time.Second)
	def(&p.CircuitWindow, config.DefaultCircuitWindow)
	def(&p.CircuitCooldown, config.DefaultCircuitCooldown)
	def(&p.NameLockWindow, 30*time.Second)
	def(&p.NameLockRetry, time.Second)
	def(&p.DeliveryTick, 500*time.Millisecond)
	if p.CircuitFailures <= 0 {
		p.CircuitFailures = config.DefaultCircuitFailures
	}
	return p
}

// PathSpec is one path of a stream with the probe that tells whether the
// target would accept it.
type PathSpec struct {
	Path  Path
	Probe ProbeFunc // nil: only the driver check is used
	// SourceHost is the host the path connects to for the source on each
	// run (the ffmpeg path reads the source itself): every start of the
	// path passes the per-host limiter for it as for the target. Empty for
	// a path that does not (the native path's ingest limits its own
	// reconnects) or a source without a host (a file).
	SourceHost string
}

// Stream is one stream's supervisor: a run loop owning the state machine,
// the active and standby paths, their backoff, circuits and probes.
type Stream struct {
	Name string
	// TargetName names the target of a stream with several ("" for the
	// single-target form); shown in status.
	TargetName string
	Enabled    bool
	// Source and Target are shown in status; they must already be redacted.
	Source, Target string
	// TargetHost keys the shared rate limiter; AttemptsPerMinute is this
	// stream's limit there (0: the limiter's default).
	TargetHost        string
	AttemptsPerMinute int
	// MaxDelay is the delay bound the path keeps by dropping frames
	// (native.max_delay); only shown in the congested state's reason.
	MaxDelay  time.Duration
	Preferred PathSpec
	Fallback  PathSpec // may have a nil Path: then there is no failover
	// Backup is the target's cold backup ingest (nil: none); the paths
	// read it at each connection.
	Backup  *Backup
	Policy  Policy
	Limiter *HostLimiter
	Logger  hclog.Logger
	// Pauses tells the process's own pauses (SIGSTOP, a frozen VM) from the
	// target's silence; after one the loop restarts its own clocks (default
	// pause.Default).
	Pauses *pause.Watch
	// Clock is the time the loop decides by (default SystemClock).
	Clock Clock
	// Resume is the target's timeline to continue (the zero Timeline:
	// start at 0): what another publisher of this target (another fleet
	// node) sent last, and when. The first session starts past it by the
	// time since, as after a failover, so the target's timestamps never
	// step back across publishers.
	Resume Timeline

	// jitter is the backoffs' random source (nil: math/rand/v2); a test
	// fixes it to schedule exact times.
	jitter func() float64

	// status is the loop's last snapshot with the signals of the session
	// running then: one pointer, so that a finished session's counters move
	// into the totals in the same step as its live values leave.
	status atomic.Pointer[snapshot]
	// ctl is the running loop's command channel (nil: not running).
	ctl atomic.Pointer[chan request]
}

// slot is the run loop's record of one path.
type slot struct {
	spec         PathSpec
	backoff      Backoff
	breaker      Breaker
	ready        bool
	checked      bool
	checkErr     string
	lastProbe    *health.ProbeSummary
	probeOKSince time.Time
	probing      bool
	lastVerdict  *health.Verdict
	failures     int64
	dropped      int64 // video frames dropped over the path's finished sessions
	nextAttempt  time.Time
	// srcFailed: the path failed at the source since the stream was last
	// live; srcCold: that run failed before it went live (it could not
	// read the source at all).
	srcFailed, srcCold bool
	// srcTried: the path was tried for the source in this round of the
	// outage (each round tries the preferred path, then the other once).
	srcTried bool
	// unreadable: the path could not read the source that the other path
	// then read at once; no failback to it until it is live again.
	unreadable bool
}

func (sl *slot) kind() string { return sl.spec.Path.Kind() }

// usable reports whether the slot may be tried now as a failover target.
func (sl *slot) usable(now time.Time) bool { return sl.usableBy(now, now) }

type runResult struct {
	slot *slot
	err  error
	sig  *health.Signals
}

type probeResult struct {
	slot     *slot
	started  time.Time
	checkErr error
	summary  *health.ProbeSummary
	// ingestCheck: the probe asked whether the primary ingest still
	// answers, after a session on it was lost (checkIngest).
	ingestCheck bool
}

// loop is the state owned by Run's goroutine.
type loop struct {
	s        *Stream
	pol      Policy
	log      hclog.Logger
	clk      Clock
	slots    []*slot // [0] preferred, [1] fallback when present
	state    health.State
	reason   string
	started  time.Time
	active   *slot // the slot running now (nil between attempts)
	since    time.Time
	pending  *slot // the slot the attempt timer will start
	switchTo *slot // a failback in progress
	cancel   context.CancelFunc
	sig      *health.Signals
	live     bool
	counters health.Counters
	fails    map[[3]string]int64
	verdicts []health.Verdict
	// kinds counts the verdicts by path, layer and cause (verdictKind, maxVerdictKinds).
	kinds    map[verdictKind]int64
	liveFrom time.Time // when the running session went live
	lastTS   time.Duration
	lastEnd  time.Time
	// liveEnd is when the last session that had been live ended.
	liveEnd time.Time
	// lockSince is when the current name-lock episode began (zero: none);
	// lockRetry marks the pending attempt as a name-lock retry.
	lockSince time.Time
	lockRetry bool
	lockWait  Backoff
	srcWait   Backoff
	// ingestSince is when the stream last moved between its primary and
	// backup ingest; primaryOKSince when the standby's probes of the
	// primary began to pass while on the backup; ingestBack marks a
	// switchTo that returns to the primary ingest.
	ingestSince, primaryOKSince time.Time
	ingestBack                  bool
	// held is a failure whose handling waits for the check of the primary
	// ingest (checkIngest).
	held *runResult
	ctx  context.Context // Run's: what the loop's own probes run under
	// paused: an operator paused the stream; manual: the switchTo in
	// progress is an operator's.
	paused, manual bool
	// pin is the non-preferred path an operator switched to: no failback
	// while it is the active one (until the operator switches back, or it
	// fails and the loop fails over as usual).
	pin     *slot
	runDone chan runResult
	probes  chan probeResult
	pauses  *pause.Tracker
	wg      sync.WaitGroup
}

// Run runs the stream until ctx is cancelled. It returns after the active
// path stopped cleanly and every probe finished.
func (s *Stream) Run(ctx context.Context) error {
	l := s.newLoop()
	defer l.wg.Wait()
	if !s.Enabled {
		l.setState(health.StateIdle, "disabled in the config")
		<-ctx.Done()
		l.setState(health.StateStopped, "stopped")
		return nil
	}
	return l.run(ctx)
}

func (s *Stream) newLoop() *loop {
	pol := s.Policy.withDefaults()
	log := s.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	clk := s.Clock
	if clk == nil {
		clk = SystemClock
	}
	l := &loop{s: s, pol: pol, log: log, clk: clk, started: clk.Now(), fails: map[[3]string]int64{},
		kinds:   map[verdictKind]int64{},
		runDone: make(chan runResult, 1), probes: make(chan probeResult, 4),
		srcWait:  Backoff{Initial: pol.BackoffInitial, Max: pol.SourceRetry, Jitter: 0.1, Rand: s.jitter},
		lockWait: Backoff{Initial: pol.NameLockRetry / 5, Max: pol.NameLockRetry, Jitter: 0.1, Rand: s.jitter}}
	for _, spec := range []PathSpec{s.Preferred, s.Fallback} {
		if spec.Path == nil {
			continue
		}
		l.slots = append(l.slots, &slot{spec: spec,
			backoff: Backoff{Initial: pol.BackoffInitial, Max: pol.BackoffMax, Jitter: 0.2, Rand: s.jitter},
			breaker: Breaker{Failures: pol.CircuitFailures, Window: pol.CircuitWindow, Cooldown: pol.CircuitCooldown}})
	}
	if !s.Resume.At.IsZero() {
		l.lastTS, l.lastEnd = s.Resume.LastTS, s.Resume.At
	}
	l.state, l.reason = health.StateStarting, "starting"
	l.publish()
	return l
}

func (l *loop) run(ctx context.Context) error {
	if len(l.slots) == 0 {
		l.setState(health.StateDegraded, "no path is configured")
		<-ctx.Done()
		l.setState(health.StateStopped, "stopped")
		return nil
	}
	if l.s.Pauses == nil {
		l.s.Pauses = pause.Default
	}
	defer l.s.Pauses.Acquire()()
	l.pauses = pause.NewTracker(l.s.Pauses, l.clk.Now())
	l.ctx = ctx
	probeTick := l.clk.NewTicker(l.pol.ProbeInterval)
	defer probeTick.Stop()
	attempt := l.clk.NewTimer(0)
	defer attempt.Stop()
	stable := l.clk.NewTimer(time.Hour)
	stable.Stop()
	deliveryTick := l.clk.NewTicker(l.pol.DeliveryTick)
	defer deliveryTick.Stop()
	l.pending = l.slots[0]
	l.warm(ctx)
	l.launchProbes(ctx)
	ctl := make(chan request)
	l.s.ctl.Store(&ctl)
	defer l.s.ctl.Store(nil)
	for {
		var liveCh <-chan struct{}
		if l.sig != nil && !l.live {
			liveCh = l.sig.Live()
		}
		select {
		case <-ctx.Done():
			l.shutdown()
			return nil
		case <-attempt.C():
			l.tryStart(ctx, attempt)
		case req := <-ctl:
			l.onCommand(ctx, req, attempt)
		case <-liveCh:
			l.onLive(stable)
		case <-stable.C():
			if l.active != nil && l.live {
				l.active.backoff.Reset()
			}
		case r := <-l.runDone:
			l.onRunDone(r, attempt)
		case <-probeTick.C():
			l.launchProbes(ctx)
		case p := <-l.probes:
			if p.ingestCheck {
				l.onIngestCheck(p, attempt)
			} else {
				l.onProbe(p, attempt)
			}
		case <-deliveryTick.C():
			l.checkPause(l.clk.Now())
			l.refreshDelivery()
		}
		l.publish()
	}
}

// tryStart starts the pending slot if the host limiter allows; otherwise it
// re-arms the timer for when it will.
func (l *loop) tryStart(ctx context.Context, attempt Timer) {
	if l.active != nil || l.pending == nil || l.paused {
		return
	}
	if wait := l.pending.nextAttempt.Sub(l.clk.Now()); wait > 0 {
		attempt.Reset(wait)
		return
	}
	if l.s.Limiter != nil && (l.counters.Attempts == 0 || l.lockRetry) {
		// A first attempt is no reconnect; a name-lock retry is bounded by
		// NameLockWindow instead of the per-stream limit. Both count in the
		// host's shared history.
		l.s.Limiter.Take(l.s.TargetHost)
		if src := l.pending.spec.SourceHost; src != "" && src != l.s.TargetHost {
			l.s.Limiter.Take(src)
		}
	} else if l.s.Limiter != nil {
		if ok, wait := l.s.Limiter.TryTakeAll(l.s.AttemptsPerMinute, l.s.TargetHost, l.pending.spec.SourceHost); !ok {
			l.setState(l.state, fmt.Sprintf("waiting %s for the per-host connection limit before starting %s",
				humanDuration(wait), l.pending.kind()))
			attempt.Reset(wait)
			return
		}
	}
	l.start(ctx, l.pending)
}

func (l *loop) start(ctx context.Context, sl *slot) {
	runCtx, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	l.active, l.pending, l.live, l.lockRetry = sl, nil, false, false
	l.since = l.clk.Now()
	l.sig = health.NewSignals()
	if l.counters.Attempts > 0 {
		l.counters.Reconnects++
	}
	l.counters.Attempts++
	base := l.nextBase()
	sig := l.sig
	l.log.Info("starting path", "path", sl.kind(), "base_ms", base.Milliseconds())
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		err := sl.spec.Path.Run(runCtx, base, sig)
		l.runDone <- runResult{slot: sl, err: err, sig: sig}
	}()
}

// nextBase continues the target's timeline: the last timestamp sent plus the
// time the stream was away (at least one frame), so that timestamps never go
// backwards or jump by more than the outage.
func (l *loop) nextBase() time.Duration {
	if l.lastEnd.IsZero() {
		return 0
	}
	gap := max(l.clk.Now().Sub(l.lastEnd), 40*time.Millisecond)
	return l.lastTS + gap
}

func (l *loop) onLive(stable Timer) {
	l.live, l.liveFrom = true, l.clk.Now()
	l.lockSince = time.Time{}
	sl := l.active
	sl.breaker.Succeed()
	l.srcWait.Reset()
	l.judgeSourceReaders(sl)
	stable.Reset(l.pol.StableAfter)
	l.setState(health.StateLive, l.liveReason())
	l.log.Info("live", "path", sl.kind(), "after", l.clk.Now().Sub(l.since).Round(time.Millisecond))
}

// warm starts every path that keeps its ingest running while standing by.
func (l *loop) warm(ctx context.Context) {
	for _, sl := range l.slots {
		if w, ok := sl.spec.Path.(Warmer); ok {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				w.Warm(ctx)
			}()
		}
	}
}
