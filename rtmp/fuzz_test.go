package rtmp

import (
	"bytes"
	"io"
	"testing"
)

// FuzzDecodeAMF: no input makes DecodeAMF panic or recurse without bound,
// and what decodes re-encodes.
func FuzzDecodeAMF(f *testing.F) {
	c := &Command{Name: "connect", TransactionID: 1, Args: []any{AMFObject{{Key: "app", Value: "live"}, {Key: "n", Value: 1.5}}}}
	b, _ := c.Encode()
	f.Add(b)
	md, _ := MetadataFor(nil, nil, H265Enhanced).SetDataFrame()
	f.Add(md)
	f.Add([]byte{0x0A, 0, 0, 0, 2, 0x05, 0x06, 0x01, 1})
	f.Add(bytes.Repeat([]byte{0x03, 0, 1, 'a'}, 100))
	f.Fuzz(func(t *testing.T, in []byte) {
		vals, err := DecodeAMF(in)
		if err != nil {
			return
		}
		if _, err := EncodeAMF(vals...); err != nil {
			t.Fatalf("decoded values do not re-encode: %v", err)
		}
		ParseCommand(&Message{Type: TypeCommandAMF0, Payload: in})
	})
}

// FuzzChunkReader: no byte stream makes the chunk reader panic, loop
// forever or allocate without bound; each message stays within 24 bits.
func FuzzChunkReader(f *testing.F) {
	var buf bytes.Buffer
	w := NewChunkWriter(&buf, HeaderAuto)
	for _, m := range sampleMessages()[:20] {
		w.WriteMessage(m)
	}
	f.Add(buf.Bytes(), uint16(128))
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0x10, 0}, uint16(128))
	f.Add([]byte{0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0, 1, 2, 3, 4, 0xC4, 1, 2, 3, 4}, uint16(1))
	f.Fuzz(func(t *testing.T, in []byte, size uint16) {
		r := NewChunkReader(bytes.NewReader(in))
		r.SetChunkSize(uint32(size))
		for i := 0; i < 10000; i++ {
			m, err := r.ReadMessage()
			if err != nil {
				return
			}
			if len(m.Payload) > MaxMessageSize {
				t.Fatalf("message of %d bytes", len(m.Payload))
			}
		}
	})
}

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
		if err == nil && strict && !res.ClientDigest {
			t.Fatal("handshake without digest accepted under RequireDigest")
		}
		ClientHandshake(&fuzzRW{bytes.NewReader(in)}, HandshakeOptions{})
	})
}
