package nativepath

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
)

func vunit(dts time.Duration, key bool, size int) media.Unit {
	return media.Unit{Codec: media.CodecH264, DTS: dts, PTS: dts, Key: key, NALUs: [][]byte{make([]byte, size)}}
}

func TestRebaserContinuesAcrossRestartsAndResets(t *testing.T) {
	now := time.Unix(100, 0)
	r := rebaser{now: func() time.Time { return now }}
	var out []time.Duration
	feed := func(dts time.Duration) {
		out = append(out, r.apply(vunit(dts, false, 1)).DTS)
		now = now.Add(40 * time.Millisecond)
	}
	feed(5 * time.Second) // a camera starting at 5 s maps to 0
	feed(5*time.Second + 40*time.Millisecond)
	r.sourceRestarted()
	now = now.Add(3 * time.Second) // a 3 s outage
	feed(0)                        // the camera restarts its clock
	feed(40 * time.Millisecond)
	feed(time.Hour) // a camera clock jump
	if out[0] != 0 || out[1] != 40*time.Millisecond {
		t.Fatalf("start not at 0: %v", out)
	}
	if gap := out[2] - out[1]; gap < 3*time.Second || gap > 3100*time.Millisecond {
		t.Fatalf("outage gap %v, want about 3s: %v", gap, out)
	}
	for i := 1; i < len(out); i++ {
		if out[i] <= out[i-1] || out[i]-out[i-1] > 4*time.Second {
			t.Fatalf("timeline not continuous at %d: %v", i, out)
		}
	}
}

// floodSource sends units ten times larger than a 4 Mbit/s camera's
// (200 kB a frame), as fast as the hub takes them, until ctx ends.
type floodSource struct{}

func (f *floodSource) Run(ctx context.Context, sink Sink) error {
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
	h.mu.Lock()
	gopBytes := h.gopBytes
	h.mu.Unlock()
	if gopBytes > 8<<20 {
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

func TestGOPCacheStartsAtKeyframe(t *testing.T) {
	h := newHub(nil, 1<<20, hclog.NewNullLogger())
	h.SetVideo(media.VideoParams{Codec: media.CodecH264})
	h.WriteUnit(vunit(0, false, 10)) // before any keyframe: not cached
	if len(h.gop) != 0 {
		t.Fatal("cached a GOP without its keyframe")
	}
	h.WriteUnit(vunit(40*time.Millisecond, true, 10))
	h.WriteUnit(vunit(80*time.Millisecond, false, 10))
	h.WriteUnit(vunit(120*time.Millisecond, true, 10))
	if len(h.gop) != 1 || !h.gop[0].Key {
		t.Fatalf("GOP after a new keyframe: %d units", len(h.gop))
	}
	h.WriteUnit(vunit(160*time.Millisecond, false, 2<<20)) // over the bound: the GOP is dropped whole
	if len(h.gop) != 0 {
		t.Fatal("a GOP over the bound was kept")
	}
}
