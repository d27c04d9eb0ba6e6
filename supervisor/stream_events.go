package supervisor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/pause"
)

const maxVerdicts = 10

// onRunDone handles the end of a path's Run: a clean stop for a failback, or
// a failure to classify and act on.
func (l *loop) onRunDone(r runResult, attempt Timer) {
	l.closeRun(r)
	if l.paused {
		l.setState(health.StatePaused, "paused by request")
		return
	}
	if l.switchTo != nil && r.err == nil {
		next := l.switchTo
		l.switchTo = nil
		msg := fmt.Sprintf("failing back to the preferred %s path", next.kind())
		switch {
		case l.manual:
			msg = fmt.Sprintf("switching to %s by request", next.kind())
		case l.ingestBack:
			msg = fmt.Sprintf("returning to the primary ingest on %s", next.kind())
			l.counters.Failbacks++
		default:
			l.counters.Failbacks++
		}
		l.ingestBack, l.manual = false, false
		l.setState(health.StateFailingOver, msg)
		l.schedule(next, attempt)
		return
	}
	v := health.AsVerdict(r.err)
	if v == nil {
		v = health.NewVerdict(health.LayerUnknown, "stopped", "the path returned without an error")
	}
	v.Path = r.slot.kind()
	locked := l.nameLocked(v, l.clk.Now())
	if locked {
		v.Cause = health.CauseNameLocked
	}
	p, paused := l.pausedJustNow(l.clk.Now())
	paused = paused && !locked && v.Layer.IsTarget()
	if paused {
		v.Detail += fmt.Sprintf(" (right after a pause of the service for %s: retried, not counted against the path)", p)
	}
	l.recordVerdict(r.slot, v)
	if locked {
		l.onNameLocked(r.slot, attempt)
		return
	}
	l.lockSince = time.Time{}
	if v.Layer == health.LayerSource {
		l.onSourceDown(r.slot, v, r.sig.IsLive(), attempt)
		return
	}
	if paused {
		l.onPausedFailure(r.slot, v, attempt)
		return
	}
	if l.moveIngest(r.slot, v, attempt) || l.checkIngest(r, v) {
		return
	}
	l.onPathFailure(r.slot, v, attempt)
}

// pauseAfterglow is how soon after a pause of the process a target-layer
// failure is taken for the pause's doing: what the pause broke shows at
// once when the process runs again (a write deadline that ran out while
// nothing ran, a server that dropped the silent publisher), while the
// delivery clocks, restarted by the pause, judge the target only a
// stall_timeout later.
const pauseAfterglow = 2 * time.Second

// pausedJustNow returns the pause of the process that ended within
// pauseAfterglow before now, during the run that just ended.
func (l *loop) pausedJustNow(now time.Time) (pause.Pause, bool) {
	if l.s.Pauses == nil {
		return pause.Pause{}, false
	}
	p, ok := l.s.Pauses.Last(now)
	return p, ok && now.Sub(p.To) <= pauseAfterglow && p.To.After(l.since)
}

// onPausedFailure retries the path that failed at the target right after a
// pause of the process, at once and without counting it (no circuit
// failure, no backoff, no failover): the pause was the service's, and the
// verdict says so.
func (l *loop) onPausedFailure(sl *slot, v *health.Verdict, attempt Timer) {
	sl.nextAttempt = l.clk.Now()
	l.setState(health.StateStarting, fmt.Sprintf("%s failed at %s (%s) right after a pause of the service; retrying %s",
		sl.kind(), v.Layer, v.Cause, sl.kind()))
	l.schedule(sl, attempt)
}

// closeRun folds a finished run's counters into the stream's totals.
func (l *loop) closeRun(r runResult) {
	l.counters.BytesSent += r.sig.BytesSent.Load()
	l.counters.FramesSent += r.sig.Frames()
	l.counters.BytesAcked += r.sig.BytesAcked.Load()
	dropped := r.sig.DroppedFrames.Load()
	l.counters.DroppedFrames += dropped
	r.slot.dropped += dropped
	if ts := time.Duration(r.sig.LastTimestamp.Load()) * time.Millisecond; ts > l.lastTS {
		l.lastTS = ts
	}
	l.lastEnd = l.clk.Now()
	if r.sig.IsLive() {
		l.liveEnd = l.lastEnd
	}
	l.active, l.sig, l.live, l.cancel = nil, nil, false, nil
}

