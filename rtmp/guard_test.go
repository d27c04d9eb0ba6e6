package rtmp

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/stretchr/testify/require"
)

// guardInput is a fake handshake (S0 S1 S2) followed by msgs chunked with
// chunk size 4096 after a SetChunkSize.
func guardInput(t *testing.T, msgs ...*Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.Write(bytes.Repeat([]byte{3}, 1+2*HandshakeSize))
	w := NewChunkWriter(&buf, HeaderAuto)
	for _, m := range append([]*Message{SetChunkSizeMessage(4096)}, msgs...) {
		require.NoError(t, w.WriteMessage(m))
		if m.Type == TypeSetChunkSize {
			v, err := ParseUint32(m)
			require.NoError(t, err)
			require.NoError(t, w.SetChunkSize(v))
		}
	}
	return buf.Bytes()
}

// guarded runs in through a Guard (read one byte at a time when slow) and
// returns what passed, the Guard's error and the drops it reported.
func guarded(in []byte, slow bool) ([]byte, error, []error) {
	var drops []error
	var r io.Reader = bytes.NewReader(in)
	if slow {
		r = iotest.OneByteReader(r)
	}
	g := NewGuard(r, 1+2*HandshakeSize, func(err error) { drops = append(drops, err) })
	out, err := io.ReadAll(g)
	return out, err, drops
}

func dataMessage(t *testing.T, vals ...any) *Message {
	t.Helper()
	p, err := EncodeAMF(vals...)
	require.NoError(t, err)
	return &Message{ChunkStreamID: CSIDAudio, Type: TypeDataAMF0, StreamID: 1, Payload: p}
}

// Everything within the bounds passes byte for byte: media, control
// messages (a chunk size change, an Abort), commands, data, however the
// reads fall.
func TestGuardPassesValidStreamUnchanged(t *testing.T) {
	cmd, err := (&Command{Name: "onStatus", Args: []any{nil, AMFObject{{Key: "level", Value: "status"}, {Key: "code", Value: "NetStream.Play.Start"}}}}).Message(CSIDCommand, 1)
	require.NoError(t, err)
	msgs := []*Message{cmd, dataMessage(t, "onMetaData", AMFECMAArray{{Key: "width", Value: 1920.0}})}
	msgs = append(msgs, sampleMessages()...)
	msgs = append(msgs, SetChunkSizeMessage(60000), &Message{ChunkStreamID: CSIDVideo, Type: TypeVideo, StreamID: 1, Timestamp: 9000, Payload: make([]byte, 200000)},
		AbortMessage(CSIDVideo), &Message{ChunkStreamID: 0x100, Type: TypeAudio, StreamID: 1, Payload: make([]byte, 70000)})
	in := guardInput(t, msgs...)
	for _, slow := range []bool{false, true} {
		out, err, drops := guarded(in, slow)
		require.NoError(t, err)
		require.Empty(t, drops)
		require.True(t, bytes.Equal(in, out), "the stream changed (slow %v)", slow)
	}
}

// readGortmplib decodes a guarded stream (after its handshake) with
// gortmplib's reader, as the RTMP source does, and returns its messages.
func readGortmplib(t *testing.T, b []byte) []message.Message {
	t.Helper()
	r := bytes.NewReader(b[1+2*HandshakeSize:])
	mr := message.NewReader(r, bytecounter.NewReader(r), nil)
	var out []message.Message
	for {
		m, err := mr.Read()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		out = append(out, m)
	}
}

