// Package pause tells the service's own pauses from slow peers.
//
// When the process is stopped (SIGSTOP and SIGCONT, a frozen container or
// VM, a debugger) or starved of CPU, every clock that judges a peer sees a
// gap that is the service's own: a publisher's stall clock, a watchdog's
// "no progress for N s". A Watch tells such a gap from a peer's silence by
// comparing a tick with the monotonic clock: one goroutine, doing nothing
// else, ticks every Period; a tick that comes more than Slack later than
// scheduled means the process did not run in between. A goroutine busy in
// a blocking write does not delay it, so a slow peer never looks like a
// pause.
//
// The owners of delivery clocks ask the Watch (through a Tracker) at each of
// their own ticks and restart their clocks after a pause instead of blaming
// the peer. A pause is seen at once, even before the watching goroutine has
// run again after it: its last tick is then overdue (Watch.Last).
package pause

import (
	"strconv"
	"sync"
	"time"

	"github.com/fmspush/fmspush/internal/wake"
)

// Defaults of Watch.Period and Watch.Slack. The period is well under the
// slack (a pause is a tick more than Slack late, whatever the period) and
// long enough that the watch is not what wakes an idle process: 4 ticks a
// second (it was 10: the most frequent timer of a service with one stream
// after the stream's own frames).
const (
	DefaultPeriod = 250 * time.Millisecond
	// DefaultSlack is how much later than scheduled a tick may come before
	// the process is taken for paused: well past what a busy scheduler or a
	// garbage collection costs, well under any stall timeout worth setting.
	DefaultSlack = 500 * time.Millisecond
)

// Pause is a span of time in which the process did not run: from the last
// tick before it to the first one after (or to the moment it was seen, for
// a pause seen before the watching goroutine ran again).
type Pause struct {
	From, To time.Time
}

// Len is how long the pause lasted.
func (p Pause) Len() time.Duration { return p.To.Sub(p.From) }

// String reads "20 s", "1.5 s".
func (p Pause) String() string {
	return strconv.FormatFloat(p.Len().Round(100*time.Millisecond).Seconds(), 'f', -1, 64) + " s"
}

// Watch detects the pauses of the process. The zero value is ready to use;
// Acquire starts its goroutine, or a test calls Tick with its own clock.
type Watch struct {
	// Period is how often the watch ticks (DefaultPeriod when zero).
	Period time.Duration
	// Slack is how late a tick may come before the gap is a pause
	// (DefaultSlack when zero).
	Slack time.Duration
	// Manual: Acquire starts no goroutine and only the owner's Tick calls
	// tick the watch (a test in simulated time, where the process's clock,
	// internal/wake, does not run).
	Manual bool

	mu       sync.Mutex
	onPause  func(Pause)
	last     time.Time // the last tick
	latest   Pause     // the latest pause recorded
	reported time.Time // From of the last pause given to OnPause
	users    int
	stop     chan struct{}
	done     chan struct{}
}

// Default is the process's watch: the paths and the supervisor share it.
var Default = &Watch{}

func (w *Watch) period() time.Duration {
	if w.Period > 0 {
		return w.Period
	}
	return DefaultPeriod
}

func (w *Watch) slack() time.Duration {
	if w.Slack > 0 {
		return w.Slack
	}
	return DefaultSlack
}

// OnPause sets f to be called once for each pause, by the goroutine that
// sees it first, without the watch's lock held: the service logs it.
func (w *Watch) OnPause(f func(Pause)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onPause = f
}

// Tick folds in one tick at now (the monotonic clock): a tick later than
// Period+Slack after the previous one records the gap as a pause.
func (w *Watch) Tick(now time.Time) {
	w.mu.Lock()
	var report func()
	if !w.last.IsZero() && now.Sub(w.last) > w.period()+w.slack() {
		w.latest = Pause{From: w.last, To: now}
		report = w.claim(w.latest)
	}
	w.last = now
	w.mu.Unlock()
	w.report(report)
}

// Record notes a pause known otherwise (a test's, or a caller with better
// evidence) as the latest one, if it ended after the one recorded.
func (w *Watch) Record(p Pause) {
	w.mu.Lock()
	var report func()
	if p.To.After(w.latest.To) {
		w.latest = p
		report = w.claim(p)
	}
	w.mu.Unlock()
	w.report(report)
}

// Last returns the latest pause as of now: the latest one recorded, or the
// one still being caught up on, when the watch's last tick is overdue (the
// process has just run again and the watching goroutine not yet). ok is
// false when there was none since the watch started.
func (w *Watch) Last(now time.Time) (p Pause, ok bool) {
	w.mu.Lock()
	var report func()
	if !w.last.IsZero() && now.Sub(w.last) > w.period()+w.slack() && w.latest.From != w.last {
		w.latest = Pause{From: w.last, To: now}
		report = w.claim(w.latest)
	}
	p, ok = w.latest, !w.latest.From.IsZero()
	w.mu.Unlock()
	w.report(report)
	return p, ok
}

// claim returns p if OnPause has not been told of it yet (w.mu held).
func (w *Watch) claim(p Pause) func() {
	f := w.onPause
	if f == nil || p.From.Equal(w.reported) {
		return nil
	}
	w.reported = p.From
	return func() { f(p) }
}

func (w *Watch) report(f func()) {
	if f != nil {
		f()
	}
}

// Acquire starts the watching goroutine for the first user; release stops
// it after the last one, and waits for it.
func (w *Watch) Acquire() (release func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.users == 0 {
		w.stop, w.done = make(chan struct{}), make(chan struct{})
		w.last = time.Now()
		if w.Manual {
			close(w.done)
		} else {
			go w.run(w.stop, w.done)
		}
	}
	w.users++
	var once sync.Once
	return func() { once.Do(w.release) }
}

func (w *Watch) release() {
	w.mu.Lock()
	w.users--
	if w.users > 0 {
		w.mu.Unlock()
		return
	}
	stop, done := w.stop, w.done
	w.last = time.Time{} // no tick is due while nobody watches
	w.mu.Unlock()
	close(stop)
	<-done
}

func (w *Watch) run(stop, done chan struct{}) {
	defer close(done)
	t := wake.NewTicker(w.period()) // on the process's clock: no runtime timer
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			// The tick's own value is when it was scheduled, even when it
			// is delivered after a pause: read the clock.
			w.Tick(time.Now())
		}
	}
}

// Tracker is one clock owner's view of a Watch: Check reports each pause
// once, and only pauses that ended after the tracker was made.
type Tracker struct {
	w     *Watch
	after time.Time // pauses ending before this are someone else's
	seen  time.Time // From of the last pause reported
}

// NewTracker tracks w (Default when nil) from now on.
func NewTracker(w *Watch, now time.Time) *Tracker {
	if w == nil {
		w = Default
	}
	return &Tracker{w: w, after: now}
}

// Check returns a pause not reported before, if one ended after the
// tracker was made: the caller restarts its clocks at now.
func (t *Tracker) Check(now time.Time) (Pause, bool) {
	if t == nil {
		return Pause{}, false
	}
	p, ok := t.w.Last(now)
	if !ok || !p.To.After(t.after) || p.From.Equal(t.seen) {
		return Pause{}, false
	}
	t.seen = p.From
	return p, true
}

// PausedSince reports whether the process was paused after t (a pause
// that ended after it): a result measured across t is not evidence.
func (t *Tracker) PausedSince(at, now time.Time) bool {
	if t == nil {
		return false
	}
	p, ok := t.w.Last(now)
	return ok && p.To.After(at)
}
