package supervisor

import (
	"context"
	"fmt"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/rtmp"
)

const maxVerdicts = 10

// onRunDone handles the end of a path's Run: a clean stop for a failback, or
// a failure to classify and act on.
func (l *loop) onRunDone(r runResult, attempt *time.Timer) {
	l.closeRun(r)
	if l.switchTo != nil && r.err == nil {
		next := l.switchTo
		l.switchTo = nil
		l.counters.Failbacks++
		l.setState(health.StateFailingOver, fmt.Sprintf("failing back to the preferred %s path", next.kind()))
		l.schedule(next, attempt)
		return
	}
	v := health.AsVerdict(r.err)
	if v == nil {
		v = &health.Verdict{Layer: rtmp.LayerUnknown, Cause: "stopped", Detail: "the path returned without an error", At: time.Now()}
	}
	v.Path = r.slot.kind()
	l.recordVerdict(r.slot, v)
	if v.Layer == rtmp.LayerSource {
		l.onSourceDown(r.slot, v, attempt)
		return
	}
	l.onPathFailure(r.slot, v, attempt)
}

// closeRun folds a finished run's counters into the stream's totals.
func (l *loop) closeRun(r runResult) {
	l.counters.BytesSent += r.sig.BytesSent.Load()
	l.counters.FramesSent += r.sig.Frames()
	if ts := time.Duration(r.sig.LastTimestamp.Load()) * time.Millisecond; ts > l.lastTS {
		l.lastTS = ts
	}
	l.lastEnd = time.Now()
	l.active, l.sig, l.live, l.cancel = nil, nil, false, nil
	l.s.current.Store(nil)
}

func (l *loop) recordVerdict(sl *slot, v *health.Verdict) {
	sl.lastVerdict = v
	l.verdicts = append(l.verdicts, *v)
	if len(l.verdicts) > maxVerdicts {
		l.verdicts = l.verdicts[len(l.verdicts)-maxVerdicts:]
	}
	l.log.Warn("path failed", "path", sl.kind(), "verdict", v.Error())
}

// onSourceDown waits for the source on the same path: a source failure never
// moves the stream to the other path and never counts against a circuit.
func (l *loop) onSourceDown(sl *slot, v *health.Verdict, attempt *time.Timer) {
	wait := l.srcWait.Next()
	sl.nextAttempt = time.Now().Add(wait)
	l.setState(health.StateWaitingForSource, fmt.Sprintf("the source is unavailable (%s); retrying in %v", v.Cause, wait.Round(time.Millisecond)))
	l.schedule(sl, attempt)
}

// onPathFailure counts the failure against the path and fails over to the
// other path when it is usable, or backs off.
func (l *loop) onPathFailure(sl *slot, v *health.Verdict, attempt *time.Timer) {
	now := time.Now()
	sl.failures++
	sl.breaker.Fail(v.Layer, now)
	sl.nextAttempt = now.Add(sl.backoff.Next())
	sl.probeOKSince = time.Time{}
	if other := l.other(sl); other != nil && other.usable(now) {
		l.fails[[3]string{sl.kind(), other.kind(), v.Layer.String()}]++
		l.counters.Failovers++
		l.setState(health.StateFailingOver, fmt.Sprintf("%s failed at %s (%s); failing over to %s", sl.kind(), v.Layer, v.Cause, other.kind()))
		l.schedule(other, attempt)
		return
	}
	next := l.earliest(now)
	l.setState(health.StateDegraded, fmt.Sprintf("%s failed at %s (%s); no healthy standby, retrying %s in %v",
		sl.kind(), v.Layer, v.Cause, next.kind(), time.Until(next.nextAttempt).Round(time.Millisecond)))
	l.schedule(next, attempt)
}

