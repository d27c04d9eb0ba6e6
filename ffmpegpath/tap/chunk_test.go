package tap

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// chunkEncoder writes RTMP chunk streams the way ffmpeg does: the first
// chunk of a message with the header format asked, continuations as fmt 3,
// an extended timestamp in every chunk (continuations included) while the
// chunk stream's timestamp field is 0xffffff. Test code only.
type chunkEncoder struct {
	chunkSize int
	field     map[uint32]uint32 // the last timestamp field per chunk stream
}

// testMsg is a message to encode: ts is the timestamp for fmt 0 and the
// delta for fmt 1 and 2 (fmt 3 repeats the last field).
type testMsg struct {
	csid    uint32
	fmt     uint8
	typ     uint8
	msid    uint32
	ts      uint32
	payload []byte
}

func newChunkEncoder() *chunkEncoder {
	return &chunkEncoder{chunkSize: defaultChunkSize, field: map[uint32]uint32{}}
}

// basicHeader encodes fmt and csid in 1, 2 or 3 bytes.
func basicHeader(fmt uint8, csid uint32) []byte {
	switch {
	case csid < 64:
		return []byte{fmt<<6 | byte(csid)}
	case csid < 320:
		return []byte{fmt << 6, byte(csid - 64)}
	}
	return []byte{fmt<<6 | 1, byte(csid - 64), byte((csid - 64) >> 8)}
}

