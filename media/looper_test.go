package media

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/internal/wake"
	"github.com/stretchr/testify/require"
)

// skipClock jumps forward by d whenever someone waits for d, so paced code
// runs at full speed while the clock records how long it waited.
type skipClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *skipClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *skipClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	c.mu.Unlock()
	return ch
}

// stuckClock never lets time pass.
type stuckClock struct{}

func (stuckClock) Now() time.Time                       { return time.Unix(0, 0) }
func (stuckClock) After(time.Duration) <-chan time.Time { return nil }

// A hundred passes over the sample: timestamps start at 0, rise strictly
// per track, and every step, the loop seams included, is one frame interval
// of its track (±1 ms of FLV's millisecond rounding): the seam used to be a
// 71 ms video step. Audio never drifts from video by more than half an
// audio frame.
func TestLooperContinuousTimestamps(t *testing.T) {
	c := loadSample(t)
	l, err := NewLooper(c, nil)
	require.NoError(t, err)
	ctx := context.Background()
	step := map[bool]time.Duration{true: c.VideoFrameDuration(), false: c.AudioFrameDuration()}
	last := map[bool]time.Duration{true: -1, false: -1}
	for i := 0; l.Loops() < 100; i++ {
		u, err := l.Next(ctx)
		require.NoError(t, err)
		if i == 0 {
			require.Equal(t, time.Duration(0), u.DTS, "first DTS")
		}
		v := u.Codec.IsVideo()
		if last[v] >= 0 {
			gap := u.DTS - last[v]
			require.True(t, gap >= step[v]-1500*time.Microsecond && gap <= step[v]+1500*time.Microsecond,
				"step of %v at %v (video %v); one frame is %v", gap, u.DTS, v, step[v])
		}
		last[v] = u.DTS
		if l.audio.loop == l.video.loop {
			drift := l.audio.off - l.video.off
			require.True(t, drift.Abs() <= step[false]/2, "A/V drift %v in loop %v", drift, l.Loops())
		}
	}
}

// Paced by an injected clock: each video unit is released exactly when its
// DTS is due, so after 25 s of media the clock has advanced by the last
// video DTS; each audio unit comes out with the video frame before it (at
// most one video frame early, never late), so that the looper waits once
// per video frame, not once per unit.
func TestLooperPacedByClock(t *testing.T) {
	c := loadSample(t)
	clk := &skipClock{now: time.Unix(1000, 0)}
	l, err := NewLooper(c, clk)
	require.NoError(t, err)
	step := c.VideoFrameDuration()
	var u Unit
	waits, videos, last := 0, 0, clk.Now()
	for u.DTS < 25*time.Second {
		u, err = l.Next(context.Background())
		require.NoError(t, err)
		due := time.Unix(1000, 0).Add(u.DTS)
		if u.Codec.IsVideo() {
			videos++
			require.Equal(t, due, clk.Now(), "release time of video at %v", u.DTS)
		} else {
			require.False(t, clk.Now().After(due), "audio at %v released late, at %v", u.DTS, clk.Now())
			require.False(t, clk.Now().Before(due.Add(-step)), "audio at %v released more than a video frame early, at %v", u.DTS, clk.Now())
		}
		if clk.Now() != last {
			waits++
			last = clk.Now()
		}
	}
	require.LessOrEqual(t, waits, videos, "the looper waited more often than once per video frame")
}

// A paced Next returns promptly when its context ends.
func TestLooperCancel(t *testing.T) {
	l, err := NewLooper(loadSample(t), stuckClock{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	_, err = l.Next(ctx) // DTS 0 is due at once
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { _, err := l.Next(ctx); done <- err }()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "Next ignored the cancelled context")
	}
}