// earliest picks the slot that may be tried first: one whose circuit is not
// open, soonest; when every circuit is open, the one that half-opens first.
func (l *loop) earliest(now time.Time) *slot {
	var best *slot
	at := func(sl *slot) time.Time {
		t := sl.nextAttempt
		if sl.breaker.State(now) == CircuitOpen && sl.breaker.OpenUntil().After(t) {
			t = sl.breaker.OpenUntil()
		}
		return t
	}
	for _, sl := range l.slots {
		if sl.checked && !sl.ready && l.anyReady() {
			continue
		}
		if best == nil || at(sl).Before(at(best)) {
			best = sl
		}
	}
	best.nextAttempt = at(best)
	return best
}

func (l *loop) anyReady() bool {
	for _, sl := range l.slots {
		if !sl.checked || sl.ready {
			return true
		}
	}
	return false
}

func (l *loop) other(sl *slot) *slot {
	for _, o := range l.slots {
		if o != sl {
			return o
		}
	}
	return nil
}

func (l *loop) schedule(sl *slot, attempt *time.Timer) {
	l.pending = sl
	attempt.Reset(max(time.Until(sl.nextAttempt), 0))
}

// shutdown stops the active path and waits for it.
func (l *loop) shutdown() {
	if l.cancel != nil {
		l.cancel()
		r := <-l.runDone
		l.closeRun(r)
	}
	l.setState(health.StateStopped, "stopped")
	l.publish()
}

// launchProbes checks the driver of, and probes the target for, every path
// that is neither active nor about to start (that one finds out by
// connecting, and probing it too would spend the per-host connection budget).
func (l *loop) launchProbes(ctx context.Context) {
	for _, sl := range l.slots {
		if sl.probing || sl == l.active || sl == l.pending {
			continue
		}
		sl.probing = true
		l.wg.Add(1)
		go func(sl *slot) {
			defer l.wg.Done()
			res := runProbe(ctx, sl.spec)
			res.slot = sl
			l.probes <- res
		}(sl)
	}
}

func runProbe(ctx context.Context, spec PathSpec) probeResult {
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	res := probeResult{checkErr: spec.Path.Check(pctx)}
	if res.checkErr == nil && spec.Probe != nil {
		sum := spec.Probe(pctx)
		res.summary = &sum
	}
	return res
}

// onProbe records a probe and decides a failback when the preferred path's
// probes have passed for FailbackAfter while the other path is live.
func (l *loop) onProbe(p probeResult) {
	sl := p.slot
	sl.probing = false
	sl.checked, sl.ready, sl.checkErr = true, p.checkErr == nil, ""
	if p.checkErr != nil {
		sl.checkErr = p.checkErr.Error()
	}
	if p.summary != nil && p.summary.Skipped {
		return // no news: the connection limit kept the probe from running
	}
	if p.summary != nil {
		sl.lastProbe = p.summary
		l.judgeProbe(sl, p.summary)
	}
	ok := sl.ready && (p.summary == nil || p.summary.OK)
	if !ok {
		sl.probeOKSince = time.Time{}
		return
	}
	if sl.probeOKSince.IsZero() {
		sl.probeOKSince = time.Now()
	}
	l.considerFailback(sl)
}

func (l *loop) judgeProbe(sl *slot, sum *health.ProbeSummary) {
	now := time.Now()
	if sum.OK {
		if sl.breaker.State(now) != CircuitClosed {
			sl.breaker.Succeed()
		}
		return
	}
	if sum.Verdict != nil {
		sl.breaker.Fail(sum.Verdict.Layer, now)
	}
}

func (l *loop) considerFailback(sl *slot) {
	preferred := l.slots[0]
	if sl != preferred || l.active == nil || l.active == preferred || !l.live || l.switchTo != nil {
		return
	}
	if time.Since(preferred.probeOKSince) < l.pol.FailbackAfter {
		return
	}
	l.log.Info("failing back", "to", preferred.kind())
	l.switchTo = preferred
	preferred.nextAttempt = time.Time{}
	l.cancel()
}
