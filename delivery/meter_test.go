package delivery

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// sim is a simulated connection: a writer handing bytes to TCP, a peer kernel acknowledging
// them into a receive buffer, and a peer application reading that buffer.
type sim struct {
	t0      time.Time
	now     time.Time
	sent    uint64 // handed to TCP
	acked   uint64 // acknowledged by the peer's kernel
	read    uint64 // read by the peer's application
	wnd     uint32 // the peer's advertised window
	bufSize uint32 // the peer's receive buffer
	stale   bool   // the window is not updated after reads (no window update sent)
}

func newSim(buf uint32) *sim {
	t0 := time.Unix(1_700_000_000, 0)
	return &sim{t0: t0, now: t0, wnd: buf, bufSize: buf}
}

// step advances d: the writer writes w bytes, the peer's kernel takes what fits, the peer's
// application reads up to r bytes, and the ACK (sent only for new data) carries the window.
func (s *sim) step(d time.Duration, w, r uint64) Sample {
	s.now = s.now.Add(d)
	s.sent += w
	room := uint64(s.bufSize) - (s.acked - s.read)
	s.acked += min(s.sent-s.acked, room)
	s.read += min(r, s.acked-s.read)
	if w > 0 && !s.stale {
		s.wnd = uint32(uint64(s.bufSize) - (s.acked - s.read))
	}
	return s.sample()
}

func (s *sim) sample() Sample {
	return Sample{At: s.now, Acked: s.acked, Queued: s.sent - s.acked, PeerWindow: s.wnd, RTT: time.Millisecond}
}

func TestSampleSent(t *testing.T) {
	require.Equal(t, uint64(15), Sample{Acked: 10, Queued: 5}.Sent())
}

func TestMeterHealthyFlowNeverStalls(t *testing.T) {
	s, m := newSim(64<<10), &Meter{StallTimeout: time.Second}
	for i := range 1000 { // 100 s at 100 ms, 50 KB/s, a reader that keeps up
		r := m.Observe(s.step(100*time.Millisecond, 5000, 1<<20))
		require.False(t, r.Stalled, "sample %d: %+v", i, r)
		require.Zero(t, r.StalledFor)
		require.Equal(t, s.read, r.Taken)
	}
	r := m.Observe(s.step(100*time.Millisecond, 5000, 1<<20))
	require.InDelta(t, 400_000, r.Throughput, 1000) // 5000 B per 100 ms
}

func TestMeterStallsOnceTimeoutPassedAfterTakenStopped(t *testing.T) {
	const step = 100 * time.Millisecond
	s, m := newSim(1<<20), &Meter{StallTimeout: time.Second}
	for range 20 {
		m.Observe(s.step(step, 5000, 1<<20))
	}
	lastAdvance := s.now
	taken := s.read
	for i := 1; i <= 30; i++ { // the reader stops: the kernel still acks (1 MB buffer)
		r := m.Observe(s.step(step, 5000, 0))
		require.Equal(t, s.acked, s.sent, "the peer's kernel still takes everything")
		require.Equal(t, taken, r.Taken)
		require.Equal(t, s.acked-taken, r.Backlog)
		require.Equal(t, s.sent-taken, r.Pending)
		require.Equal(t, s.now.Sub(lastAdvance), r.StalledFor)
		require.Equal(t, i >= 10, r.Stalled, "sample %d after the stop: %v", i, r.StalledFor)
	}
	r := m.Observe(s.step(step, 5000, 1<<20)) // reading again
	require.False(t, r.Stalled)
	require.Zero(t, r.StalledFor)
	require.Equal(t, s.read, r.Taken)
}

func TestMeterDefaultTimeout(t *testing.T) {
	s, m := newSim(1<<20), &Meter{}
	m.Observe(s.step(100*time.Millisecond, 5000, 1<<20))
	var r Reading
	for range 29 {
		r = m.Observe(s.step(100*time.Millisecond, 5000, 0))
	}
	require.False(t, r.Stalled, r.StalledFor)
	r = m.Observe(s.step(100*time.Millisecond, 5000, 0))
	require.True(t, r.Stalled, r.StalledFor)
	require.Equal(t, DefaultStallTimeout, r.StalledFor)
}

