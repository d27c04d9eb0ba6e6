package nativepath

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

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
	if err != nil {
		t.Fatal(err)
	}
	// The subscriber never reads: the hub must cut it off instead of queueing without bound.
	testpeer.Eventually(t, 20*time.Second, "the slow subscriber cut off", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		_, still := h.subs[sub]
		return !still
	})
	if sub.err != errSlowTarget {
		t.Fatalf("subscription ended with %v", sub.err)
	}
	if _, gopBytes, _ := h.gop.Stats(); gopBytes > 8<<20 {
		t.Fatalf("GOP cache holds %d bytes, bound 8 MiB", gopBytes)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	// What stays alive is the GOP bound, the units in flight and the test binary.
	if ms.HeapAlloc > 64<<20 {
		t.Fatalf("heap %d MiB under a flood", ms.HeapAlloc>>20)
	}
}

func TestHubServesFromTheLastKeyframe(t *testing.T) {
	h := newHub(nil, 1<<20, hclog.NewNullLogger())
	h.SetVideo(media.VideoParams{Codec: media.CodecH264})
	h.WriteUnit(vunit(0, false, 10)) // before any keyframe: nothing to start from
	if _, ok := h.startable(); ok {
		t.Fatal("startable without a keyframe")
	}
	h.WriteUnit(vunit(40*time.Millisecond, true, 10))
	h.WriteUnit(vunit(80*time.Millisecond, false, 10))
	h.WriteUnit(vunit(120*time.Millisecond, true, 10))
	snap, ok := h.startable()
	if !ok || len(snap.Units) != 1 || !snap.Units[0].Key {
		t.Fatalf("start view after a new keyframe: %d units", len(snap.Units))
	}
	h.WriteUnit(vunit(160*time.Millisecond, false, 2<<20)) // over the bound: the GOP is dropped whole
	if _, ok := h.startable(); ok {
		t.Fatal("a GOP over the bound was served")
	}
}
