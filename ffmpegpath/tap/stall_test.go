package tap

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// stallResult is one stall run: the relay's verdict and the emulator's session.
type stallResult struct {
	err     *StallError
	detect  time.Duration // the verdict's At minus the moment the emulator stopped reading
	session fmsim.SessionInfo
	reading Reading
	log     string
}

// stallOnce pushes src through a relay into the emulator (profile cloud,
// 1448-byte segments as on Ethernet) that stops reading stallAfter after
// the publish, and returns the relay's verdict once the emulator has seen
// the connection end.
func stallOnce(t testing.TB, src, name string) stallResult {
	t.Helper()
	srv := &fmsim.Server{Listen: "127.0.0.1:0", Profile: fmsim.ProfileCloud, MaxSegment: 1448,
		Rules: []string{"stall_after_publish=" + stallAfter.String()}}
	require.NoError(t, srv.Start())
	defer srv.Close()
	r, buf := startRelay(t, srv.Addr(), nil)
	p := push(t, r, srv.URL("live", name), src, true)
	err := waitDone(t, r, 30*time.Second)
	var se *StallError
	require.Truef(t, errors.As(err, &se), "want a *StallError, got %v; ffmpeg: %s", err, p.stderr.String())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, werr := srv.WaitSession(ctx, func(s fmsim.SessionInfo) bool { return s.Stalled && s.Ended })
	require.NoError(t, werr, "the emulator never saw the stalled session end: %+v", srv.Sessions())
	testpeer.Eventually(t, 10*time.Second, "ffmpeg to exit once the relay closed its connection", p.exited)
	return stallResult{err: se, detect: se.At.Sub(s.PublishedAt.Add(stallAfter)), session: s, reading: r.Reading(), log: buf.String()}
}

func TestStallDetectedFromAcks(t *testing.T) {
	sources := []struct {
		name string
		src  func(testing.TB) string
	}{
		{"sample", testpeer.SamplePath},
		{"1080p30", func(t testing.TB) string { return testpeer.HD1080p(t).Path }},
	}
	for _, s := range sources {
		t.Run(s.name, func(t *testing.T) {
			res := stallOnce(t, s.src(t), "stallkey")
			rd, v := res.reading, res.session.Verdict
			t.Logf("%s: stall judged %v after the emulator stopped reading (limit %v): %v; acks %d (spacing %d B), forwarded %d B, acked %d B, lag %v; emulator %d video frames, %d B in, verdict %+v",
				s.name, res.detect.Round(time.Millisecond), detectLimit, res.err, rd.Acks, rd.AckSpacing, rd.Forwarded, rd.Acked, rd.TCP.Lag,
				res.session.VideoFrames, res.session.BytesIn, v)
			require.Equal(t, EvidenceAck, res.err.Evidence)
			require.GreaterOrEqual(t, res.detect, stallTimeout-200*time.Millisecond, "judged before StallTimeout")
			require.LessOrEqual(t, res.detect, detectLimit)
			require.GreaterOrEqual(t, res.err.For, stallTimeout)
			require.Greater(t, res.err.Queued, uint64(2*DefaultAckWindow))
			require.True(t, rd.Injected)
			require.NotNil(t, v)
			require.Equal(t, fmsim.ClosedByClient, v.ClosedBy, "%+v", v)
			require.Equal(t, fmsim.PeerRST, v.PeerClose, "the relay did not reset the connection: %+v", v)
			require.NotContains(t, res.log+res.err.Error(), "stallkey")
		})
	}
}