func (l *loop) recordVerdict(sl *slot, v *health.Verdict) {
	sl.lastVerdict = v
	l.countVerdict(v)
	l.verdicts = append(l.verdicts, *v)
	if len(l.verdicts) > maxVerdicts {
		l.verdicts = l.verdicts[len(l.verdicts)-maxVerdicts:]
	}
	l.log.Warn("path failed", "path", sl.kind(), "verdict", v.Error())
}

// onSourceDown handles a path that failed at the source; it never counts
// against the path (no circuit failure, no backoff). The other path reads
// the source its own way (ffmpeg opens it itself, the native ingest parses
// only what it knows), so it is tried at once when it is usable and was not
// tried in this round. Otherwise the source is down for both: the stream
// waits for it with the source backoff, and the next round starts on the
// preferred path (when usable), so that a source that returns comes back
// where it belongs without a failback, and on the other path at once when
// only that one reads it.
func (l *loop) onSourceDown(sl *slot, v *health.Verdict, wasLive bool, attempt Timer) {
	now := l.clk.Now()
	sl.srcFailed, sl.srcCold, sl.srcTried = true, !wasLive, true
	if other := l.other(sl); other != nil && !other.srcTried && other.usable(now) {
		l.log.Info("trying the other path for the source", "failed", sl.kind(), "next", other.kind())
		l.setState(health.StateFailingOver, fmt.Sprintf("%s could not read the source (%s); trying %s, which reads it its own way",
			sl.kind(), v.Cause, other.kind()))
		l.schedule(other, attempt)
		return
	}
	if pref := l.slots[0]; pref != sl && pref.usable(now) {
		sl = pref
	}
	for _, o := range l.slots {
		o.srcTried = false // a new round
	}
	wait := l.srcWait.Next()
	sl.nextAttempt = now.Add(wait)
	l.setState(health.StateWaitingForSource, fmt.Sprintf("the source is unavailable (%s); retrying %s", v.Cause, inDuration(wait)))
	l.schedule(sl, attempt)
}

