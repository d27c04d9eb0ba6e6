package nativepath

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/nativepath/source"
)

func vunit(dts time.Duration, key bool, size int) media.Unit {
	return media.Unit{Codec: media.CodecH264, DTS: dts, PTS: dts, Key: key, NALUs: [][]byte{make([]byte, size)}}
}

// floodSource sends units ten times larger than a 4 Mbit/s camera's
// (200 kB a frame), as fast as the hub takes them, until ctx ends.
type floodSource struct{}

func (f *floodSource) Run(ctx context.Context, sink source.Sink) error {
	sink.SetVideo(media.VideoParams{Codec: media.CodecH264, Width: 1920, Height: 1080})
	for i := 0; ctx.Err() == nil; i++ {
		sink.WriteUnit(vunit(time.Duration(i)*40*time.Millisecond, i%50 == 0, 200_000))
	}
	return nil
}

func TestHubMemoryIsBoundedUnderFlood(t *testing.T) {
	h := newHub(&floodSource{}, 8<<20, hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.run(ctx) }()
	defer func() { cancel(); <-done }()
	_, sub, err := h.subscribe(ctx, 5*time.Second)
	require.NoError(t, err)
	// The subscriber never reads: the hub must cut it off instead of queueing without bound.
	testpeer.Eventually(t, 20*time.Second, "the slow subscriber cut off", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		_, still := h.subs[sub]
		return !still
	})
	require.Same(t, errSlowTarget, sub.err, "subscription ended with %v", sub.err)
	_, gopBytes, _ := h.gop.Stats()
	require.LessOrEqual(t, gopBytes, 8<<20, "GOP cache holds %d bytes, bound 8 MiB", gopBytes)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	// What stays alive is the GOP bound, the units in flight and the test binary.
	require.LessOrEqual(t, ms.HeapAlloc, uint64(64<<20), "heap %d MiB under a flood", ms.HeapAlloc>>20)
}

func TestHubServesFromTheLastKeyframe(t *testing.T) {
	h := newHub(nil, 1<<20, hclog.NewNullLogger())
	h.SetVideo(media.VideoParams{Codec: media.CodecH264})
	h.WriteUnit(vunit(0, false, 10)) // before any keyframe: nothing to start from
	_, ok := h.startable()
	require.False(t, ok, "startable without a keyframe")
	h.WriteUnit(vunit(40*time.Millisecond, true, 10))
	h.WriteUnit(vunit(80*time.Millisecond, false, 10))
	h.WriteUnit(vunit(120*time.Millisecond, true, 10))
	snap, ok := h.startable()
	require.True(t, ok, "start view after a new keyframe")
	require.Len(t, snap.Units, 1, "start view after a new keyframe: %d units", len(snap.Units))
	require.True(t, snap.Units[0].Key, "start view after a new keyframe")
	h.WriteUnit(vunit(160*time.Millisecond, false, 2<<20)) // over the bound: the GOP is dropped whole
	_, ok = h.startable()
	require.False(t, ok, "a GOP over the bound was served")
}

// restartSource plays one GOP, fails, and after the restart sends audio,
// then waits for the test before it plays a second GOP: a subscriber that
// comes between must not be served the first GOP.
type restartSource struct {
	runs    atomic.Int32
	release chan struct{}
}

func (r *restartSource) Run(ctx context.Context, sink source.Sink) error {
	run := r.runs.Add(1)
	sink.SetVideo(media.VideoParams{Codec: media.CodecH264, Width: 64, Height: 64})
	if run > 1 {
		// Audio comes back before the camera's next keyframe.
		sink.SetAudio(media.AudioParams{Codec: media.CodecAAC, SampleRate: 44100, Channels: 2})
		sink.WriteUnit(media.Unit{Codec: media.CodecAAC, DTS: 10 * time.Millisecond, Key: true, Payload: []byte{9}})
		select {
		case <-r.release:
		case <-ctx.Done():
			return nil
		}
	}
	sink.WriteUnit(media.Unit{Codec: media.CodecH264, Key: true, NALUs: [][]byte{{byte(run)}}})
	sink.WriteUnit(media.Unit{Codec: media.CodecH264, DTS: 40 * time.Millisecond, NALUs: [][]byte{{byte(run)}}})
	if run == 1 {
		return errors.New("camera went away")
	}
	<-ctx.Done()
	return nil
}

// After a source restart, a new subscriber's first frame is from after the
// restart (Structure issue: nothing reset the GOP cache).
func TestHubRestartDropsTheOldGOP(t *testing.T) {
	src := &restartSource{release: make(chan struct{})}
	h := newHub(src, 1<<20, hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.run(ctx) }()
	defer func() { cancel(); <-done }()
	testpeer.Eventually(t, 5*time.Second, "the restart", func() bool { return src.runs.Load() >= 2 })
	_, _, err := h.subscribe(ctx, 300*time.Millisecond)
	require.Error(t, err, "a subscriber was served the GOP of before the restart")
	close(src.release)
	snap, sub, err := h.subscribe(ctx, 5*time.Second)
	require.NoError(t, err)
	defer h.unsubscribe(sub)
	require.NotEmpty(t, snap.Units)
	require.Equal(t, []byte{2}, snap.Units[0].NALUs[0], "the first frame is the restarted source's keyframe")
}
