package supervisor

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fmspush/fmspush/health"
)

// Backup is a target's cold backup ingest: the stream's paths publish to it
// instead of the primary while Active reports true. The stream's loop alone
// sets it: it moves to the backup when the active path fails at the
// primary's network, handshake, connect or publish layer (L0-L3), and back
// to the primary once the primary has answered the standby's probes for
// FailbackAfter while the backup was live for as long.
type Backup struct {
	on atomic.Bool
}

// Active reports whether the paths publish to the backup now (false for a
// nil Backup). It is safe to call from any goroutine.
func (b *Backup) Active() bool { return b != nil && b.on.Load() }

// ingestLayer reports whether a failure at layer is the ingest's to answer
// for (it never reached a publishing session there).
func ingestLayer(layer health.Layer) bool {
	return layer >= health.LayerNetwork && layer <= health.LayerPublish
}

// moveIngest moves the stream between its primary and backup ingest when
// the failure v of sl says so, and restarts sl at once on the other one
// (no backoff, no circuit failure: the ingest failed, not the path). It
// reports whether it did. From the backup it returns only to a primary the
// last probes found answering.
func (l *loop) moveIngest(sl *slot, v *health.Verdict, attempt Timer) bool {
	b := l.s.Backup
	if b == nil || !ingestLayer(v.Layer) {
		return false
	}
	now := l.clk.Now()
	toBackup := !b.Active()
	if !toBackup && l.primaryOKSince.IsZero() {
		return false
	}
	b.on.Store(toBackup)
	l.ingestSince, l.primaryOKSince = now, time.Time{}
	sl.failures++
	sl.nextAttempt = now
	from, to := "primary", "backup"
	if !toBackup {
		from, to = to, from
	}
	l.counters.Failovers++
	l.fails[[3]string{sl.kind(), sl.kind() + "@" + to, v.Layer.String()}]++
	l.log.Warn("moving to the "+to+" ingest", "path", sl.kind(), "verdict", v.Error())
	l.setState(health.StateFailingOver, fmt.Sprintf("%s failed at %s (%s) on the %s ingest; moving to the %s ingest",
		sl.kind(), v.Layer, v.Cause, from, to))
	l.schedule(sl, attempt)
	return true
}

// judgePrimary records what a standby probe (of the primary ingest) says
// while the stream publishes to the backup, and returns to the primary once
// it has answered for FailbackAfter and the backup has been live as long.
func (l *loop) judgePrimary(ok bool) {
	b := l.s.Backup
	if !b.Active() {
		return
	}
	now := l.clk.Now()
	switch {
	case !ok:
		l.primaryOKSince = time.Time{}
		return
	case l.primaryOKSince.IsZero():
		l.primaryOKSince = now
	}
	if l.active == nil || !l.live || l.switchTo != nil ||
		now.Sub(l.primaryOKSince) < l.pol.FailbackAfter || now.Sub(l.ingestSince) < l.pol.FailbackAfter {
		return
	}
	l.log.Info("returning to the primary ingest", "path", l.active.kind())
	b.on.Store(false)
	l.ingestSince, l.primaryOKSince = now, time.Time{}
	l.switchTo, l.ingestBack = l.active, true
	l.active.nextAttempt = time.Time{}
	l.cancel()
}

// ingestName is the ingest the paths publish to, for status ("" without a
// backup).
func (l *loop) ingestName() string {
	switch {
	case l.s.Backup == nil:
		return ""
	case l.s.Backup.Active():
		return "backup"
	}
	return "primary"
}

// checkIngest holds the failure of a session lost on the primary ingest
// beyond L3 (the server closed or reset it, or stopped reading) while a
// backup is configured, and asks the failed path's probe whether the
// primary still answers: a server that is gone is the ingest's failure
// (onIngestCheck moves to the backup at once, with no detour through the
// other path, which would fail the same way); one that answers was the
// path's, handled as usual. It reports whether it held the failure.
func (l *loop) checkIngest(r runResult, v *health.Verdict) bool {
	b := l.s.Backup
	if b == nil || b.Active() || !v.Layer.IsTarget() || ingestLayer(v.Layer) || r.slot.spec.Probe == nil {
		return false
	}
	held := r
	held.err = v
	l.held = &held
	l.setState(health.StateFailingOver, fmt.Sprintf("%s failed at %s (%s); checking whether the primary ingest answers",
		r.slot.kind(), v.Layer, v.Cause))
	spec := r.slot.spec
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		res := runProbe(l.ctx, spec)
		res.slot, res.ingestCheck = r.slot, true
		l.probes <- res
	}()
	return true
}

// onIngestCheck ends a held failure with what the check of the primary
// found.
func (l *loop) onIngestCheck(p probeResult, attempt Timer) {
	h := l.held
	l.held = nil
	if h == nil {
		return
	}
	if sum := p.summary; sum != nil && !sum.OK && sum.Verdict != nil && ingestLayer(sum.Verdict.Layer) {
		pv := *sum.Verdict
		pv.Detail = fmt.Sprintf("the primary ingest no longer answers after %s: %s", h.err.(*health.Verdict).Cause, pv.Detail)
		if l.moveIngest(h.slot, &pv, attempt) {
			return
		}
	}
	l.onPathFailure(h.slot, h.err.(*health.Verdict), attempt)
}
