package supervisor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// A path that reads the source itself (ffmpeg) and keeps failing at a
// hostile source is started again no faster than the per-host limit allows
// for the source's host, whose window the other streams' attempts share,
// although its target host has room.
func TestSourceHostIsHeldToThePerHostLimit(t *testing.T) {
	const window = 400 * time.Millisecond
	ff := &timedPath{scripted: scripted{kind: "ffmpeg", fail: verdict(health.LayerSource, "source_unavailable")}}
	lim := &HostLimiter{PerMinute: 3, Window: window}
	var mu sync.Mutex
	var takes []time.Time // the attempts recorded at the camera, the others' included
	lim.recorded = func(host string, at time.Time) {
		if host == "cam:1935" {
			mu.Lock()
			takes = append(takes, at)
			mu.Unlock()
		}
	}
	pol := fastPolicy()
	pol.BackoffInitial, pol.SourceRetry = time.Millisecond, 5*time.Millisecond
	st := &Stream{Name: "s", Enabled: true, TargetHost: "target:1935", AttemptsPerMinute: 3,
		Preferred: PathSpec{Path: ff, SourceHost: "cam:1935"}, Policy: pol, Limiter: lim}
	others := time.Now()
	for range 3 { // other streams' (or the native ingest's) connections to the camera
		lim.Take("cam:1935")
	}
	runStream(t, st)
	testpeer.Eventually(t, 10*time.Second, "7 runs", func() bool { return len(ff.times()) >= 7 })
	require.Equal(t, health.StateWaitingForSource, st.Status().State)
	runs := ff.times()
	// The first run is a start, not held back; the next waits for the
	// camera's window although the target's has room.
	require.GreaterOrEqual(t, runs[1].Sub(others), window, "the second run did not wait for the camera's window")
	// Each run came after its own attempt at the camera (the others' three
	// first), and no window but the first (the others' and the first
	// run's, which is not held back) holds more than 3 attempts. The attempts are compared, not the runs' starts, which come a
	// little after them by delays that differ.
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(takes), 3+len(runs))
	for i, r := range runs {
		require.False(t, takes[3+i].After(r), "run %d started before its attempt at the camera", i)
	}
	for i := 1; i < len(takes); i++ {
		n := 0
		for _, at := range takes[i:] {
			if at.Sub(takes[i]) < window {
				n++
			}
		}
		require.LessOrEqual(t, n, 3, "attempts within a window from attempt %d", i)
	}
}

// timedPath is a scripted path that records when each run started.
type timedPath struct {
	scripted
	mu sync.Mutex
	at []time.Time
}

func (p *timedPath) Run(ctx context.Context, base time.Duration, sig *health.Signals) error {
	p.mu.Lock()
	p.at = append(p.at, time.Now())
	p.mu.Unlock()
	return p.scripted.Run(ctx, base, sig)
}

func (p *timedPath) times() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.at...)
}

// TryTakeAll records at every host or at none.
func TestTryTakeAllIsAllOrNothing(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &HostLimiter{Now: func() time.Time { return now }}
	for range 2 {
		ok, _ := l.TryTakeAll(2, "a", "b", "a", "")
		require.True(t, ok)
	}
	require.Equal(t, 2, l.Recent("a"), "a repeated host counted twice")
	l.Take("c")
	l.Take("c")
	now = now.Add(10 * time.Second)
	ok, wait := l.TryTakeAll(2, "d", "c")
	require.False(t, ok)
	require.Equal(t, 50*time.Second, wait)
	require.Zero(t, l.Recent("d"), "recorded at d although c refused")
}
