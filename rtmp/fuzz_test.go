package rtmp

import (
	"bytes"
	"io"
	"runtime/metrics"
	"testing"

	"github.com/fmspush/fmspush/media"
	"github.com/stretchr/testify/require"
)

// FuzzDecodeAMF: no input makes DecodeAMF panic or recurse without bound,
// what decodes re-encodes, and decoding n bytes allocates at most 2n bytes
// plus a constant (the bounds on values make the constant; without them a
// byte of AMF null costs 16-48 bytes).
func FuzzDecodeAMF(f *testing.F) {
	c := &Command{Name: "connect", TransactionID: 1, Args: []any{AMFObject{{Key: "app", Value: "live"}, {Key: "n", Value: 1.5}}}}
	b, _ := c.Encode()
	f.Add(b)
	md, _ := SetDataFrame(media.MetadataFor(nil, nil, media.HEVCEnhanced))
	f.Add(md)
	f.Add([]byte{0x0A, 0, 0, 0, 2, 0x05, 0x06, 0x01, 1})
	f.Add(bytes.Repeat([]byte{0x03, 0, 1, 'a'}, 100))
	f.Add(bytes.Repeat([]byte{0x05}, 64<<10))
	f.Add(append([]byte{0x0A, 0, 0, 0x10, 0}, bytes.Repeat([]byte{0x00, 0, 0, 0, 0, 0, 0, 0, 0}, 4096)...))
	f.Add(append([]byte{0x03}, bytes.Repeat([]byte{0, 1, 'k', 0x02, 0, 1, 'v'}, 4000)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		var vals []any
		var err error
		decode := func() { vals, err = DecodeAMF(in) }
		// Under 4 KiB there are fewer values than bytes and the bound
		// cannot be reached: measure only above, so that fuzzing stays fast.
		if len(in) < 4096 {
			decode()
		} else {
			allocated, limit := allocatedBy(decode), 2*uint64(len(in))+amfAllocSlack
			require.LessOrEqual(t, allocated, limit, "decoding %d bytes allocated %d bytes (limit %d)", len(in), allocated, limit)
		}
		ParseCommand(&Message{Type: TypeCommandAMF0, Payload: in})
		if err != nil {
			return
		}
		_, err = EncodeAMF(vals...)
		require.NoError(t, err, "decoded values do not re-encode")
	})
}

// amfAllocSlack is the constant of FuzzDecodeAMF's bound: MaxAMFValues
// values at up to about 200 bytes each (an object entry or a slot, a boxed
// value, append's growth: about 5 times the final slice), and the
// allocator's span granularity in the measurement.
const amfAllocSlack = 1 << 20

// allocatedBy returns the heap bytes allocated while fn ran, from
// runtime/metrics (no stop-the-world). Allocations of other goroutines
// meanwhile count too: it is an upper bound.
func allocatedBy(fn func()) uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	fn()
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}

// FuzzChunkReader: no byte stream makes the chunk reader panic, loop
// forever or allocate more than a constant times what it was sent (a
// message of length 0 costs its Message for one byte of fmt 3 header: 48
// bytes; a message's buffer at most three times its bytes); each message
// stays within the bound of its type. Before the header bounds, a 12-byte
// header made the reader allocate 8 KiB (680 times the input).
func FuzzChunkReader(f *testing.F) {
	var buf bytes.Buffer
	w := NewChunkWriter(&buf, HeaderAuto)
	for _, m := range sampleMessages()[:20] {
		w.WriteMessage(m)
	}
	f.Add(buf.Bytes(), uint16(128))
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0x10, 0}, uint16(128))
	f.Add([]byte{0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0, 1, 2, 3, 4, 0xC4, 1, 2, 3, 4}, uint16(1))
	var many []byte // new messages of 64 KiB on many chunk streams, one byte each
	for csid := byte(3); csid < 64; csid++ {
		many = append(many, csid, 0, 0, 0, 1, 0, 0, TypeVideo, 1, 0, 0, 0, 0x17)
	}
	f.Add(many, uint16(1))
	f.Add([]byte{0x03, 0, 0, 0, 0xFF, 0xFF, 0xFF, TypeCommandAMF0, 0, 0, 0, 0, 5, 5, 5}, uint16(4096))
	f.Add(append([]byte{0x03, 0, 0, 0, 0, 0, 0, TypeAudio, 1, 0, 0, 0}, bytes.Repeat([]byte{0xC3}, 1000)...), uint16(128))
	f.Fuzz(func(t *testing.T, in []byte, size uint16) {
		r := NewChunkReader(bytes.NewReader(in))
		r.SetChunkSize(uint32(size))
		messages := 0
		var bad *Message
		read := func() {
			for i := 0; i < 10000; i++ {
				m, err := r.ReadMessage()
				if err != nil {
					return
				}
				messages++
				if uint32(len(m.Payload)) > MessageLimit(m.Type) && bad == nil {
					bad = m
				}
			}
		}
		allocated := allocatedBy(read)
		require.Nil(t, bad, "message %v beyond its bound", bad)
		require.True(t, r.unfinished >= 0 && r.unfinished <= MaxUnfinishedBytes, "unfinished bytes %d", r.unfinished)
		limit := chunkAllocPerByte*uint64(len(in)) + chunkAllocSlack
		require.LessOrEqual(t, allocated, limit, "reading %d bytes (%d messages) allocated %d bytes (limit %d)", len(in), messages, allocated, limit)
	})
}

// The bound of FuzzChunkReader: per byte of input (a Message for a 1-byte
// chunk header, a chunk stream's state for a 12-byte one, a buffer of at
// most three times the payload), and a constant (the reader's 64 KiB
// bufio buffer, the chunk stream map's growth, the measurement's slack).
const (
	chunkAllocPerByte = 64
	chunkAllocSlack   = 256 << 10
)

// fuzzRW serves a fixed input and swallows writes.
type fuzzRW struct{ r io.Reader }

func (f *fuzzRW) Read(p []byte) (int, error)  { return f.r.Read(p) }
func (f *fuzzRW) Write(p []byte) (int, error) { return len(p), nil }

// FuzzServerHandshake: no C0 C1 C2 makes the server handshake panic, with or
// without RequireDigest; and the client handshake survives any S0 S1 S2.
func FuzzServerHandshake(f *testing.F) {
	c1, _ := randomBlock(0, DefaultClientVersion)
	signBlock(c1, SchemeA, clientKeyDigest)
	f.Add(append(append([]byte{3}, c1...), make([]byte, HandshakeSize)...), true)
	f.Add(append([]byte{3}, make([]byte, 2*HandshakeSize)...), false)
	f.Add([]byte{6, 1, 2}, false)
	f.Fuzz(func(t *testing.T, in []byte, strict bool) {
		res, err := ServerHandshake(&fuzzRW{bytes.NewReader(in)}, ServerHandshakeOptions{RequireDigest: strict})
		if err == nil && strict {
			require.True(t, res.ClientDigest, "handshake without digest accepted under RequireDigest")
		}
		ClientHandshake(&fuzzRW{bytes.NewReader(in)}, HandshakeOptions{})
	})
}
