package media

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkSnapshot asserts the GOP invariants.
func checkSnapshot(t testing.TB, s GOPSnapshot, maxBytes int) {
	t.Helper()
	require.Empty(t, snapshotErr(s, maxBytes))
}

// snapshotErr checks that a non-empty GOP starts at a video keyframe, holds
// nothing older than the keyframe, has rising video DTS and fits the bound.
func snapshotErr(s GOPSnapshot, maxBytes int) string {
	if len(s.Units) == 0 {
		return ""
	}
	k := s.Units[0]
	if !k.Codec.IsVideo() || !k.Key || s.Video == nil {
		return "GOP must start at a video keyframe, with video params"
	}
	size := 0
	last := time.Duration(-1)
	for _, u := range s.Units {
		if u.DTS < k.DTS {
			return "unit older than the keyframe"
		}
		if u.Codec.IsVideo() {
			if u.DTS <= last {
				return "video DTS must rise"
			}
			last = u.DTS
		}
		size += u.Size()
	}
	if size > maxBytes {
		return fmt.Sprintf("GOP of %d bytes exceeds the bound", size)
	}
	return ""
}

// A new publish starts at the last keyframe with the matching audio.
func TestGOPCacheStartsAtLastKeyframe(t *testing.T) {
	c := loadSample(t)
	g := NewGOPCache(4 << 20)
	params := &Params{Epoch: 1, Video: c.Video, Audio: c.Audio}
	require.Empty(t, g.Snapshot().Units, "nothing before the first keyframe")
	var lastKey Unit
	var sinceKey, audioSinceKey int
	for _, u := range c.Units {
		u.Params = params
		g.Push(u)
		if u.Key && u.Codec.IsVideo() {
			lastKey, sinceKey, audioSinceKey = u, 0, 0
		}
		sinceKey++
		if u.Codec == CodecAAC && lastKey.NALUs != nil {
			audioSinceKey++
		}
		s := g.Snapshot()
		checkSnapshot(t, s, 4<<20)
		if lastKey.NALUs != nil {
			require.Equal(t, lastKey.DTS, s.Units[0].DTS, "GOP start")
			require.Equal(t, s.Units[len(s.Units)-1].DTS, u.DTS, "GOP end is the newest unit")
			require.True(t, len(s.Units) >= sinceKey-1, "GOP lost units")
		}
	}
	s := g.Snapshot()
	require.Equal(t, *c.Video, *s.Video)
	require.Equal(t, *c.Audio, *s.Audio)
	var audio int
	for _, u := range s.Units {
		if u.Codec == CodecAAC {
			audio++
		}
	}
	require.True(t, audio >= audioSinceKey-1 && audio > 80, "audio in the last GOP: %v", audio)
}

// A GOP that outgrows the bound is dropped; the cache serves nothing until
// the next keyframe, then starts there.
func TestGOPCacheBound(t *testing.T) {
	c := loadSample(t)
	const bound = 60 << 10 // the sample's 2 s GOPs are larger than this
	g := NewGOPCache(bound)
	params := &Params{Epoch: 1, Video: c.Video}
	var sawEmptyAfterKey, sawNonEmpty bool
	keys := 0
	for _, u := range c.Units {
		u.Params = params
		g.Push(u)
		if u.Key && u.Codec.IsVideo() {
			keys++
		}
		s := g.Snapshot()
		checkSnapshot(t, s, bound)
		if keys > 0 && len(s.Units) == 0 {
			sawEmptyAfterKey = true
		}
		sawNonEmpty = sawNonEmpty || len(s.Units) > 0
	}
	_, _, dropped := g.Stats()
	require.True(t, dropped >= keys, "every GOP should overflow, dropped %v", dropped)
	require.True(t, sawEmptyAfterKey && sawNonEmpty, "expected both a served GOP start and an empty wait")
}

// One writer and several readers at once (run with -race): every snapshot
// keeps the invariants.
func TestGOPCacheConcurrentSnapshots(t *testing.T) {
	l, err := NewLooper(loadSample(t), nil)
	require.NoError(t, err)
	g := NewGOPCache(300 << 10)
	params := &Params{Epoch: 1, Video: l.Video(), Audio: l.Audio()}
	var done atomic.Bool
	var wg sync.WaitGroup
	var served atomic.Int64
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for { // at least one snapshot, even if the writer is already done
				stop := done.Load()
				s := g.Snapshot()
				if !assert.Empty(t, snapshotErr(s, 300<<10)) { // not require: off the test goroutine
					return
				}
				served.Add(int64(len(s.Units)))
				if stop {
					return
				}
			}
		}()
	}
	for i := 0; i < 2000; i++ {
		u, err := l.Next(context.Background())
		require.NoError(t, err)
		u.Params = params
		g.Push(u)
	}
	done.Store(true)
	wg.Wait()
	require.True(t, served.Load() > 0, "readers never saw a GOP")
}

// A snapshot's parameters are those its keyframe carries, also when newer
// ones came after it: the cache derives none of its own.
func TestGOPCacheSnapshotParamsAreTheKeyframes(t *testing.T) {
	c := loadSample(t)
	g := NewGOPCache(4 << 20)
	first := &Params{Epoch: 1, Video: c.Video, Audio: c.Audio}
	second := first.WithVideo(VideoParams{Codec: CodecH264, Width: 320, Height: 180})
	require.NotNil(t, second)
	g.Push(Unit{Codec: CodecH264, Key: true, NALUs: [][]byte{{0x65}}, Params: first})
	g.Push(Unit{Codec: CodecH264, DTS: 40 * time.Millisecond, NALUs: [][]byte{{0x41}}, Params: second})
	s := g.Snapshot()
	require.Same(t, c.Video, s.Video, "the keyframe's video parameters")
	require.Same(t, c.Audio, s.Audio, "the keyframe's audio parameters")
	g.Push(Unit{Codec: CodecH264, DTS: 80 * time.Millisecond, Key: true, NALUs: [][]byte{{0x65}}, Params: second})
	require.Same(t, second.Video, g.Snapshot().Video, "the new keyframe's")
	g.Reset()
	require.Empty(t, g.Snapshot().Units)
}

// BenchmarkGOPCachePush measures the cost of caching one unit.
func BenchmarkGOPCachePush(b *testing.B) {
	c := loadSample(b)
	g := NewGOPCache(4 << 20)
	params := &Params{Epoch: 1, Video: c.Video, Audio: c.Audio}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		u := c.Units[i%len(c.Units)]
		u.Params = params
		g.Push(u)
		i++
	}
}