func TestMeterBlockedWriterStalls(t *testing.T) {
	s, m := newSim(64<<10), &Meter{StallTimeout: time.Second}
	m.Observe(s.step(100*time.Millisecond, 5000, 1<<20))
	var r Reading
	for range 20 { // the buffer fills, then the writer's bytes wait in TCP (Queued > 0)
		r = m.Observe(s.step(100*time.Millisecond, 50_000, 0))
	}
	require.Greater(t, s.sent, s.acked)
	require.True(t, r.Stalled)
	for range 20 { // the writer is blocked: Sent no longer grows, bytes still queued
		r = m.Observe(s.step(100*time.Millisecond, 0, 0))
	}
	require.True(t, r.Stalled)
	require.Equal(t, 4*time.Second, r.StalledFor)
}

func TestMeterIdleWriterWithStaleWindowNeverStalls(t *testing.T) {
	s, m := newSim(64<<10), &Meter{StallTimeout: time.Second}
	for range 10 {
		m.Observe(s.step(100*time.Millisecond, 5000, 1<<20))
	}
	// A last small write is acked before the application reads it; the application reads it
	// but sends no window update: the window stays reduced while the source is paused.
	s.stale = true
	s.wnd -= 300
	r := m.Observe(s.step(100*time.Millisecond, 300, 1<<20))
	require.Equal(t, uint64(300), r.Backlog)
	require.Equal(t, uint64(300), r.Pending)
	for i := range 600 { // a minute idle
		r = m.Observe(s.step(100*time.Millisecond, 0, 0))
		require.False(t, r.Stalled, "sample %d: %+v", i, r)
		require.LessOrEqual(t, r.StalledFor, 100*time.Millisecond)
	}
	// The source resumes: the next ACK carries the fresh window and Taken catches up.
	s.stale = false
	r = m.Observe(s.step(100*time.Millisecond, 5000, 1<<20))
	require.False(t, r.Stalled)
	require.Zero(t, r.StalledFor)
	require.Equal(t, s.read, r.Taken)
}

func TestMeterIdleWriterWithAllTakenNeverStalls(t *testing.T) {
	s, m := newSim(64<<10), &Meter{StallTimeout: time.Second}
	m.Observe(s.step(100*time.Millisecond, 5000, 1<<20))
	for range 100 {
		r := m.Observe(s.step(100*time.Millisecond, 0, 0))
		require.Zero(t, r.Pending)
		require.Zero(t, r.StalledFor)
	}
}

func TestMeterTakenNeverDecreases(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s, m := newSim(256<<10), &Meter{StallTimeout: time.Second}
	var prev uint64
	for range 5000 {
		s.stale = rng.IntN(4) == 0
		r := m.Observe(s.step(time.Duration(rng.IntN(200))*time.Millisecond, uint64(rng.IntN(20_000)), uint64(rng.IntN(20_000))))
		require.GreaterOrEqual(t, r.Taken, prev)
		require.LessOrEqual(t, r.Taken, s.acked)
		require.Equal(t, s.sent-r.Taken, r.Pending)
		prev = r.Taken
	}
	// A window growing past its earlier maximum or a sample going backwards changes nothing.
	r := m.Observe(Sample{At: s.now.Add(time.Second), Acked: 0, PeerWindow: 1})
	require.Equal(t, prev, r.Taken)
}

func TestMeterLag(t *testing.T) {
	var m Meter
	at := time.Unix(0, 0)
	obs := func(acked uint64) Reading {
		at = at.Add(100 * time.Millisecond)
		return m.Observe(Sample{At: at, Acked: acked, Queued: 10_000 - acked, PeerWindow: 1 << 20})
	}
	require.Zero(t, obs(0).Lag, "no marks")
	for i := range 10 { // frames of 1000 bytes, 40 ms apart: frame i ends at 1000(i+1)
		m.Mark(uint64(1000*(i+1)), time.Duration(i)*40*time.Millisecond)
	}
	require.Equal(t, 360*time.Millisecond, obs(500).Lag, "nothing marked taken: last less first")
	require.Equal(t, 360*time.Millisecond, obs(1000).Lag, "frame 0 taken")
	require.Equal(t, 240*time.Millisecond, obs(4500).Lag, "frames 0-3 taken")
	require.Equal(t, time.Duration(0), obs(10_000).Lag, "all taken")
	require.True(t, m.marks.hasTkn, "the newest taken mark is kept")
	require.Zero(t, m.marks.pending.n, "older taken marks are dropped")
	m.Mark(11_000, 400*time.Millisecond)
	require.Equal(t, 40*time.Millisecond, obs(10_000).Lag)
	m.Mark(10_500, 390*time.Millisecond) // offsets went back: the mark above is replaced
	require.Equal(t, 1, m.marks.pending.n)
	require.Equal(t, 30*time.Millisecond, obs(10_000).Lag)
}