// onPathFailure counts the failure against the path and fails over to the
// other path when it is usable, or backs off.
func (l *loop) onPathFailure(sl *slot, v *health.Verdict, attempt Timer) {
	now := l.clk.Now()
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
	l.setState(health.StateDegraded, fmt.Sprintf("%s failed at %s (%s); no healthy standby, retrying %s %s",
		sl.kind(), v.Layer, v.Cause, next.kind(), inDuration(next.nextAttempt.Sub(now))))
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

func (l *loop) schedule(sl *slot, attempt Timer) {
	l.pending, l.lockRetry = sl, false
	attempt.Reset(max(sl.nextAttempt.Sub(l.clk.Now()), 0))
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
			started := l.clk.Now()
			res := runProbe(ctx, sl.spec)
			res.slot, res.started = sl, started
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
func (l *loop) onProbe(p probeResult, attempt Timer) {
	sl := p.slot
	sl.probing = false
	sl.checked, sl.ready, sl.checkErr = true, p.checkErr == nil, ""
	if p.checkErr != nil {
		sl.checkErr = p.checkErr.Error()
	}
	if p.summary != nil && p.summary.Skipped {
		return // no news: the connection limit kept the probe from running
	}
	if p.summary != nil && l.pauses.PausedSince(p.started, l.clk.Now()) {
		return // no news: the process was paused while the probe ran, and its timeouts with it
	}
	if p.summary != nil {
		sl.lastProbe = p.summary
		l.judgeProbe(sl, p.summary)
	}
	ok := sl.ready && (p.summary == nil || p.summary.OK)
	if p.summary != nil {
		l.judgePrimary(p.summary.OK)
	}
	if !ok {
		sl.probeOKSince = time.Time{}
		return
	}
	if sl.probeOKSince.IsZero() {
		sl.probeOKSince = l.clk.Now()
	}
	if p.summary != nil {
		l.resumeOnProbe(sl, p.summary, attempt)
	}
	l.considerFailback(sl)
}

// resumeOnProbe starts sl (the standby) now, when nothing runs and the
// stream waits to retry the other path later (its backoff, its open
// circuit), if sl's probe got through the layer at which sl last failed (a
// server that refused connections accepts a publish again): the wait was
// for the target to come back, and it has. A failure the probe does not
// reach (after publish, in the media, at the source) waits on, and so does
// a retry of a name the server still holds.
func (l *loop) resumeOnProbe(sl *slot, sum *health.ProbeSummary, attempt Timer) {
	now := l.clk.Now()
	if l.active != nil || l.paused || l.lockRetry || l.pending == nil || l.pending == sl || !l.pending.nextAttempt.After(now) {
		return
	}
	if v := sl.lastVerdict; v != nil && (!v.Layer.IsTarget() || sum.Depth < v.Layer) {
		return
	}
	l.log.Info("the target is back: starting now", "path", sl.kind(), "probe_depth", sum.Depth.String())
	sl.nextAttempt = now
	l.setState(l.state, fmt.Sprintf("%s's probe reached the target again; starting it now", sl.kind()))
	l.schedule(sl, attempt)
}

func (l *loop) judgeProbe(sl *slot, sum *health.ProbeSummary) {
	now := l.clk.Now()
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
	if preferred.unreadable {
		return // its probe tells of the target only, and it could not read the source
	}
	if l.pin == l.active {
		return // an operator switched to it
	}
	if l.clk.Now().Sub(preferred.probeOKSince) < l.pol.FailbackAfter {
		return
	}
	l.log.Info("failing back", "to", preferred.kind())
	l.switchTo = preferred
	preferred.nextAttempt = time.Time{}
	l.cancel()
}

// nameLocked reports whether v is the server still holding the stream name
// for a previous session of this stream: an L3 refusal that says so
// (name_locked), or a BadName, within NameLockWindow after a session of
// this stream that had been live ended. A name_locked refusal with no such
// session is measured from the loop's start (a session of the previous run
// of this stream, before a reload or a restart, may hold the name). Past the
// window it is the target's answer, and a normal L3 failure.
func (l *loop) nameLocked(v *health.Verdict, now time.Time) bool {
	if v.Layer != health.LayerPublish {
		return false
	}
	ref := l.liveEnd
	switch v.Cause {
	case health.CauseNameLocked:
		if ref.IsZero() {
			ref = l.started
		}
	case "publish_bad_name":
		if ref.IsZero() {
			return false
		}
	default:
		return false
	}
	return now.Sub(ref) <= l.pol.NameLockWindow
}

// onNameLocked retries after NameLockRetry, without counting against the
// path (no circuit failure, no backoff, no failover): the name frees when
// the server drops the stale session, and the other path would meet the same
// lock with the same key. It retries the preferred path when usable by then,
// the refused one otherwise. The retries are bounded by NameLockWindow.
func (l *loop) onNameLocked(sl *slot, attempt Timer) {
	now := l.clk.Now()
	if l.lockSince.IsZero() {
		l.lockSince = now
	}
	l.counters.NameLockRetries++
	at := now.Add(l.lockWait.Next())
	next := sl
	if pref := l.slots[0]; pref != sl && pref.usableBy(now, at) {
		next = pref
	}
	next.nextAttempt = at
	l.log.Info("name locked by a previous session; retrying", "path", next.kind(),
		"since", now.Sub(l.lockSince).Round(time.Millisecond))
	l.setState(health.StateNameLocked, l.nameLockReason(now))
	l.schedule(next, attempt)
	l.lockRetry = true
}

func (l *loop) nameLockReason(now time.Time) string {
	return fmt.Sprintf("the server still holds the stream name for a previous session; retrying every %s (since %s)",
		humanDuration(l.pol.NameLockRetry), humanDuration(now.Sub(l.lockSince)))
}

// usableBy reports whether the slot may be tried at at, judged now.
func (sl *slot) usableBy(now, at time.Time) bool {
	if sl.checked && !sl.ready {
		return false
	}
	if sl.breaker.State(now) == CircuitOpen {
		return false
	}
	if sl.lastProbe != nil && !sl.lastProbe.OK {
		return false
	}
	return !at.Before(sl.nextAttempt)
}

// checkPause restarts the loop's own clocks after a pause of the process:
// the preferred path's probes must pass FailbackAfter again from now (the
// pause proved nothing), and the name-lock window does not count it.
func (l *loop) checkPause(now time.Time) {
	p, ok := l.pauses.Check(now)
	if !ok {
		return
	}
	l.log.Debug("clocks restarted after a pause of the service", "pause", p.String())
	for _, sl := range l.slots {
		if !sl.probeOKSince.IsZero() {
			sl.probeOKSince = now
		}
	}
	if !l.liveEnd.IsZero() {
		l.liveEnd = l.liveEnd.Add(p.Len())
	}
	if !l.lockSince.IsZero() {
		l.lockSince = l.lockSince.Add(p.Len())
	}
}

// refreshDelivery reads the active session's delivery signals, which change
// without sending events: live and congested follow Signals.Congested, and
// the name-lock reason its age.
func (l *loop) refreshDelivery() {
	switch {
	case l.state == health.StateNameLocked && !l.lockSince.IsZero():
		l.reason = l.nameLockReason(l.clk.Now())
	case l.active == nil || !l.live || l.sig == nil:
	case l.sig.Congested() && l.state == health.StateLive:
		l.log.Warn("congested", "path", l.active.kind())
		l.setState(health.StateCongested, l.congestedReason())
	case l.sig.Congested() && l.state == health.StateCongested:
		l.reason = l.congestedReason() // fresh figures, without a log line per tick
	case !l.sig.Congested() && l.state == health.StateCongested:
		l.log.Info("no longer congested", "path", l.active.kind())
		l.setState(health.StateLive, l.liveReason())
	}
}

// judgeSourceReaders notes, as the path sl goes live, which path could not
// read the source in the outage that ends: one that failed at the source
// before it went live, while sl read the source at once (had sl failed at
// the source too, the source was away for both). A path that lost the
// source during a live session is not judged by that: it had read it. A
// path that did not run in the outage keeps its mark. Every path may be
// tried for the source again in the next outage.
func (l *loop) judgeSourceReaders(sl *slot) {
	for _, o := range l.slots {
		if o != sl && o.srcFailed {
			o.unreadable = o.srcCold && !sl.srcFailed
		}
	}
	sl.unreadable = false
	for _, o := range l.slots {
		o.srcFailed, o.srcCold, o.srcTried = false, false, false
	}
}

// liveReason: "ffmpeg path is live", and why there is no failback when the
// preferred path could not read the source.
func (l *loop) liveReason() string {
	reason := fmt.Sprintf("%s path is live", l.active.kind())
	if l.pin == l.active {
		return reason + fmt.Sprintf("; switched to by request, no failback to %s until switched back", l.slots[0].kind())
	}
	if pref := l.slots[0]; pref != l.active && pref.unreadable {
		cause := "source"
		if pref.lastVerdict != nil {
			cause = pref.lastVerdict.Cause
		}
		reason += fmt.Sprintf("; no failback to %s, which could not read the source (%s)", pref.kind(), cause)
	}
	return reason
}

// congestedReason: "uplink takes 2.4 Mbit/s of the 4.0 Mbit/s the stream
// needs; dropping frames to keep the delay under 2 s".
func (l *loop) congestedReason() string {
	sig := l.sig
	got, need := sig.ThroughputBps.Load(), sig.NeededBps.Load()
	var b strings.Builder
	if need > 0 {
		fmt.Fprintf(&b, "uplink takes %.1f Mbit/s of the %.1f Mbit/s the stream needs", float64(got)/1e6, float64(need)/1e6)
	} else {
		b.WriteString("the uplink is slower than the stream")
	}
	lag := time.Duration(sig.LagMillis.Load()) * time.Millisecond
	switch {
	case sig.DroppedFrames.Load() > 0 && l.s.MaxDelay > 0:
		fmt.Fprintf(&b, "; dropping frames to keep the delay under %s", humanDuration(l.s.MaxDelay))
	case sig.DroppedFrames.Load() > 0:
		fmt.Fprintf(&b, "; dropping frames to keep the delay bounded (now %s)", humanDuration(lag))
	default:
		fmt.Fprintf(&b, "; delay %s", humanDuration(lag))
	}
	return b.String()
}

// inDuration says when something happens, as people read it: "in 8 s",
// or "now" for a moment already past (never a negative duration).
func inDuration(d time.Duration) string {
	if d <= 0 {
		return "now"
	}
	return "in " + humanDuration(d)
}

// humanDuration renders d for a reason: "20 ms", "1 s", "4.5 s", "2 min 5 s";
// a negative d reads as 0.
func humanDuration(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return strconv.FormatFloat(d.Round(100*time.Millisecond).Seconds(), 'f', -1, 64) + " s"
	default:
		d = d.Round(time.Second)
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	}
}
