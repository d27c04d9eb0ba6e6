package supervisor

import (
	"sort"
	"time"

	"github.com/fmspush/fmspush/health"
)

// snapshot is what Status reads: the loop's state and the signals of the
// session running when it was taken (nil: none).
type snapshot struct {
	st  health.StreamStatus
	sig *health.Signals
}

// Status returns the stream's latest status, with the live counters of the
// session that is publishing now.
func (s *Stream) Status() health.StreamStatus {
	p := s.status.Load()
	if p == nil {
		return health.StreamStatus{Name: s.Name, TargetName: s.TargetName, Enabled: s.Enabled, State: health.StateStarting, Source: s.Source, Target: s.Target}
	}
	st := p.st
	if sig := p.sig; sig != nil {
		d := health.DeliveryOf(sig)
		st.Delivery = d
		st.Counters.BytesSent += sig.BytesSent.Load()
		st.Counters.FramesSent += sig.Frames()
		st.Counters.BytesAcked += d.BytesAcked
		st.Counters.DroppedFrames += d.DroppedFrames
		st.Paths = append([]health.PathStatus(nil), st.Paths...) // the snapshot is shared
		for i := range st.Paths {
			if st.Paths[i].Active {
				st.Paths[i].DroppedFrames += d.DroppedFrames
			}
		}
	}
	return st
}

func (l *loop) setState(state health.State, reason string) {
	if state != l.state || reason != l.reason {
		l.log.Debug("state", "state", state, "reason", reason)
	}
	l.state, l.reason = state, reason
	l.publish()
}

// publish stores a snapshot of the loop's state for Status.
func (l *loop) publish() {
	s := l.s
	st := &health.StreamStatus{
		Name: s.Name, TargetName: s.TargetName, Enabled: s.Enabled, State: l.state, Reason: l.reason,
		Source: s.Source, Target: s.Target, StartedAt: l.started, Ingest: l.ingestName(),
		Counters: l.counters, LastVerdicts: append([]health.Verdict(nil), l.verdicts...),
	}
	if len(l.slots) > 0 {
		st.Preferred = l.slots[0].kind()
	}
	if l.active != nil {
		st.ActivePath, st.ActiveSince = l.active.kind(), l.since
		if l.live {
			st.LiveSince = l.liveFrom
		}
	}
	if n := len(l.verdicts); n > 0 {
		st.LastError = l.verdicts[n-1].Error()
	}
	st.SourceStatus = "ok"
	if l.state == health.StateWaitingForSource {
		st.SourceStatus = "down"
	}
	now := l.clk.Now()
	for _, sl := range l.slots {
		st.Paths = append(st.Paths, l.pathStatus(sl, now))
	}
	st.Failovers = l.failoverList()
	st.VerdictCounts = l.verdictCounts()
	s.status.Store(&snapshot{st: *st, sig: l.sig})
}

func (l *loop) pathStatus(sl *slot, now time.Time) health.PathStatus {
	return health.PathStatus{
		Kind: sl.kind(), Active: sl == l.active, Ready: sl.ready || !sl.checked, CheckError: sl.checkErr,
		Circuit: sl.breaker.State(now), Backoff: sl.backoff.Peek(), NextAttempt: sl.nextAttempt,
		LastProbe: sl.lastProbe, LastVerdict: sl.lastVerdict, Failures: sl.failures,
		DroppedFrames: sl.dropped,
	}
}

func (l *loop) failoverList() []health.Failover {
	out := make([]health.Failover, 0, len(l.fails))
	for k, n := range l.fails {
		var layer health.Layer
		_ = layer.UnmarshalText([]byte(k[2]))
		out = append(out, health.Failover{From: k[0], To: k[1], Layer: layer, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].From+out[i].To+out[i].Layer.String() < out[j].From+out[j].To+out[j].Layer.String()
	})
	return out
}