func TestMeterRingsAreBounded(t *testing.T) {
	var m Meter
	at := time.Unix(0, 0)
	for i := range 3 * maxMarks { // marks never taken
		m.Mark(uint64(i+1)*1000, time.Duration(i)*time.Millisecond)
	}
	require.Equal(t, maxMarks, m.marks.pending.n)
	require.Len(t, m.marks.pending.buf, maxMarks)
	r := m.Observe(Sample{At: at, Acked: 0, Queued: 1 << 30, PeerWindow: 1 << 20})
	require.Equal(t, time.Duration(maxMarks-1)*time.Millisecond, r.Lag, "the oldest marks were dropped")
	for i := range 100_000 { // samples every millisecond for 100 s
		at = at.Add(time.Millisecond)
		m.Observe(Sample{At: at, Acked: uint64(i) * 100, Queued: 1 << 30, PeerWindow: 1 << 20})
	}
	require.LessOrEqual(t, m.takenLog.pts.n, rateSlots)
	require.Len(t, m.takenLog.pts.buf, rateSlots)
	base := m.takenLog.pts.at(0).at
	require.WithinDuration(t, at.Add(-rateWindow), base, rateWindow/rateSlots+time.Millisecond)
	r = m.Observe(Sample{At: at.Add(time.Millisecond), Acked: 100_000 * 100, Queued: 1, PeerWindow: 1 << 20})
	require.InDelta(t, 800_000, r.Throughput, 8000) // 100 B/ms
	require.LessOrEqual(t, m.marks.pending.n, maxMarks)
}

// Throughput is what the uplink delivers (acknowledged bytes): it falls to
// zero once the reader's buffer is full and acknowledgements stop.
func TestMeterThroughputFallsWhenAckedStops(t *testing.T) {
	s, m := newSim(1<<20), &Meter{StallTimeout: time.Second}
	for range 30 {
		m.Observe(s.step(100*time.Millisecond, 50_000, 1<<20))
	}
	var r Reading
	for range 21 { // the reader's kernel still takes the first 1 MB
		r = m.Observe(s.step(100*time.Millisecond, 50_000, 0))
	}
	require.Positive(t, r.Throughput)
	for range 21 {
		r = m.Observe(s.step(100*time.Millisecond, 50_000, 0))
	}
	require.Zero(t, r.Throughput)
}

func TestMeterSampleBackInTime(t *testing.T) {
	s, m := newSim(1<<20), &Meter{StallTimeout: time.Second}
	m.Observe(s.step(100*time.Millisecond, 5000, 1<<20))
	m.Observe(s.step(100*time.Millisecond, 5000, 0))
	s.now = s.now.Add(-time.Hour)
	r := m.Observe(s.step(0, 5000, 0))
	require.GreaterOrEqual(t, r.StalledFor, time.Duration(0))
	require.False(t, r.Stalled)
}

// DrainRate counts only the time TCP was busy: a writer that was itself
// held up (nothing to send for 1.6 s, then a burst waiting) lowers
// Throughput, not the rate its queue drains at; without busy time it is
// unknown.
func TestMeterDrainRateLeavesOutTheWritersIdleTime(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	m := &Meter{}
	var acked uint64
	var busy time.Duration
	var r Reading
	at := t0
	for range 20 { // 6 KB every 100 ms, acknowledged within 10 ms
		at = at.Add(100 * time.Millisecond)
		acked, busy = acked+6000, busy+10*time.Millisecond
		r = m.Observe(Sample{At: at, Acked: acked, Busy: busy, HasBusy: true})
	}
	require.InDelta(t, 480_000, r.Throughput, 5000)
	require.InDelta(t, 4_800_000, r.DrainRate, 50_000)
	at = at.Add(1600 * time.Millisecond) // held up: nothing written
	r = m.Observe(Sample{At: at.Add(5 * time.Millisecond), Acked: acked, Queued: 24_000, Busy: busy + 5*time.Millisecond, HasBusy: true})
	require.Less(t, r.Throughput, 100_000.0, "the idle time lowers Throughput")
	require.Greater(t, r.DrainRate, 4_000_000.0, "the idle time lowered DrainRate")
	r = m.Observe(Sample{At: at.Add(100 * time.Millisecond), Acked: acked + 24_000, Busy: busy + 20*time.Millisecond})
	require.Zero(t, r.DrainRate, "a drain rate without busy time")
}
