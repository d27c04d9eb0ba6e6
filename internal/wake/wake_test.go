package wake

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// onGridAt checks that at, an instant the clock fired at, is a multiple of
// step on the process's monotonic clock (read a little after it).
func onGridAt(t *testing.T, at time.Time, step time.Duration) {
	t.Helper()
	c := processClock()
	if c == nil {
		t.Skip("no timerfd: runtime timers")
	}
	off := c.mono(at) % int64(step)
	// fire reads the clock after the expiry: a few ms late at most.
	require.Less(t, off, int64(20*time.Millisecond), "fired %v after a multiple of %v", time.Duration(off), step)
}

// A Sleeper wakes at or after its instant, within a few milliseconds; a
// cancelled wait returns at once with the context's error.
func TestSleeperUntil(t *testing.T) {
	var s Sleeper
	for _, d := range []time.Duration{-time.Millisecond, 3 * time.Millisecond, 17 * time.Millisecond, 40 * time.Millisecond} {
		at := time.Now().Add(d)
		require.NoError(t, s.Until(context.Background(), at))
		late := time.Since(at)
		require.GreaterOrEqual(t, late, time.Duration(0), "woke %v early", -late)
		require.Less(t, late, 20*time.Millisecond, "woke %v late for a wait of %v", late, d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { cancel() }()
	start := time.Now()
	require.ErrorIs(t, s.Until(ctx, time.Now().Add(time.Hour)), context.Canceled)
	require.Less(t, time.Since(start), time.Second)
	require.NoError(t, s.Until(context.Background(), time.Now().Add(5*time.Millisecond)), "a Sleeper is reusable after a cancel")
}

// A timer fires on the grid, once; Reset moves it; after Stop nothing of
// the earlier arming is received.
func TestTimerFiresOnTheGridAndStops(t *testing.T) {
	start := time.Now()
	tm := NewTimer(30 * time.Millisecond)
	defer tm.Stop()
	at := <-tm.C
	require.GreaterOrEqual(t, at.Sub(start), 30*time.Millisecond)
	require.Less(t, at.Sub(start), 30*time.Millisecond+Grid+20*time.Millisecond)
	onGridAt(t, at, Grid)
	select {
	case <-tm.C:
		t.Fatal("a one-shot timer fired twice")
	case <-time.After(2 * Grid):
	}

	tm.Reset(Grid)
	tm.Stop()
	select {
	case <-tm.C:
		t.Fatal("a stopped timer fired")
	case <-time.After(3 * Grid):
	}

	start = time.Now()
	tm.Reset(time.Hour)
	tm.Reset(10 * time.Millisecond) // sooner: the clock is re-armed
	at = <-tm.C
	require.Less(t, at.Sub(start), 10*time.Millisecond+Grid+20*time.Millisecond)
}

// Tickers fire at the multiples of their periods: two tickers whose
// periods divide each other tick in the same wake-ups (the same instant
// read by the clock), which is what makes many streams' checks one
// wake-up.
func TestTickersShareWakeUps(t *testing.T) {
	if processClock() == nil {
		t.Skip("no timerfd: runtime timers")
	}
	fast, slow := NewTicker(100*time.Millisecond), NewTicker(200*time.Millisecond)
	defer fast.Stop()
	defer slow.Stop()
	seen := map[time.Time]int{}
	var slowTicks []time.Time
	for len(slowTicks) < 3 {
		select {
		case at := <-fast.C:
			seen[at]++
			onGridAt(t, at, 100*time.Millisecond)
		case at := <-slow.C:
			slowTicks = append(slowTicks, at)
			onGridAt(t, at, 200*time.Millisecond)
		case <-time.After(2 * time.Second):
			t.Fatal("no tick for 2 s")
		}
	}
	// Drain the fast tick of the slow ticks' wake-ups, if not taken yet.
	deadline := time.Now().Add(time.Second)
	for _, at := range slowTicks {
		for seen[at] == 0 && time.Now().Before(deadline) {
			select {
			case f := <-fast.C:
				seen[f]++
			case <-time.After(20 * time.Millisecond):
			}
		}
		require.Equal(t, 1, seen[at], "the slow tick at %v came in a wake-up of its own", at)
	}
	for i := 1; i < len(slowTicks); i++ {
		require.InDelta(t, float64(200*time.Millisecond), float64(slowTicks[i].Sub(slowTicks[i-1])), float64(25*time.Millisecond))
	}
}

// Once every wait is over, the clock's goroutine ends (goleak, TestMain).
func TestNoGoroutineOutlivesTheWaits(t *testing.T) {
	tk := NewTicker(Grid)
	<-tk.C
	tk.Stop()
	tm := NewTimer(time.Hour)
	tm.Stop()
	require.Eventually(t, func() bool {
		c := processClock()
		if c == nil {
			return true
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.running
	}, 5*time.Second, time.Millisecond)
}

// Align rounds up to the multiples of a step on the clock the tickers
// fire by: a ticker's tick is aligned.
func TestAlign(t *testing.T) {
	now := time.Now()
	for _, step := range []time.Duration{4 * time.Millisecond, 100 * time.Millisecond, time.Second} {
		a := Align(now, step)
		require.False(t, a.Before(now))
		require.Less(t, a.Sub(now), step)
		require.Equal(t, a, Align(a, step), "an aligned instant moves")
	}
	tk := NewTicker(100 * time.Millisecond)
	defer tk.Stop()
	at := <-tk.C
	// The tick is read a little after its instant: its instant is the
	// multiple at or before it.
	require.Less(t, Align(at, 100*time.Millisecond).Sub(at), 100*time.Millisecond)
	require.Greater(t, Align(at, 100*time.Millisecond).Sub(at), 80*time.Millisecond, "the tick at %v is not just after a multiple", at)
}
