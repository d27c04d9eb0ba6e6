package supervisor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
)

// slowStop is a path that goes live and takes unpublish long to stop, as a
// server that answers FCUnpublish slowly does.
func slowStop(unpublish time.Duration) *ctlPath {
	return &ctlPath{kind: "native", script: func(ctx context.Context, _ int64, sig *health.Signals) error {
		sig.MarkLive()
		<-ctx.Done()
		t := time.NewTimer(unpublish)
		defer t.Stop()
		<-t.C
		return nil
	}}
}

// A reload that restarts many streams never makes a status read wait, and
// the streams stop together, not one after the other.
func TestManagerStatusNeverWaitsForAReload(t *testing.T) {
	const n, unpublish = 8, 400 * time.Millisecond
	m := &Manager{}
	defer m.Close()
	specs := func(fp string) []Spec {
		var out []Spec
		for i := range n {
			name := fmt.Sprintf("s%d", i)
			out = append(out, Spec{Name: name, Fingerprint: fp, Build: func() *Stream {
				return &Stream{Name: name, Enabled: true, Preferred: PathSpec{Path: slowStop(unpublish)}, Policy: fastPolicy()}
			}})
		}
		return out
	}
	ctx := context.Background()
	m.Apply(ctx, specs("1"))
	require.Eventually(t, func() bool {
		for _, s := range m.Streams() {
			if s.State != health.StateLive {
				return false
			}
		}
		return len(m.Streams()) == n
	}, 5*time.Second, 5*time.Millisecond)

	done := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		m.Apply(ctx, specs("2"))
		done <- time.Since(start)
	}()
	var slowest time.Duration
	for {
		select {
		case took := <-done:
			require.Less(t, took, 2*unpublish, "%d streams stopped one by one", n)
			require.Less(t, slowest, 100*time.Millisecond, "a status read waited for the reload")
			return
		default:
		}
		start := time.Now()
		require.Len(t, m.Streams(), n, "every stream shows during the reload")
		slowest = max(slowest, time.Since(start))
	}
}

// The timelines of stopped streams are kept for endedKeep, then dropped.
func TestManagerForgetsOldTimelines(t *testing.T) {
	now := time.Now()
	m := &Manager{ended: map[string]Timeline{
		"recent": {LastTS: time.Second, At: now.Add(-time.Hour)},
		"old":    {LastTS: time.Second, At: now.Add(-endedKeep - time.Minute)},
		"never":  {},
	}}
	m.stopAll(nil)
	tl, ok := m.Timeline("recent")
	require.True(t, ok)
	require.Equal(t, time.Second, tl.LastTS)
	_, ok = m.Timeline("old")
	require.False(t, ok, "a timeline older than endedKeep kept")
	_, ok = m.Timeline("never")
	require.False(t, ok, "an empty timeline kept")
}
