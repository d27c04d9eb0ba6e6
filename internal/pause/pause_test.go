package pause

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// Ticks on schedule, or late by less than the slack, are no pause.
func TestTicksOnScheduleAreNoPause(t *testing.T) {
	w := &Watch{}
	for i := range 50 {
		w.Tick(at(time.Duration(i) * DefaultPeriod))
	}
	w.Tick(at(49*DefaultPeriod + DefaultPeriod + DefaultSlack)) // late, within the slack
	_, ok := w.Last(at(49*DefaultPeriod + DefaultPeriod + DefaultSlack))
	require.False(t, ok)
}

// A tick 20 s after the previous one records a pause from that tick to it,
// reported once to OnPause and once to each tracker.
func TestLateTickIsAPause(t *testing.T) {
	w := &Watch{}
	var told []Pause
	w.OnPause(func(p Pause) { told = append(told, p) })
	tr := NewTracker(w, at(0))
	w.Tick(at(0))
	w.Tick(at(100 * time.Millisecond))
	_, ok := tr.Check(at(150 * time.Millisecond))
	require.False(t, ok)
	w.Tick(at(20*time.Second + 100*time.Millisecond))
	p, ok := tr.Check(at(20*time.Second + 150*time.Millisecond))
	require.True(t, ok)
	require.Equal(t, Pause{From: at(100 * time.Millisecond), To: at(20*time.Second + 100*time.Millisecond)}, p)
	require.Equal(t, "20 s", p.String())
	_, ok = tr.Check(at(20*time.Second + 250*time.Millisecond))
	require.False(t, ok, "reported twice")
	require.Len(t, told, 1)
	// Another tracker sees it too; one made after it does not.
	later := at(20*time.Second + 300*time.Millisecond)
	p2, ok := NewTracker(w, at(0)).Check(later)
	require.True(t, ok)
	require.Equal(t, p, p2)
	_, ok = NewTracker(w, later).Check(later)
	require.False(t, ok)
}

// Right after the process runs again, a clock owner may look before the
// watching goroutine has ticked: the overdue tick is the pause, and the
// tick that follows is the same pause, not a second one.
func TestOverdueTickIsAPauseInProgress(t *testing.T) {
	w := &Watch{}
	n := 0
	w.OnPause(func(Pause) { n++ })
	tr := NewTracker(w, at(0))
	w.Tick(at(0))
	p, ok := tr.Check(at(5 * time.Second))
	require.True(t, ok)
	require.Equal(t, Pause{From: at(0), To: at(5 * time.Second)}, p)
	w.Tick(at(5*time.Second + 10*time.Millisecond))
	_, ok = tr.Check(at(5*time.Second + 20*time.Millisecond))
	require.False(t, ok, "the same pause reported again")
	require.Equal(t, 1, n)
	require.True(t, tr.PausedSince(at(4*time.Second), at(5*time.Second+100*time.Millisecond)))
	require.False(t, tr.PausedSince(at(5*time.Second+10*time.Millisecond), at(5*time.Second+100*time.Millisecond)))
}

// A watch nobody acquired sees no pause in progress; Acquire ticks it and
// release stops its goroutine (goleak checks).
func TestAcquireRelease(t *testing.T) {
	w := &Watch{Period: 5 * time.Millisecond}
	_, ok := w.Last(time.Now().Add(time.Hour))
	require.False(t, ok)
	r1 := w.Acquire()
	r2 := w.Acquire()
	r1()
	r1() // idempotent
	start := time.Now()
	require.Eventually(t, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.last.After(start)
	}, 5*time.Second, time.Millisecond, "the watch never ticked")
	r2()
	_, ok = w.Last(time.Now().Add(time.Hour))
	require.False(t, ok, "a released watch sees a pause in progress")
}

func TestNilTracker(t *testing.T) {
	var tr *Tracker
	_, ok := tr.Check(time.Now())
	require.False(t, ok)
	require.False(t, tr.PausedSince(time.Now(), time.Now()))
}
