package ffmpegpath

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
)

// A -progress capture of ffmpeg 5.1.9 pushing the sample (two blocks).
const progressCapture = `frame=0
fps=0.00
stream_0_0_q=-1.0
bitrate= 127.0kbits/s
total_size=365
out_time_us=23000
out_time_ms=23000
out_time=00:00:00.023000
dup_frames=0
drop_frames=0
speed=2.3e+04x
progress=continue
frame=13
fps=0.00
stream_0_0_q=-1.0
bitrate=N/A
total_size=33731
out_time_us=534000
out_time_ms=534000
out_time=00:00:00.534000
dup_frames=1
drop_frames=2
speed=1.05x
progress=end
`

func TestProgressParser(t *testing.T) {
	var p ProgressParser
	var blocks []Progress
	for _, l := range strings.Split(progressCapture, "\n") {
		if b, ok := p.Line(l); ok {
			blocks = append(blocks, b)
		}
	}
	require.Len(t, blocks, 2)
	first := Progress{Frame: 0, Bitrate: 127, TotalSize: 365, OutTime: 23 * time.Millisecond, Speed: 23000}
	assert.Equal(t, first, blocks[0], "first block")
	last := Progress{Frame: 13, TotalSize: 33731, OutTime: 534 * time.Millisecond, Speed: 1.05, DupFrame: 1, DropFrame: 2, End: true}
	assert.Equal(t, last, blocks[1], "last block")
}

func TestProgressOutTimeMsFallback(t *testing.T) {
	var p ProgressParser
	p.Line("out_time_ms=1500000")
	b, ok := p.Line("progress=continue")
	require.True(t, ok && b.OutTime == 1500*time.Millisecond, "%+v %v", b, ok)
}

func TestReadProgress(t *testing.T) {
	out := make(chan Progress, 4)
	ReadProgress(strings.NewReader(strings.ReplaceAll(progressCapture, "\n", "\r\n")+strings.Repeat("x", 100_000)+"\nframe=1\nprogress=continue\n"), out)
	close(out)
	n := 0
	for range out {
		n++
	}
	require.Equal(t, 3, n, "blocks, want 3 (an overlong line is skipped)")
}

func FuzzProgressParser(f *testing.F) {
	f.Add(progressCapture)
	f.Add("frame=-1\ntotal_size=NaN\nspeed=infx\nout_time_us=99999999999999999999\nprogress=continue\n")
	f.Add("bitrate=   N/A\n=\nprogress\nprogress=\n")
	f.Fuzz(func(t *testing.T, s string) {
		var p ProgressParser
		for _, l := range strings.Split(s, "\n") {
			b, ok := p.Line(l)
			if !ok {
				continue
			}
			require.False(t, b.Frame < 0 || b.TotalSize < 0 || b.OutTime < 0 || b.Speed < 0 || b.FPS < 0 || b.Bitrate < 0 ||
				b.DropFrame < 0 || b.DupFrame < 0 || b.Speed != b.Speed, "negative or NaN value in %+v", b)
		}
	})
}

// The next path continues the timeline from LastTimestamp, so at the exit it
// must cover what ffmpeg sent after its last (lagging) progress report.
func TestExitBoundsLastTimestamp(t *testing.T) {
	sig := health.NewSignals()
	r := &run{base: 10 * time.Second, sig: sig}
	t0 := time.Now()
	r.onProgress(Progress{Frame: 50, TotalSize: 1000, OutTime: 2 * time.Second, Speed: 1}, t0)
	require.Equal(t, int64(12000), sig.LastTimestamp.Load(), "after the report")
	r.last.Speed = 1.5 // flushing faster than real time
	r.boundTimestamp(t0.Add(200 * time.Millisecond))
	require.GreaterOrEqual(t, sig.LastTimestamp.Load(), int64(12000+300+500), "at exit 200ms after the report at 1.5x")
}
