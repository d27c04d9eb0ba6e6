package tap

import (
	"bytes"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"
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
		require.LessOrEqual(t, p.nstreams, maxChunkStreams, "chunk streams")
		require.True(t, p.cs == nil || p.stream(p.cs.csid) == p.cs, "the current chunk stream is not in the parser's table")
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
		require.LessOrEqual(t, allocs, limit, "seed %d: allocations (error %v)", i, p.err)
	}
}

// feedAll feeds data in pieces of step bytes (all at once when 0),
// checking the contract of feed. TestChunkParserAllocs counts its
// allocations: it only makes a failure's message when one fails.
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
				require.Failf(t, "feed broke its contract", "feed consumed %d of %d bytes", n, len(piece))
			case !ok && n != len(piece):
				require.Failf(t, "feed broke its contract", "feed stopped at %d of %d bytes without a message", n, len(piece))
			case ok && m.length > 0xffffff:
				require.Failf(t, "feed broke its contract", "a message of %d bytes", m.length)
			}
			piece = piece[n:]
		}
	}
}

// FuzzDownStrip: what ffmpeg gets of the server's chunk stream parses into
// the same messages as what the server sent (chunk stream, type, message
// stream, length; not always the timestamp: see downState), its
// Acknowledgements aside, however the stream comes in pieces; the relay
// holds back a bounded number of bytes; and where nothing was stripped,
// the bytes are the same.
func FuzzDownStrip(f *testing.F) {
	for i, s := range chunkSeeds() {
		f.Add(s, uint8(i))
	}
	reply, _ := serverReply(1000, 2000)
	f.Add(reply[handshakeLen:], uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		s := &session{cfg: settings{log: hclog.NewNullLogger()}, ledger: newAckLedger(DefaultAckWindow),
			down: downState{parser: newChunkParser(), out: make([]byte, 0, len(data)+maxCarry+maxHeld)}}
		var out []byte
		for rest := data; len(rest) > 0; {
			k := len(rest)
			if step > 0 {
				k = min(k, int(step))
			}
			out = append(out, s.scanDown(rest[:k])...)
			rest = rest[k:]
			require.True(t, s.down.carryN <= maxCarry && s.down.heldN <= maxHeld, "holding %d + %d bytes", s.down.carryN, s.down.heldN)
		}
		out = append(out, s.down.end()...)
		require.LessOrEqual(t, len(out), len(data), "bytes out of the bytes in")
		in, _ := nonAcks(data)
		got, _ := nonAcks(out)
		require.GreaterOrEqual(t, len(got), len(in), "ffmpeg would get %d messages, the server sent %d", len(got), len(in))
		for i := range in {
			require.Equal(t, in[i], got[i], "message %d: what ffmpeg would get and what the server sent", i)
		}
		if s.ledger.look().Acks == 0 {
			require.True(t, bytes.Equal(out, data), "bytes changed though no ack was stripped")
		}
	})
}

// nonAcks parses b and returns its messages but the Acknowledgements
// (without timestamps), up to the first parse error.
func nonAcks(b []byte) ([]message, error) {
	p := newChunkParser()
	var out []message
	for len(b) > 0 {
		n, m, ok, err := p.feed(b)
		if err != nil {
			return out, err
		}
		b = b[n:]
		if ok && m.typ != typeAck {
			m.ts = 0
			out = append(out, m)
		}
	}
	return out, nil
}
