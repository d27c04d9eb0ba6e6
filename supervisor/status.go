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
	// lastTS and lastEnd are the timeline of the sessions that ended.
	lastTS  time.Duration
	lastEnd time.Time
}

// Timeline is where a target's timestamps are: the last one sent (LastTS)
// and when (At); the zero Timeline when nothing was sent.
type Timeline struct {
	LastTS time.Duration
	At     time.Time
}

// Timeline returns the target's timeline now: the running session's last
// timestamp at the time of the call, or the last one of the sessions that
// ended, or (nothing sent yet) Resume, or 0 when the loop started. Whatever
// this stream sent since At came after LastTS at about real time, so
// LastTS plus the time since At continues the target's timeline.
func (s *Stream) Timeline() Timeline {
	p := s.status.Load()
	if p == nil {
		return Timeline{}
	}
	if p.sig != nil {
		if ts := time.Duration(p.sig.LastTimestamp.Load()) * time.Millisecond; ts > p.lastTS {
			return Timeline{LastTS: ts, At: time.Now()}
		}
	}
	if p.lastEnd.IsZero() {
		return Timeline{At: p.st.StartedAt}
	}
	return Timeline{LastTS: p.lastTS, At: p.lastEnd}
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
	s.status.Store(&snapshot{st: *st, sig: l.sig, lastTS: l.lastTS, lastEnd: l.lastEnd})
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
