package nativepath

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// A link capped at 0.6 of the stream's bitrate for 60 s (1080p30 4 Mbit/s):
// the native path keeps the delay at most max_delay + 1 s (p99, measured at
// the server), audio arrives whole (no gap over 100 ms), drops are counted,
// the session never fails over, the signals say congested with the measured
// throughput; when the cap lifts, drops stop within one GOP.
func TestCongestedUplinkKeepsDelayBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("60 s under a bandwidth cap")
	}
	const (
		maxDelay = 2 * time.Second
		capped   = 60 * time.Second
		gop      = 2 * time.Second // the 1080p source: -g 60 at 30 fps
	)
	hd := testpeer.HD1080p(t)
	dir := t.TempDir()
	srv := &fmsim.Server{Listen: "127.0.0.1:0", Profile: "lenient", TranscriptDir: dir, MaxSegment: 1448}
	require.NoError(t, srv.Start())
	t.Cleanup(func() { srv.Close() })
	px := testpeer.StartProxy(t, srv.Addr())
	capKbps := int(float64(hd.BitRate) * 0.6 / 1000)
	px.SetBandwidth(capKbps)

	p := mustNew(t, Settings{Source: "file:" + hd.Path, Target: px.URL(srv.URL("live", "capped")), MaxDelay: maxDelay})
	r := start(t, p, 0)
	testpeer.Eventually(t, 20*time.Second, "congested", r.sig.Congested)
	capStart := time.Now()
	var throughput []int64
	for time.Since(capStart) < capped {
		select {
		case err := <-r.done:
			require.FailNow(t, "the session ended under the cap", "%v", err)
		case <-time.After(time.Second):
		}
		throughput = append(throughput, r.sig.ThroughputBps.Load())
		require.True(t, r.sig.Congested(), "not congested %v into the cap", time.Since(capStart))
	}
	dropped := r.sig.DroppedFrames.Load()
	require.Positive(t, dropped)

	px.SetBandwidth(0)
	lifted := time.Now()
	lastDrop, last := lifted, dropped
	tick := time.NewTicker(100 * time.Millisecond) // samples when the drop counter last changed
	defer tick.Stop()
	for now := range tick.C {
		if n := r.sig.DroppedFrames.Load(); n != last {
			last, lastDrop = n, now
		}
		if now.Sub(lifted) >= 3*gop {
			break
		}
	}
	require.NoError(t, r.stop(t))

	slices.Sort(throughput)
	med := throughput[len(throughput)/2]
	as := arrivals(t, srv.Sessions()[0].Transcript)
	ls := lags(as)
	sorted := slices.Clone(ls)
	slices.Sort(sorted)
	p99 := sorted[len(sorted)*99/100]
	var audioGap time.Duration
	var prev *arrival
	for i := range as {
		if as[i].video {
			continue
		}
		if prev != nil {
			audioGap = max(audioGap, as[i].ts-prev.ts)
		}
		prev = &as[i]
	}
	t.Logf("cap %d kbit/s (stream %d kbit/s): throughput median %d kbit/s, %d video frames dropped, lag p99 %v max %v, largest audio gap %v, last drop %v after the cap lifted",
		capKbps, hd.BitRate/1000, med/1000, dropped, p99, sorted[len(sorted)-1], audioGap, lastDrop.Sub(lifted).Round(10*time.Millisecond))
	require.LessOrEqual(t, p99, maxDelay+time.Second)
	require.LessOrEqual(t, audioGap, 100*time.Millisecond)
	require.InDelta(t, float64(capKbps*1000), float64(med), float64(capKbps*1000)*0.25)
	require.LessOrEqual(t, lastDrop.Sub(lifted), gop+500*time.Millisecond)
	require.Len(t, srv.Sessions(), 1, "no reconnect")
}