// Metadata beyond the bounds (5000 values, 180 KB, malformed AMF) is dropped:
// rewritten in place into a few AMF strings of the same length, so that
// the media around it and the byte counts stay as the server sent them, and
// gortmplib's reader decodes the stream without an error.
func TestGuardDropsMetadataBeyondBounds(t *testing.T) {
	many := AMFECMAArray{}
	for i := 0; i < 5000; i++ {
		many = append(many, AMFObjectEntry{Key: "k", Value: float64(i)})
	}
	video := &Message{ChunkStreamID: CSIDVideo, Type: TypeVideo, StreamID: 1, Timestamp: 40, Payload: append([]byte{0x17, 1, 0, 0, 0}, make([]byte, 10000)...)}
	for _, tc := range []struct {
		name string
		data *Message
		why  error
	}{
		{"5000 values", dataMessage(t, "onMetaData", many), ErrAMFTooManyValues},
		{"180 KB", dataMessage(t, "onMetaData", string(bytes.Repeat([]byte{'x'}, 60000)), string(bytes.Repeat([]byte{'y'}, 60000)),
			string(bytes.Repeat([]byte{'z'}, 60000))), ErrMessageTooLarge},
		{"malformed", &Message{ChunkStreamID: CSIDAudio, Type: TypeDataAMF0, StreamID: 1, Payload: []byte{0x02, 0, 10, 'o', 'n', 0x0B}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := guardInput(t, video, tc.data, video)
			for _, slow := range []bool{false, true} {
				out, err, drops := guarded(in, slow)
				require.NoError(t, err)
				require.Len(t, out, len(in))
				require.Len(t, drops, 1)
				if tc.why != nil {
					require.ErrorIs(t, drops[0], tc.why)
				}
				require.True(t, strings.HasPrefix(drops[0].Error(), "rtmp: "), "%v", drops[0])
				msgs := readGortmplib(t, out)
				var kinds []string
				for _, m := range msgs {
					switch m := m.(type) {
					case *message.Video:
						kinds = append(kinds, "video")
					case *message.DataAMF0:
						kinds = append(kinds, "data")
						require.LessOrEqual(t, len(m.Payload), 3)
					}
				}
				require.Equal(t, []string{"video", "data", "video"}, kinds)
				if len(tc.data.Payload) > MaxCommandSize {
					continue // our reader refuses it
				}
				// Our reader sees the messages the server sent, of the same sizes.
				r := NewChunkReader(bytes.NewReader(out[1+2*HandshakeSize:]))
				var sizes []int
				for {
					m, err := r.ReadMessage()
					if err != nil {
						break
					}
					sizes = append(sizes, len(m.Payload))
				}
				require.Equal(t, []int{4, len(video.Payload), len(tc.data.Payload), len(video.Payload)}, sizes)
			}
		})
	}
}

// A command beyond the bounds, a message over the bound of its type (data
// over MaxMediaMessageSize included) and unfinished messages beyond
// MaxUnfinishedBytes end the stream with a *LimitError.
func TestGuardRefuses(t *testing.T) {
	nulls := bytes.Repeat([]byte{0x05}, 2000)
	manyVals := &Message{ChunkStreamID: CSIDCommand, Type: TypeCommandAMF0, Payload: append([]byte{0x02, 0, 7, '_', 'r', 'e', 's', 'u', 'l', 't'}, nulls...)}
	out, err, _ := guarded(guardInput(t, manyVals), false)
	require.ErrorIs(t, err, ErrAMFTooManyValues)
	require.Len(t, out, 1+2*HandshakeSize+16) // the handshake and the SetChunkSize passed; the command did not

	for _, tc := range []struct {
		header []byte
		is     error
	}{
		{[]byte{0x03, 0, 0, 0, 0x01, 0, 1, TypeCommandAMF0, 0, 0, 0, 0}, ErrCommandTooLarge},
		{[]byte{0x06, 0, 0, 0, 0x80, 0, 1, TypeVideo, 1, 0, 0, 0}, ErrMediaTooLarge},
		{[]byte{0x04, 0, 0, 0, 0x80, 0, 1, TypeDataAMF0, 1, 0, 0, 0}, ErrMessageTooLarge},
	} {
		in := append(bytes.Repeat([]byte{3}, 1+2*HandshakeSize), tc.header...)
		_, err, _ := guarded(in, false)
		require.ErrorIs(t, err, tc.is)
	}

	// Three 7 MiB videos interleaved: unfinished bytes beyond 16 MiB.
	var in bytes.Buffer
	in.Write(bytes.Repeat([]byte{3}, 1+2*HandshakeSize))
	in.Write([]byte{0x02, 0, 0, 0, 0, 0, 4, TypeSetChunkSize, 0, 0, 0, 0, 0, 1, 0, 0})
	const size = 7 << 20
	body := make([]byte, 64<<10)
	for off := 0; off < size; off += len(body) {
		for csid := byte(4); csid < 7; csid++ {
			if off == 0 {
				in.Write([]byte{csid, 0, 0, 0, size >> 16 & 0xFF, size >> 8 & 0xFF, size & 0xFF, TypeVideo, 1, 0, 0, 0})
			} else {
				in.WriteByte(0xC0 | csid)
			}
			in.Write(body)
		}
	}
	_, err, _ = guarded(in.Bytes(), false)
	require.ErrorIs(t, err, ErrUnfinishedTooLarge)
}

