package supervisor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
)

func TestBackoffDoublesToMaxWithJitter(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 8 * time.Second}
	want := []time.Duration{1, 2, 4, 8, 8}
	for i, w := range want {
		require.Equal(t, w*time.Second, b.Next(), "attempt %d", i)
	}
	b.Reset()
	require.Equal(t, time.Second, b.Next(), "after reset")
	j := Backoff{Initial: 10 * time.Second, Max: time.Minute, Jitter: 0.2, Rand: func() float64 { return 0.99 }}
	got := j.Next()
	require.True(t, got >= 11*time.Second && got <= 12*time.Second, "jittered delay %v outside +20%%", got)
}

func TestHostLimiterNeverExceedsPerMinute(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &HostLimiter{PerMinute: 6, Now: func() time.Time { return now }}
	var taken []time.Time
	for step := 0; step < 600; step++ { // ten minutes in one-second steps, trying every step
		if ok, _ := l.TryTake("h:1935", 0); ok {
			taken = append(taken, now)
		}
		if ok, _ := l.TryTake("other:1935", 0); step == 0 {
			require.True(t, ok, "limits must be per host")
		}
		now = now.Add(time.Second)
	}
	for i := range taken {
		n := 0
		for _, t2 := range taken[i:] {
			if t2.Sub(taken[i]) < time.Minute {
				n++
			}
		}
		require.LessOrEqual(t, n, 6, "%d attempts within a minute starting %v", n, taken[i])
	}
	require.GreaterOrEqual(t, len(taken), 59, "limiter too strict: %d attempts in 10 minutes", len(taken))
}

func TestBreakerOpensOnSameLayerOnly(t *testing.T) {
	now := time.Unix(0, 0)
	b := Breaker{Failures: 3, Window: 5 * time.Minute, Cooldown: 30 * time.Second}
	b.Fail(health.LayerConnect, now)
	b.Fail(health.LayerMedia, now)
	b.Fail(health.LayerSource, now)
	b.Fail(health.LayerConnect, now)
	require.Equal(t, CircuitClosed, b.State(now), "mixed layers and source must not open the circuit")
	require.True(t, b.Fail(health.LayerConnect, now.Add(time.Minute)), "third L2 failure within 5 minutes must open")
	require.Equal(t, CircuitOpen, b.State(now.Add(80*time.Second)), "state during cooldown")
	require.Equal(t, CircuitHalfOpen, b.State(now.Add(2*time.Minute)), "state after cooldown")
	require.True(t, b.Fail(health.LayerConnect, now.Add(2*time.Minute)), "a half-open failure re-opens")
	require.Equal(t, time.Minute, b.OpenUntil().Sub(now.Add(2*time.Minute)), "second cooldown, want doubled 1m")
	b.Succeed()
	require.Equal(t, CircuitClosed, b.State(now), "success closes")
}

func TestBreakerForgetsOldFailures(t *testing.T) {
	now := time.Unix(0, 0)
	b := Breaker{}
	b.Fail(health.LayerNetwork, now)
	b.Fail(health.LayerNetwork, now.Add(3*time.Minute))
	require.False(t, b.Fail(health.LayerNetwork, now.Add(6*time.Minute)), "failures older than the window must not count")
}

func TestHostLimiterSharesHistoryWithPerCallerLimits(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &HostLimiter{Now: func() time.Time { return now }}
	for i := 0; i < 6; i++ {
		ok, _ := l.TryTake("h", 60)
		require.True(t, ok, "a stream allowed 60 a minute was refused")
	}
	ok, wait := l.TryTake("h", 6)
	require.True(t, !ok && wait == time.Minute, "a stream allowed 6 a minute connected after 6 attempts to its host (wait %v)", wait)
	ok, _ = l.TryTake("h", 60)
	require.True(t, ok, "the 60-a-minute stream was refused at 7")
}

func TestHostLimiterFirstAttemptsAreNotHeldBack(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &HostLimiter{Now: func() time.Time { return now }}
	for i := 0; i < 8; i++ {
		l.Take("h") // eight streams starting together
	}
	ok, _ := l.TryTake("h", 6)
	require.False(t, ok, "a reconnect after eight starts must wait for the window")
	require.Equal(t, 8, l.Recent("h"), "want the 8 starts counted")
}

func TestInDurationNeverNegative(t *testing.T) {
	require.Equal(t, "now", inDuration(-9131*time.Millisecond), "a past moment")
	require.Equal(t, "in 8 s", inDuration(8*time.Second), "8 s")
}
