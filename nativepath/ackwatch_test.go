package nativepath

import (
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/stretchr/testify/require"
)

type fakeAcks struct {
	n       int64
	seq     uint32
	at      time.Time
	written uint64
}

func (f *fakeAcks) AcksReceived() int64  { return f.n }
func (f *fakeAcks) LastAck() uint32      { return f.seq }
func (f *fakeAcks) LastAckAt() time.Time { return f.at }
func (f *fakeAcks) BytesWritten() uint64 { return f.written }

func TestAckWatch(t *testing.T) {
	var a ackWatch
	c := &fakeAcks{}
	t0 := time.Unix(3000, 0)
	c.written = 1 << 20
	require.Zero(t, a.observe(c, 16<<10, t0.Add(time.Hour)), "a server that never acks gives no evidence")

	// Acks every 16 KiB while 64 KB/s flow: never silent.
	for i := 1; i <= 40; i++ {
		now := t0.Add(time.Duration(i) * 250 * time.Millisecond)
		c.n, c.seq, c.at, c.written = int64(i), uint32(i*16<<10), now, uint64(i*16<<10+8<<10)
		require.Zero(t, a.observe(c, 16<<10, now))
	}
	last := c.at
	// The server stops reading: writes go on, acks stop.
	c.written += 16 << 10
	require.Zero(t, a.observe(c, 16<<10, last.Add(time.Second)), "not two spacings written yet")
	c.written += 64 << 10
	require.Equal(t, 3*time.Second, a.observe(c, 16<<10, last.Add(3*time.Second)))
	// An idle writer (source away) is never counted.
	var b ackWatch
	c2 := &fakeAcks{n: 1, seq: 16 << 10, at: t0, written: 20 << 10}
	require.Zero(t, b.observe(c2, 16<<10, t0))
	require.Zero(t, b.observe(c2, 16<<10, t0.Add(time.Minute)))
}

func TestAckWatchLearnsTheServersSpacing(t *testing.T) {
	var a ackWatch
	c := &fakeAcks{n: 1, seq: 2_500_000, at: time.Unix(0, 0), written: 2_600_000}
	require.Zero(t, a.observe(c, 16<<10, c.at))
	c.written += 1 << 20 // 1 MB written: far less than two of this server's 2.5 MB spacings
	require.Zero(t, a.observe(c, 16<<10, c.at.Add(10*time.Second)))
}

// The window asked of the server spaces acks ackSpacing apart at the
// media's rate, never under the configured window nor over maxAckWindow,
// and changes only when off by more than a factor of two.
func TestAckWindowFollowsTheRate(t *testing.T) {
	require.Equal(t, uint32(16<<10), ackWindowFor(0, 16<<10), "unknown rate: the configured window")
	require.Equal(t, uint32(16<<10), ackWindowFor(500_000, 16<<10), "0.5 Mbit/s: 12.5 kB in 200 ms, under the configured window")
	require.Equal(t, uint32(100_000), ackWindowFor(4_000_000, 16<<10), "4 Mbit/s: 100 kB in 200 ms")
	require.Equal(t, uint32(maxAckWindow), ackWindowFor(1e9, 16<<10))
	require.False(t, retuneAckWindow(100_000, 150_000))
	require.True(t, retuneAckWindow(16<<10, 100_000))
	require.True(t, retuneAckWindow(100_000, 16<<10))
}

// Over a real session, the window follows the media's rate: asked for 2
// KiB, a 0.5 Mbit/s stream would be acked ~30 times a second; once the rate
// is known the session asks for ~200 ms of media and the acks slow to ~5 a
// second, while they keep flowing (the stall clock still has its evidence).
func TestAckWindowWidensOverASession(t *testing.T) {
	srv := startEmulator(t, "lenient")
	s := Settings{Source: "builtin:sample", Target: srv.URL("live", "acks")}
	s.Publish.AckWindow = 2 << 10
	r := start(t, mustNew(t, s), 0)
	defer r.stop(t)
	testpeer.Eventually(t, 20*time.Second, "3 s of video", func() bool { return r.sig.VideoFrames.Load() >= 75 })
	a0, t0 := r.sig.AcksReceived.Load(), time.Now()
	testpeer.Eventually(t, 20*time.Second, "2 s more of video", func() bool { return r.sig.VideoFrames.Load() >= 125 })
	perSecond := float64(r.sig.AcksReceived.Load()-a0) / time.Since(t0).Seconds()
	t.Logf("%.1f acks a second after the window was widened", perSecond)
	require.Greater(t, perSecond, 1.0, "acks stopped")
	require.Less(t, perSecond, 12.0, "the window was not widened with the rate")
}
