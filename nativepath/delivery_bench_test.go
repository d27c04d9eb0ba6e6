package nativepath

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// Delivery truth figures of the native path (docs/performance.md, "Delivery
// truth (make bench)"). Each benchmark does its own repetitions inside one
// b.N iteration (make bench runs -benchtime 1x).

const (
	benchStallAfter   = 2 * time.Second
	benchStallTimeout = 3 * time.Second
	benchStallRuns    = 5
)

// pct is the nearest-rank percentile q (0..1) of ds: with 5 samples, p50 is
// the 3rd smallest and p99 the largest.
func pct(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkStallDetection: the emulator (profile cloud, MaxSegment 1448)
// stops reading 2 s after the publish; the figure is the verdict's At minus
// that moment, StallTimeout 3 s, 5 sequential runs per source. p99 of 5
// runs is their maximum.
func BenchmarkStallDetection(b *testing.B) {
	sources := []struct {
		name string
		src  func(b *testing.B) string
	}{
		{"sample", func(*testing.B) string { return "builtin:sample" }},
		{"1080p30", func(b *testing.B) string { return "file:" + testpeer.HD1080p(b).Path }},
	}
	for _, s := range sources {
		b.Run(s.name, func(b *testing.B) {
			src := s.src(b)
			for i := 0; i < b.N; i++ {
				var ds []time.Duration
				for range benchStallRuns {
					ds = append(ds, nativeStallOnce(b, src))
				}
				b.ReportMetric(ms(pct(ds, 0.5)), "p50_ms")
				b.ReportMetric(ms(pct(ds, 0.99)), "p99_ms")
				b.Logf("native %s: stall detected p50 %v, p99 (= max of %d) %v after the server stopped reading, StallTimeout %v; runs %v",
					s.name, pct(ds, 0.5).Round(time.Millisecond), len(ds), pct(ds, 0.99).Round(time.Millisecond), benchStallTimeout, roundAll(ds))
			}
		})
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// nativeStallOnce runs one publish into a stalling emulator and returns the
// detection time.
func nativeStallOnce(b *testing.B, source string) time.Duration {
	b.Helper()
	srv := &fmsim.Server{Listen: "127.0.0.1:0", Profile: "cloud", MaxSegment: 1448,
		Rules: []string{"stall_after_publish=" + benchStallAfter.String()}}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	p, err := New(Settings{Source: source, Target: srv.URL("live", "stallbench"), StallTimeout: benchStallTimeout})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, 0, health.NewSignals()) }()
	select {
	case err = <-done:
	case <-time.After(benchStallAfter + benchStallTimeout + 15*time.Second):
		cancel()
		<-done
		b.Fatal("no verdict 20 s after the publish")
	}
	var v *health.Verdict
	if !errors.As(err, &v) || v.Layer != health.LayerUpkeep || v.Cause != health.CauseStalled {
		b.Fatalf("want an L4 stalled verdict, got %v", err)
	}
	ss := srv.Sessions()
	if len(ss) == 0 || !ss[0].Published() {
		b.Fatalf("the emulator's session never published: %+v", ss)
	}
	return v.At.Sub(ss[0].PublishedAt.Add(benchStallAfter))
}

// BenchmarkCappedLag: the 1080p30 4 Mbit/s file through a proxy capped at
// 0.6 of its bitrate for 30 s (native.max_delay 2 s, the default): the lag
// at the server (per media message, arrival minus media timestamp, against
// the earliest), the video frames dropped, and the throughput the server
// took against what real time needs.
func BenchmarkCappedLag(b *testing.B) {
	const capped = 30 * time.Second
	hd := testpeer.HD1080p(b)
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		srv := &fmsim.Server{Listen: "127.0.0.1:0", Profile: "lenient", TranscriptDir: dir, MaxSegment: 1448}
		if err := srv.Start(); err != nil {
			b.Fatal(err)
		}
		px := testpeer.StartProxy(b, srv.Addr())
		capKbps := int(float64(hd.BitRate) * 0.6 / 1000)
		px.SetBandwidth(capKbps)
		p, err := New(Settings{Source: "file:" + hd.Path, Target: px.URL(srv.URL("live", "capbench"))})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		sig := health.NewSignals()
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- p.Run(ctx, 0, sig) }()
		var thr, need []int64
		congestedAfter := time.Duration(-1)
		for time.Since(start) < capped {
			select {
			case err := <-done:
				cancel()
				b.Fatalf("the session ended under the cap: %v", err)
			case <-time.After(time.Second):
			}
			if congestedAfter < 0 && sig.Congested() {
				congestedAfter = time.Since(start)
			}
			if time.Since(start) > 5*time.Second { // past the start-up burst
				thr = append(thr, sig.ThroughputBps.Load())
				need = append(need, sig.NeededBps.Load())
			}
		}
		dropped, sent := sig.DroppedFrames.Load(), sig.VideoFrames.Load()
		cancel()
		if err := <-done; err != nil {
			b.Fatalf("Run after cancel: %v", err)
		}
		srv.Close()
		ss := srv.Sessions()
		if len(ss) != 1 {
			b.Fatalf("%d sessions: the path reconnected under the cap", len(ss))
		}
		ls := lags(arrivals(b, ss[0].Transcript))
		if len(ls) == 0 {
			b.Fatal("no media in the transcript")
		}
		slices.Sort(thr)
		slices.Sort(need)
		thrMed, needMed := thr[len(thr)/2], need[len(need)/2]
		p50, p99, mx := pct(ls, 0.5), pct(ls, 0.99), pct(ls, 1)
		b.ReportMetric(ms(p50), "lag_p50_ms")
		b.ReportMetric(ms(p99), "lag_p99_ms")
		b.ReportMetric(ms(mx), "lag_max_ms")
		b.ReportMetric(float64(dropped), "dropped_frames")
		b.ReportMetric(float64(thrMed)/1000, "throughput_kbps")
		b.ReportMetric(float64(needMed)/1000, "needed_kbps")
		b.Logf("native 1080p30 (%d kbit/s) capped at %d kbit/s for %v: lag at the server p50 %v p99 %v max %v (%d media messages); "+
			"%d of %d video frames dropped (%.1f%%); throughput median %d kbit/s of %d needed (%.2f); congested %v after the start",
			hd.BitRate/1000, capKbps, capped, p50.Round(time.Millisecond), p99.Round(time.Millisecond), mx.Round(time.Millisecond), len(ls),
			dropped, dropped+sent, 100*float64(dropped)/math.Max(1, float64(dropped+sent)),
			thrMed/1000, needMed/1000, float64(thrMed)/math.Max(1, float64(needMed)), congestedAfterText(congestedAfter))
	}
}

func congestedAfterText(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprint(d.Round(time.Second))
}
