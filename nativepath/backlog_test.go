package nativepath

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/pause"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media/sample"
	"github.com/fmspush/fmspush/nativepath/source"
)

// backlogSource plays the sample at real time, like a camera, until told
// to deliver a backlog: then the media of that much time comes at once, as
// an RTSP or RTMP source delivers what its kernel queued while the process
// was paused, and real time goes on after it.
type backlogSource struct {
	backlog chan time.Duration
	sent    atomic.Int64
}

func (b *backlogSource) Run(ctx context.Context, sink source.Sink) error {
	l, err := sample.NewLooper(nil)
	if err != nil {
		return err
	}
	sink.SetVideo(*l.Video())
	sink.SetAudio(*l.Audio())
	start := time.Now()
	var lead time.Duration
	for ctx.Err() == nil {
		u, err := l.Next(ctx)
		if err != nil {
			return nil
		}
		for due := start.Add(u.DTS - lead); time.Now().Before(due); due = start.Add(u.DTS - lead) {
			t := time.NewTimer(time.Until(due))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case d := <-b.backlog:
				lead += d
			case <-t.C:
			}
			t.Stop()
		}
		sink.WriteUnit(u)
		b.sent.Add(1)
	}
	return nil
}

// startWithSource runs p on a hub fed by src (instead of p.Source).
func startWithSource(t *testing.T, p *Path, src source.Source) *running {
	t.Helper()
	h := newHub(src, 0, hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.run(ctx) }()
	in := p.Ingest
	in.mu.Lock()
	in.hub, in.cancel, in.done, in.users = h, cancel, done, 1 // the test holds it, as Warm would
	in.mu.Unlock()
	r := start(t, p, 0)
	t.Cleanup(func() { r.stop(t); in.release() })
	return r
}

// A burst of minutes of media right after a pause of the process (the
// source's backlog) overruns the publisher's queue at the hub: the publish
// skips the backlog and goes on in the same session from the latest
// keyframe, without a verdict; the same burst without a pause is a target
// too slow for the source (target_too_slow), as before.
func TestBacklogAfterAPauseIsSkippedNotBlamedOnTheTarget(t *testing.T) {
	for _, paused := range []bool{true, false} {
		name := "without a pause"
		if paused {
			name = "after a pause"
		}
		t.Run(name, func(t *testing.T) {
			srv := startEmulator(t, "lenient")
			w := &pause.Watch{Slack: time.Hour} // only the pause the test records
			logs := &testpeer.LogBuffer{}
			// A link twice the stream's rate: the backlog cannot go out
			// as fast as it comes in, whatever the machine's speed.
			px := testpeer.StartProxy(t, srv.Addr())
			px.SetBandwidth(1000)
			p := mustNew(t, Settings{Source: "builtin:sample", Target: px.URL(srv.URL("live", "backlog")), Pauses: w,
				Logger: hclog.New(&hclog.LoggerOptions{Output: logs})})
			src := &backlogSource{backlog: make(chan time.Duration, 1)}
			r := startWithSource(t, p, src)
			first := acceptedFrames(t, srv, 25, 15*time.Second)
			if paused {
				now := time.Now()
				w.Record(pause.Pause{From: now.Add(-time.Minute), To: now})
			}
			before := src.sent.Load()
			// Five minutes of media (18 MB) outgrow every buffer on the
			// way: the publisher's socket (up to 4 MiB with Linux's
			// autotuning), the proxy's and the hub's queue, so the
			// publisher falls behind on any machine; one minute could
			// fit in the socket alone.
			src.backlog <- 5 * time.Minute
			testpeer.Eventually(t, 10*time.Second, "the backlog delivered to the hub", func() bool {
				return src.sent.Load() > before+8000
			})
			if !paused {
				var err error
				select {
				case err = <-r.done:
					r.done <- err
				case <-time.After(10 * time.Second):
					require.FailNow(t, "no verdict for a target slower than the source's burst")
				}
				var v *health.Verdict
				require.True(t, errors.As(err, &v), "verdict, got %v", err)
				require.Equal(t, "target_too_slow", v.Cause, v.Error())
				return
			}
			// Media flows on in the same session, its timeline never backwards.
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			_, err := srv.WaitSession(ctx, func(s fmsim.SessionInfo) bool {
				return s.ID == first.ID && (s.Ended || s.VideoFrames >= first.VideoFrames+75)
			})
			require.NoError(t, err)
			select {
			case err := <-r.done:
				r.done <- err
				require.FailNow(t, "the publish ended", "%v", err)
			default:
			}
			ss := srv.Sessions()
			require.Len(t, ss, 1, "the publish was restarted")
			require.False(t, ss[0].Ended, "%+v", ss[0].Verdict)
			require.True(t, srv.Streams()["backlog"].Monotonic, "timestamps went backwards")
			require.Contains(t, logs.String(), "skipping the source's backlog")
			t.Logf("video frames at the emulator: %d before the backlog, %d after; units from the source %d",
				first.VideoFrames, ss[0].VideoFrames, src.sent.Load())
		})
	}
}