// file: sources loop FLV files; a missing file says so.
func TestOpenFileLooper(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(testpeer.SamplePath(t))
	require.NoError(t, err)
	p := filepath.Join(dir, "cam.flv")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	l, err := OpenFileLooper(p)
	require.NoError(t, err)
	require.Equal(t, 640, l.Video().Width)
	require.Equal(t, 44100, l.Audio().SampleRate)

	_, err = OpenFileLooper(filepath.Join(dir, "missing.flv"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// BenchmarkLooperUnpaced measures the cost of replaying units.
func BenchmarkLooperUnpaced(b *testing.B) {
	l, err := NewLooper(loadSample(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// jumpClock is a skipClock that can also jump, as a paused process sees.
func (c *skipClock) jump(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// After the process is paused for 20 s (SIGSTOP, CPU starvation), the
// looper does not burst 20 s of media out at once: the next unit comes at
// once and the rest at real time again.
func TestLooperDoesNotBurstAfterAPause(t *testing.T) {
	c := loadSample(t)
	clk := &skipClock{now: time.Unix(1000, 0)}
	l, err := NewLooper(c, clk)
	require.NoError(t, err)
	ctx := context.Background()
	var u Unit
	for u.DTS < 2*time.Second {
		u, err = l.Next(ctx)
		require.NoError(t, err)
	}
	clk.jump(20 * time.Second)
	resumed := clk.Now()
	first, err := l.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, resumed, clk.Now(), "the first unit after the pause is due at once")
	for u = first; u.DTS < first.DTS+time.Second; {
		u, err = l.Next(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, u.DTS-first.DTS, clk.Now().Sub(resumed), "after the pause, units are paced at real time again")
}

// A wait on the real clock ends on the process-wide grid, at most one
// PaceGrid later than asked: loopers due within the same PaceGrid wake
// together.
func TestOnGrid(t *testing.T) {
	now := time.Now()
	for _, d := range []time.Duration{time.Microsecond, time.Millisecond, 33 * time.Millisecond, 40*time.Millisecond + 7} {
		g := onGrid(now, d, PaceGrid)
		require.GreaterOrEqual(t, g, d)
		require.Less(t, g, d+PaceGrid)
		require.Equal(t, now.Add(g), wake.Align(now.Add(g), PaceGrid), "wait of %v ends off the grid", d)
	}
}

// On the real clock, loopers wait on the process's clock (internal/wake): each video unit
// comes out at or after its due time, within a few milliseconds (the grid
// and scheduling); two loopers run together; cancelling one while it
// waits returns at once.
func TestLooperPacedByTheRealClock(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 2)
	for range 2 {
		l, err := NewLooper(loadSample(t), SystemClock)
		require.NoError(t, err)
		go func() {
			start := time.Now()
			for {
				u, err := l.Next(ctx)
				if err != nil {
					done <- nil
					return
				}
				if !u.Codec.IsVideo() {
					continue
				}
				late := time.Since(start) - u.DTS
				if late < 0 || late > PaceGrid+50*time.Millisecond {
					done <- fmt.Errorf("video at %v out %v late", u.DTS, late)
					return
				}
				if u.DTS > 400*time.Millisecond {
					done <- nil
					return
				}
			}
		}()
	}
	for range 2 {
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			require.FailNow(t, "the loopers did not get through 400 ms of media")
		}
	}
	l, err := NewLooper(loadSample(t), SystemClock)
	require.NoError(t, err)
	_, err = l.Next(ctx) // due at once
	require.NoError(t, err)
	for {
		u, err := l.Next(ctx)
		require.NoError(t, err)
		if u.Codec.IsVideo() {
			break
		}
	}
	go func() { _, err := l.Next(ctx); done <- err }()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		require.FailNow(t, "a paced Next ignored its cancelled context")
	}
}

// With a coarse Grid a looper releases the clip in bursts: every unit
// comes out at or after its due time and less than a Grid (plus
// scheduling) late, audio at most a video frame early, and the wake-ups
// number about one a Grid, not one a frame.
func TestLooperGridSendsBursts(t *testing.T) {
	const grid = 100 * time.Millisecond
	l, err := NewLooper(loadSample(t), SystemClock)
	require.NoError(t, err)
	l.Grid = grid
	ctx := context.Background()
	start := time.Now()
	out := map[time.Duration]int{} // release instants, rounded to 5 ms
	var videos int
	for {
		u, err := l.Next(ctx)
		require.NoError(t, err)
		late := time.Since(start) - u.DTS
		if u.Codec.IsVideo() {
			videos++
			require.GreaterOrEqual(t, late, time.Duration(0), "video at %v came out %v early", u.DTS, -late)
		} else {
			require.GreaterOrEqual(t, late, -l.video.step, "audio at %v came out %v early", u.DTS, -late)
		}
		require.Less(t, late, grid+50*time.Millisecond, "unit at %v came out %v late", u.DTS, late)
		out[time.Since(start).Round(5*time.Millisecond)]++
		if u.DTS > time.Second {
			break
		}
	}
	t.Logf("%d video frames in %d bursts", videos, len(out))
	require.Greater(t, videos, 20)
	require.LessOrEqual(t, len(out), 14, "about one burst a %v over one second of media", grid)
}