// A data message whose chunks are interleaved with more than GuardHoldLimit
// of media is dropped rather than held longer: what waits for it stays
// bounded.
func TestGuardHoldLimit(t *testing.T) {
	var in bytes.Buffer
	in.Write(bytes.Repeat([]byte{3}, 1+2*HandshakeSize))
	in.Write([]byte{0x02, 0, 0, 0, 0, 0, 4, TypeSetChunkSize, 0, 0, 0, 0, 0, 0, 0x10, 0}) // 4096
	data, err := EncodeAMF("onMetaData", string(bytes.Repeat([]byte{'x'}, 8000)))
	require.NoError(t, err)
	in.Write([]byte{0x04, 0, 0, 0, 0, byte(len(data) >> 8), byte(len(data)), TypeDataAMF0, 1, 0, 0, 0})
	in.Write(data[:4096])
	frame := make([]byte, 4096)
	for i := 0; i < 300; i++ { // 1.2 MB of video between the data's chunks
		if i == 0 {
			in.Write([]byte{0x06, 0, 0, 0, 0, 0x10, 0, TypeVideo, 1, 0, 0, 0})
		} else {
			in.Write([]byte{0x86, 0, 0, 40})
		}
		in.Write(frame)
	}
	in.WriteByte(0xC4)
	in.Write(data[4096:])
	var drops []error
	g := NewGuard(bytes.NewReader(in.Bytes()), 1+2*HandshakeSize, func(err error) { drops = append(drops, err) })
	got := 0
	buf := make([]byte, 4096)
	for {
		n, err := g.Read(buf)
		got += n
		require.LessOrEqual(t, len(g.pend), GuardHoldLimit+2*guardPiece)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	require.Equal(t, in.Len(), got)
	require.Len(t, drops, 1)
	require.Contains(t, drops[0].Error(), "not complete within")
	require.Equal(t, 1, g.Dropped())
}

// FuzzGuard: no byte stream makes the Guard panic or allocate more than a
// constant times what it was sent (DecodeAMF of the messages it checks is
// the largest part: at most about 100 bytes a byte); what passes is never
// longer than what came, and is what came, byte for byte, when nothing was
// dropped.
func FuzzGuard(f *testing.F) {
	var buf bytes.Buffer
	w := NewChunkWriter(&buf, HeaderAuto)
	for _, m := range sampleMessages()[:20] {
		w.WriteMessage(m)
	}
	f.Add(buf.Bytes())
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 4, TypeSetChunkSize, 0, 0, 0, 0, 0, 0, 0, 1, 0x04, 0, 0, 0, 0, 0, 9, TypeDataAMF0, 1, 0, 0, 0, 5, 0xC4, 5, 0xC4, 5})
	f.Add(append([]byte{0x03, 0, 0, 0, 0, 0x10, 0, TypeCommandAMF0, 0, 0, 0, 0}, bytes.Repeat([]byte{0x05}, 4096)...))
	f.Add(append([]byte{0x04, 0, 0, 0, 0x02, 0, 0, TypeDataAMF0, 0, 0, 0, 0}, bytes.Repeat([]byte{0x05}, 128)...))
	f.Fuzz(func(t *testing.T, in []byte) {
		src := append(bytes.Repeat([]byte{3}, 1+2*HandshakeSize), in...)
		var out []byte
		var drops []error
		allocated := allocatedBy(func() {
			g := NewGuard(bytes.NewReader(src), 1+2*HandshakeSize, func(err error) { drops = append(drops, err) })
			out, _ = io.ReadAll(io.LimitReader(g, int64(len(src))+1))
		})
		require.LessOrEqual(t, len(out), len(src), "%d bytes passed for %d", len(out), len(src))
		if len(drops) == 0 {
			require.True(t, bytes.Equal(out, src[:len(out)]), "bytes changed with nothing dropped")
		}
		limit := 160*uint64(len(in)) + 512<<10
		require.LessOrEqual(t, allocated, limit, "guarding %d bytes allocated %d (limit %d)", len(in), allocated, limit)
	})
}