// encode returns m's chunks (and applies a SetChunkSize it carries).
func (e *chunkEncoder) encode(m testMsg) []byte {
	ts := m.ts
	if m.fmt == 3 {
		ts = e.field[m.csid]
	}
	field := min(ts, extendedTS)
	e.field[m.csid] = ts
	b := basicHeader(m.fmt, m.csid)
	if m.fmt <= 2 {
		b = append(b, byte(field>>16), byte(field>>8), byte(field))
	}
	if m.fmt <= 1 {
		n := len(m.payload)
		b = append(b, byte(n>>16), byte(n>>8), byte(n), m.typ)
	}
	if m.fmt == 0 {
		b = binary.LittleEndian.AppendUint32(b, m.msid)
	}
	ext := func() {
		if field == extendedTS {
			b = binary.BigEndian.AppendUint32(b, ts)
		}
	}
	ext()
	for off := 0; ; {
		k := min(e.chunkSize, len(m.payload)-off)
		b = append(b, m.payload[off:off+k]...)
		if off += k; off >= len(m.payload) {
			break
		}
		b = append(b, basicHeader(3, m.csid)...)
		ext()
	}
	if m.typ == typeSetChunkSize && len(m.payload) >= 4 {
		e.chunkSize = int(binary.BigEndian.Uint32(m.payload))
	}
	return b
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func fill(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

// parseAll feeds b to a new parser in pieces of at most step bytes (all at
// once when 0) and returns the messages it completed.
func parseAll(t *testing.T, b []byte, step func() int) ([]message, error) {
	t.Helper()
	p := newChunkParser()
	var out []message
	for len(b) > 0 {
		k := len(b)
		if step != nil {
			k = min(k, step())
		}
		piece := b[:k]
		b = b[k:]
		for len(piece) > 0 {
			n, m, ok, err := p.feed(piece)
			if err != nil {
				return out, err
			}
			require.True(t, ok || n == len(piece), "feed stopped early without a message")
			piece = piece[n:]
			if ok {
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// publishStream is a publish as ffmpeg sends it, with the cases ffmpeg does
// not send (2- and 3-byte chunk stream ids, Abort, an empty message).
func publishStream() ([]byte, []message) {
	e := newChunkEncoder()
	var b []byte
	var want []message
	add := func(m testMsg, ts uint32) {
		b = append(b, e.encode(m)...)
		w := message{csid: m.csid, typ: m.typ, msid: m.msid, length: uint32(len(m.payload)), ts: ts}
		if controlType(m.typ) && len(m.payload) >= 4 {
			w.value, w.hasValue = binary.BigEndian.Uint32(m.payload), true
		}
		want = append(want, w)
	}
	add(testMsg{csid: 2, typ: typeSetChunkSize, payload: u32(4096)}, 0)
	add(testMsg{csid: 3, typ: typeCommandAMF0, payload: fill(5000)}, 0) // "connect", two chunks
	add(testMsg{csid: 3, fmt: 1, typ: typeCommandAMF0, payload: fill(40)}, 0)
	add(testMsg{csid: 4, typ: typeAudio, msid: 1, ts: 1000, payload: fill(300)}, 1000)
	add(testMsg{csid: 4, fmt: 2, typ: typeAudio, msid: 1, ts: 23, payload: fill(300)}, 1023)
	add(testMsg{csid: 4, fmt: 3, typ: typeAudio, msid: 1, payload: fill(300)}, 1046)
	add(testMsg{csid: 4, fmt: 1, typ: typeVideo, msid: 1, ts: 10, payload: fill(10000)}, 1056)
	add(testMsg{csid: 6, typ: typeVideo, msid: 1, ts: 0x1234567, payload: fill(9000)}, 0x1234567)
	add(testMsg{csid: 6, fmt: 3, typ: typeVideo, msid: 1, payload: fill(9000)}, 0x1234567)
	add(testMsg{csid: 70, typ: typeAudio, msid: 1, ts: 5, payload: fill(100)}, 5)
	add(testMsg{csid: 400, typ: typeVideo, msid: 1, ts: 6, payload: fill(5000)}, 6)
	add(testMsg{csid: 8, typ: typeAudio, msid: 1, ts: 7}, 7) // empty
	add(testMsg{csid: 2, typ: typeAck, payload: u32(123456)}, 0)
	// A message cut short by an Abort, then a new one on the same chunk stream.
	e.chunkSize = 4096
	cut := e.encode(testMsg{csid: 9, typ: typeVideo, msid: 1, ts: 9, payload: fill(6000)})
	b = append(b, cut[:12+4096]...)
	add(testMsg{csid: 2, typ: typeAbort, payload: u32(9)}, 0)
	add(testMsg{csid: 9, fmt: 1, typ: typeVideo, msid: 1, ts: 1, payload: fill(50)}, 10)
	return b, want
}

func TestChunkParserBoundaries(t *testing.T) {
	b, want := publishStream()
	got, err := parseAll(t, b, nil)
	require.NoError(t, err)
	require.Equal(t, want, got)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		got, err := parseAll(t, b, func() int { return 1 + rng.IntN(9) })
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
}

// TestChunkParserEndsAtMessage: feed stops right after a message's last
// byte, so that the relay can insert at that chunk boundary.
func TestChunkParserEndsAtMessage(t *testing.T) {
	e := newChunkEncoder()
	first := e.encode(testMsg{csid: 3, typ: typeCommandAMF0, payload: fill(300)})
	second := e.encode(testMsg{csid: 4, typ: typeAudio, msid: 1, payload: fill(10)})
	p := newChunkParser()
	n, m, ok, err := p.feed(append(append([]byte{}, first...), second...))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, len(first), n)
	require.Equal(t, uint8(typeCommandAMF0), m.typ)
	require.Equal(t, uint32(300), m.length)
}

func TestChunkParserErrors(t *testing.T) {
	tooMany := newChunkEncoder()
	var many []byte
	for c := range uint32(maxChunkStreams + 1) {
		many = append(many, tooMany.encode(testMsg{csid: 2 + c, typ: typeAudio, msid: 1, payload: fill(2)})...)
	}
	cases := map[string][]byte{
		"fmt 3 on a new chunk stream": {0xc5, 1, 2, 3},
		"fmt 2 on a new chunk stream": {0x85, 0, 0, 1, 9, 9},
		"SetChunkSize 0":              newChunkEncoder().encode(testMsg{csid: 2, typ: typeSetChunkSize, payload: u32(0)}),
		"short SetChunkSize":          newChunkEncoder().encode(testMsg{csid: 2, typ: typeSetChunkSize, payload: []byte{1, 0}}),
		"65 chunk streams":            many,
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			p := newChunkParser()
			var err error
			for rest := b; len(rest) > 0 && err == nil; {
				var n int
				n, _, _, err = p.feed(rest)
				rest = rest[n:]
			}
			require.ErrorIs(t, err, errParse)
			n, _, ok, again := p.feed([]byte{0x03})
			require.Zero(t, n)
			require.False(t, ok)
			require.Equal(t, err, again)
		})
	}
}

// TestChunkParserSetChunkSize: the new size applies from the next chunk,
// and a size with the top bit set is taken without it (the bit is reserved).
func TestChunkParserSetChunkSize(t *testing.T) {
	e := newChunkEncoder()
	b := e.encode(testMsg{csid: 2, typ: typeSetChunkSize, payload: u32(0x80000000 | 200)})
	e.chunkSize = 200
	b = append(b, e.encode(testMsg{csid: 4, typ: typeVideo, msid: 1, payload: fill(1000)})...)
	got, err := parseAll(t, b, nil)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, uint32(1000), got[1].length)
}
