package supervisor

import (
	"testing"
	"time"

	"github.com/fmspush/fmspush/health"
)

func TestBackoffDoublesToMaxWithJitter(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 8 * time.Second}
	want := []time.Duration{1, 2, 4, 8, 8}
	for i, w := range want {
		if got := b.Next(); got != w*time.Second {
			t.Fatalf("attempt %d: %v, want %v", i, got, w*time.Second)
		}
	}
	b.Reset()
	if got := b.Next(); got != time.Second {
		t.Fatalf("after reset: %v", got)
	}
	j := Backoff{Initial: 10 * time.Second, Max: time.Minute, Jitter: 0.2, Rand: func() float64 { return 0.99 }}
	if got := j.Next(); got < 11*time.Second || got > 12*time.Second {
		t.Fatalf("jittered delay %v outside +20%%", got)
	}
}

func TestHostLimiterNeverExceedsPerMinute(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &HostLimiter{PerMinute: 6, Now: func() time.Time { return now }}
	var taken []time.Time
	for step := 0; step < 600; step++ { // ten minutes in one-second steps, trying every step
		if ok, _ := l.TryTake("h:1935", 0); ok {
			taken = append(taken, now)
		}
		if ok, _ := l.TryTake("other:1935", 0); !ok && step == 0 {
			t.Fatal("limits must be per host")
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
		if n > 6 {
			t.Fatalf("%d attempts within a minute starting %v", n, taken[i])
		}
	}
	if len(taken) < 59 {
		t.Fatalf("limiter too strict: %d attempts in 10 minutes", len(taken))
	}
}

func TestBreakerOpensOnSameLayerOnly(t *testing.T) {
	now := time.Unix(0, 0)
	b := Breaker{Failures: 3, Window: 5 * time.Minute, Cooldown: 30 * time.Second}
	b.Fail(health.LayerConnect, now)
	b.Fail(health.LayerMedia, now)
	b.Fail(health.LayerSource, now)
	b.Fail(health.LayerConnect, now)
	if b.State(now) != CircuitClosed {
		t.Fatal("mixed layers and source must not open the circuit")
	}
	if !b.Fail(health.LayerConnect, now.Add(time.Minute)) {
		t.Fatal("third L2 failure within 5 minutes must open")
	}
	if s := b.State(now.Add(80 * time.Second)); s != CircuitOpen {
		t.Fatalf("state during cooldown = %s", s)
	}
	if s := b.State(now.Add(2 * time.Minute)); s != CircuitHalfOpen {
		t.Fatalf("state after cooldown = %s", s)
	}
	if !b.Fail(health.LayerConnect, now.Add(2*time.Minute)) {
		t.Fatal("a half-open failure re-opens")
	}
	if until := b.OpenUntil().Sub(now.Add(2 * time.Minute)); until != time.Minute {
		t.Fatalf("second cooldown %v, want doubled 1m", until)
	}
	b.Succeed()
	if b.State(now) != CircuitClosed {
		t.Fatal("success closes")
	}
}

func TestBreakerForgetsOldFailures(t *testing.T) {
	now := time.Unix(0, 0)
	b := Breaker{}
	b.Fail(health.LayerNetwork, now)
	b.Fail(health.LayerNetwork, now.Add(3*time.Minute))
	if b.Fail(health.LayerNetwork, now.Add(6*time.Minute)) {
		t.Fatal("failures older than the window must not count")
	}
}

func TestHostLimiterSharesHistoryWithPerCallerLimits(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &HostLimiter{Now: func() time.Time { return now }}
	for i := 0; i < 6; i++ {
		if ok, _ := l.TryTake("h", 60); !ok {
			t.Fatal("a stream allowed 60 a minute was refused")
		}
	}
	if ok, wait := l.TryTake("h", 6); ok || wait != time.Minute {
		t.Fatalf("a stream allowed 6 a minute connected after 6 attempts to its host (wait %v)", wait)
	}
	if ok, _ := l.TryTake("h", 60); !ok {
		t.Fatal("the 60-a-minute stream was refused at 7")
	}
}

func TestHostLimiterFirstAttemptsAreNotHeldBack(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &HostLimiter{Now: func() time.Time { return now }}
	for i := 0; i < 8; i++ {
		l.Take("h") // eight streams starting together
	}
	if ok, _ := l.TryTake("h", 6); ok {
		t.Fatal("a reconnect after eight starts must wait for the window")
	}
	if got := l.Recent("h"); got != 8 {
		t.Fatalf("recent %d, want the 8 starts counted", got)
	}
}

func TestInDurationNeverNegative(t *testing.T) {
	if got := inDuration(-9131 * time.Millisecond); got != "now" {
		t.Fatalf("a past moment reads %q", got)
	}
	if got := inDuration(8 * time.Second); got != "in 8 s" {
		t.Fatalf("8 s reads %q", got)
	}
}
