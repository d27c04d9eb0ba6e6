package tap

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
)

// benchStallRuns is how many stalls BenchmarkTapStallDetection measures
// per source, one after the other (each costs ffmpeg's start, 2 s of media
// and the detection: about 6 s).
const benchStallRuns = 5

// BenchmarkTapStallDetection (Delivery truth, docs/performance.md): ffmpeg
// pushes through the relay to the emulator (profile cloud, 1448-byte
// segments), which stops reading 2 s after the publish; the figure is the
// relay's verdict At minus that moment (StallTimeout 3 s), from the
// server's RTMP acknowledgements.
func BenchmarkTapStallDetection(b *testing.B) {
	sources := []struct {
		name string
		src  func(testing.TB) string
	}{
		{"sample", testpeer.SamplePath},
		{"1080p30", func(b testing.TB) string { return testpeer.HD1080p(b).Path }},
	}
	for _, s := range sources {
		b.Run(s.name, func(b *testing.B) {
			src := s.src(b)
			for range b.N {
				var ds []time.Duration
				for range benchStallRuns {
					ds = append(ds, stallOnce(b, src, "benchkey").detect)
				}
				b.ReportMetric(ms(pct(ds, 0.5)), "p50_ms")
				b.ReportMetric(ms(pct(ds, 0.99)), "p99_ms")
				b.Logf("tap %s: stall judged p50 %v, p99 (= max of %d) %v after the server stopped reading, StallTimeout %v; runs %v",
					s.name, pct(ds, 0.5).Round(time.Millisecond), len(ds), pct(ds, 0.99).Round(time.Millisecond), stallTimeout, roundAll(ds))
			}
		})
	}
}

// pct is the nearest-rank percentile q (0..1) of ds: with 5 samples, p50 is
// the 3rd smallest and p99 the largest.
func pct(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
