package tap

import (
	"testing"
)

// chunkSeeds are inputs for the parser's fuzz target and allocation test.
func chunkSeeds() [][]byte {
	b, _ := publishStream()
	return [][]byte{
		b,
		{0xc5, 1, 2, 3},
		{0x01, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 9, 0, 0, 0, 0},
		newChunkEncoder().encode(testMsg{csid: 2, typ: typeSetChunkSize, payload: u32(1)}),
	}
}

// FuzzChunkParser: whatever a peer sends, the chunk-boundary parser never
// panics, always makes progress and keeps at most maxChunkStreams chunk
// streams. Its memory is the fixed-size chunkParser (no slice, no map:
// TestChunkParserAllocs checks that feeding it allocates nothing).
func FuzzChunkParser(f *testing.F) {
	for i, s := range chunkSeeds() {
		f.Add(s, uint8(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		p := newChunkParser()
		feedAll(t, p, data, int(step))
		if p.nstreams > maxChunkStreams {
			t.Fatalf("%d chunk streams", p.nstreams)
		}
		if p.cs != nil && p.stream(p.cs.csid) != p.cs {
			t.Fatal("the current chunk stream is not in the parser's table")
		}
	})
}

// TestChunkParserAllocs: feeding allocates nothing but the parser's one
// error, whatever the input's size.
func TestChunkParserAllocs(t *testing.T) {
	big, _ := publishStream()
	for range 6 {
		big = append(big, big...) // 64 publishes
	}
	for i, s := range append(chunkSeeds(), big) {
		p := newChunkParser()
		allocs := testing.AllocsPerRun(5, func() {
			*p = chunkParser{chunkSize: defaultChunkSize}
			feedAll(t, p, s, 7)
		})
		limit := 0.0
		if p.err != nil {
			limit = 8 // the error message, once
		}
		if allocs > limit {
			t.Fatalf("seed %d: %v allocations (limit %v, error %v)", i, allocs, limit, p.err)
		}
	}
}

// feedAll feeds data in pieces of step bytes (all at once when 0),
// checking the contract of feed.
func feedAll(t *testing.T, p *chunkParser, data []byte, step int) {
	for len(data) > 0 {
		piece := data
		if step > 0 {
			piece = data[:min(step, len(data))]
		}
		data = data[len(piece):]
		for len(piece) > 0 {
			n, m, ok, err := p.feed(piece)
			switch {
			case err != nil:
				return
			case n <= 0 || n > len(piece):
				t.Fatalf("feed consumed %d of %d bytes", n, len(piece))
			case !ok && n != len(piece):
				t.Fatalf("feed stopped at %d of %d bytes without a message", n, len(piece))
			case ok && m.length > 0xffffff:
				t.Fatalf("a message of %d bytes", m.length)
			}
			piece = piece[n:]
		}
	}
}
