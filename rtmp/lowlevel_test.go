package rtmp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"

	"github.com/stretchr/testify/require"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

type serverOutcome struct {
	res ServerHandshakeResult
	err error
}

func runHandshake(t *testing.T, copt HandshakeOptions, sopt ServerHandshakeOptions) (HandshakeResult, error, serverOutcome) {
	t.Helper()
	c, s := tcpPair(t)
	done := make(chan serverOutcome, 1)
	go func() {
		r, err := ServerHandshake(s, sopt)
		done <- serverOutcome{r, err}
	}()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	res, err := ClientHandshake(c, copt)
	return res, err, <-done
}

// A digest C1 is recognised by our server, which answers with a valid server
// digest and an S2 signed from the client digest; the client verifies both.
func TestHandshakeDigestRoundTrip(t *testing.T) {
	for _, scheme := range []int{SchemeA, SchemeB} {
		res, err, srv := runHandshake(t, HandshakeOptions{Scheme: scheme}, ServerHandshakeOptions{RequireDigest: true})
		require.NoError(t, err)
		require.NoError(t, srv.err)
		require.True(t, srv.res.ClientDigest)
		require.Equal(t, scheme, srv.res.Scheme)
		require.Equal(t, DefaultClientVersion, srv.res.ClientVersion)
		require.True(t, res.ServerDigestValid)
		require.Equal(t, SchemeA, res.ServerScheme)
		require.True(t, res.S2DigestValid)
	}
}

// A simple C1 completes against a lenient server (S2 echoes C1, no digest).
func TestHandshakeSimple(t *testing.T) {
	res, err, srv := runHandshake(t, HandshakeOptions{Simple: true}, ServerHandshakeOptions{})
	require.NoError(t, err)
	require.NoError(t, srv.err)
	require.False(t, srv.res.ClientDigest)
	require.Equal(t, SchemeNone, srv.res.Scheme)
	require.False(t, res.ServerDigestValid)
}

// RequireDigest closes right after a simple C1, sends nothing, and returns a
// typed L1 error wrapping ErrDigestRequired; the client sees EOF.
func TestHandshakeRequireDigestRejectsSimple(t *testing.T) {
	_, err, srv := runHandshake(t, HandshakeOptions{Simple: true}, ServerHandshakeOptions{RequireDigest: true})
	require.Error(t, err)
	require.ErrorIs(t, err, io.EOF)
	require.ErrorIs(t, srv.err, ErrDigestRequired)
	var re *Error
	require.True(t, errors.As(srv.err, &re))
	require.Equal(t, health.LayerHandshake, re.Layer)
}

// A C1 whose digest is corrupted counts as no digest.
func TestHandshakeCorruptDigest(t *testing.T) {
	c1, err := randomBlock(0, DefaultClientVersion)
	require.NoError(t, err)
	signBlock(c1, SchemeA, clientKeyDigest)
	c1[digestOffset(c1, SchemeA)] ^= 0xFF
	d, scheme := findDigest(c1, clientKeyDigest)
	require.Nil(t, d)
	require.Equal(t, SchemeNone, scheme)
}

// nginx-rtmp validates a C1 digest and answers with a signed S1 and S2: our
// digest is right on the wire, and so is our check of the server's.
func TestHandshakeAgainstNginx(t *testing.T) {
	ng := testpeer.StartNginx(t)
	for _, simple := range []bool{false, true} {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(ng.Port)))
		require.NoError(t, err)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		res, err := ClientHandshake(c, HandshakeOptions{Simple: simple})
		c.Close()
		require.NoError(t, err)
		require.Equal(t, !simple, res.ServerDigestValid, "simple=%v", simple)
		require.Equal(t, !simple, res.S2DigestValid, "simple=%v", simple)
	}
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func sampleMessages() []*Message {
	big := bytes.Repeat([]byte{0xAB}, 5000)
	var ms []*Message
	ts := []uint32{0, 40, 80, 120, 120, 0xFFFFF0, 0xFFFFFF, 0x1000010, 0x1000030, 0x1000050, 0x3000000, 0xFFFFFFF0}
	for i, t := range ts {
		for _, csid := range []uint32{2, 4, 63, 64, 319, 320, 65599} {
			p := big[:[]int{0, 1, 128, 129, 5000}[i%5]]
			ms = append(ms, &Message{ChunkStreamID: csid, Type: TypeVideo, Timestamp: t, StreamID: 7, Payload: p})
		}
	}
	// a stream id change and a timestamp going backwards on one csid
	ms = append(ms, &Message{ChunkStreamID: 6, Type: TypeAudio, Timestamp: 5, StreamID: 0x01020304, Payload: []byte{1}})
	ms = append(ms, &Message{ChunkStreamID: 6, Type: TypeAudio, Timestamp: 1, StreamID: 0x01020304, Payload: []byte{2}})
	return ms
}

// Messages survive the chunk writer and reader under both policies, chunk
// sizes 1..4096, every csid width, and timestamps and deltas past 0xFFFFFF.
func TestChunkRoundTrip(t *testing.T) {
	for _, policy := range []HeaderPolicy{HeaderAuto, HeaderType0} {
		for _, size := range []uint32{1, 128, 4096} {
			var buf bytes.Buffer
			w := NewChunkWriter(&buf, policy)
			require.NoError(t, w.SetChunkSize(size))
			msgs := sampleMessages()
			for _, m := range msgs {
				require.NoError(t, w.WriteMessage(m))
			}
			r := NewChunkReader(&buf)
			require.NoError(t, r.SetChunkSize(size))
			fmts := map[uint8]int{}
			for i, want := range msgs {
				got, err := r.ReadMessage()
				require.NoError(t, err, "policy %v size %d msg %d", policy, size, i)
				require.Equal(t, want.ChunkStreamID, got.ChunkStreamID)
				require.Equal(t, want.Type, got.Type)
				require.Equal(t, want.Timestamp, got.Timestamp, "policy %v size %d msg %d", policy, size, i)
				require.Equal(t, want.StreamID, got.StreamID)
				require.Equal(t, len(want.Payload), len(got.Payload))
				require.True(t, bytes.Equal(want.Payload, got.Payload))
				fmts[got.Fmt]++
			}
			_, err := r.ReadMessage()
			require.ErrorIs(t, err, io.EOF)
			if policy == HeaderType0 {
				require.Equal(t, len(msgs), fmts[0])
			} else {
				require.Positive(t, fmts[1]+fmts[2]+fmts[3], "auto policy used only fmt 0")
			}
		}
	}
}

// The bytes on the wire: a fmt 0 header with little-endian stream id, and an
// extended timestamp repeated on the fmt 3 continuation chunk.
func TestChunkWireFormat(t *testing.T) {
	var buf bytes.Buffer
	w := NewChunkWriter(&buf, HeaderAuto)
	require.NoError(t, w.SetChunkSize(2))
	require.NoError(t, w.WriteMessage(&Message{ChunkStreamID: 8, Type: TypeCommandAMF0, Timestamp: 0x01000000, StreamID: 5, Payload: []byte{1, 2, 3}}))
	want := []byte{
		0x08, 0xFF, 0xFF, 0xFF, 0, 0, 3, 20, 5, 0, 0, 0, 0x01, 0, 0, 0, 1, 2,
		0xC8, 0x01, 0, 0, 0, 3,
	}
	require.Equal(t, want, buf.Bytes())
}

// An ffmpeg-style fmt 3 new message right after fmt 0 takes the fmt 0
// timestamp as its delta; our writer never produces that ambiguity.
func TestChunkFmt3AfterFmt0(t *testing.T) {
	in := []byte{
		0x04, 0, 0, 23, 0, 0, 1, 8, 1, 0, 0, 0, 0xAA, // fmt 0 ts 23
		0xC4, 0xBB, // fmt 3: ts 46
	}
	r := NewChunkReader(bytes.NewReader(in))
	m1, err := r.ReadMessage()
	require.NoError(t, err)
	m2, err := r.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, uint32(23), m1.Timestamp)
	require.Equal(t, uint32(46), m2.Timestamp)
	require.Equal(t, uint8(3), m2.Fmt)

	var buf bytes.Buffer
	w := NewChunkWriter(&buf, HeaderAuto)
	for _, ts := range []uint32{23, 46, 69, 92} {
		require.NoError(t, w.WriteMessage(&Message{ChunkStreamID: 4, Type: TypeAudio, Timestamp: ts, StreamID: 1, Payload: []byte{1}}))
	}
	r = NewChunkReader(&buf)
	var fmts []uint8
	for range 4 {
		m, err := r.ReadMessage()
		require.NoError(t, err)
		fmts = append(fmts, m.Fmt)
	}
	require.Equal(t, []uint8{0, 2, 3, 3}, fmts)
}

// The client acks every window of bytes read; its 64-bit counter keeps acking
// across the 32-bit wrap-around, and the sequence number sent wraps.
func TestAckWrapAround(t *testing.T) {
	c, s := tcpPair(t)
	const window = 1000
	base := uint64(1<<32) - 2500
	client := NewConn(c, ConnOptions{AutoAck: true, BytesReadBase: base})
	server := NewConn(s, ConnOptions{})
	readerDone := make(chan error, 1)
	go func() {
		for {
			if _, err := client.ReadMessage(); err != nil {
				readerDone <- err
				return
			}
		}
	}()
	require.NoError(t, server.WriteMessage(WindowAckSizeMessage(window)))
	payload := bytes.Repeat([]byte{0}, 300)
	for i := range 60 { // ~18 KB: crosses 2^32 after ~2.5 KB
		require.NoError(t, server.WriteMessage(&Message{ChunkStreamID: 3, Type: TypeDataAMF0, Timestamp: uint32(i), Payload: payload}))
	}
	require.NoError(t, server.WriteMessage(UserControlMessage(PingRequest, 4242)))
	var acks []uint32
	sawPong := false
	for !sawPong {
		s.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, err := server.ReadMessage()
		require.NoError(t, err)
		switch m.Type {
		case TypeAck:
			v, _ := ParseUint32(m)
			acks = append(acks, v)
		case TypeUserControl:
			ev, v, _ := ParseUserControl(m)
			require.Equal(t, PingResponse, ev)
			require.Equal(t, uint32(4242), v)
			sawPong = true
		}
	}
	require.GreaterOrEqual(t, len(acks), 8)
	wrapped := false
	for i := 1; i < len(acks); i++ {
		if acks[i] < acks[i-1] {
			wrapped = true
		}
		require.GreaterOrEqual(t, acks[i]-acks[i-1], uint32(window)) // modular difference
	}
	require.True(t, wrapped, "acks never wrapped: %v", acks)
	c.Close()
	<-readerDone
}

// A peer that announces a 16 MB chunk size and messages as large as the
// media bound allows but sends a few bytes costs us about what it sent, not
// what it announced.
func TestChunkReaderAllocatesAsBytesArrive(t *testing.T) {
	in := []byte{0x02, 0, 0, 0, 0, 0, 4, TypeSetChunkSize, 0, 0, 0, 0, 0x00, 0xFF, 0xFF, 0xFF}
	for csid := byte(3); csid < 60; csid++ {
		in = append(in, csid, 0, 0, 0, byte(MaxMediaMessageSize>>16), 0, 0, TypeVideo, 1, 0, 0, 0, 1, 2, 3)
	}
	r := NewChunkReader(bytes.NewReader(in))
	_, err := r.ReadMessage() // SetChunkSize
	require.NoError(t, err)
	var grew uint64
	grew = allocatedBy(func() {
		_, err = r.ReadMessage()
	})
	require.ErrorIs(t, err, io.ErrUnexpectedEOF) // the first big message never completes
	require.Less(t, grew, uint64(64<<10), "allocated for %d bytes of input", len(in))
}

// Every message is held to the bound of its type at the header that starts
// it (fmt 0, 1, or a fmt 3 chunk starting a new message): nothing of its
// payload is read or allocated, and the error says what was refused.
func TestChunkReaderBoundsAtHeader(t *testing.T) {
	header := func(typ uint8, length int) []byte {
		return []byte{0x03, 0, 0, 0, byte(length >> 16), byte(length >> 8), byte(length), typ, 0, 0, 0, 0}
	}
	for _, tc := range []struct {
		typ    uint8
		length int
		is     error
		text   string
	}{
		{TypeCommandAMF0, MaxCommandSize + 1, ErrCommandTooLarge, "command message of 65537 bytes is larger than the 65536-byte limit"},
		{17, MaxCommandSize + 1, ErrCommandTooLarge, "command message of 65537 bytes"},
		{TypeDataAMF0, 16<<20 - 1, ErrMessageTooLarge, "data message of 16777215 bytes is larger than the 65536-byte limit"},
		{TypeSetChunkSize, MaxCommandSize + 1, ErrMessageTooLarge, "control message of 65537 bytes"},
		{99, MaxCommandSize + 1, ErrMessageTooLarge, "type 99 message of 65537 bytes"},
		{TypeVideo, MaxMediaMessageSize + 1, ErrMediaTooLarge, "video message of 8388609 bytes is larger than the 8388608-byte limit"},
		{TypeAudio, 16<<20 - 1, ErrMediaTooLarge, "audio message of 16777215 bytes"},
		{22, MaxMediaMessageSize + 1, ErrMediaTooLarge, "aggregate message of 8388609 bytes"},
	} {
		r := NewChunkReader(bytes.NewReader(header(tc.typ, tc.length))) // no payload at all
		var err error
		allocated := allocatedBy(func() { _, err = r.ReadMessage() })
		require.ErrorIs(t, err, tc.is, "type %d", tc.typ)
		require.Contains(t, err.Error(), tc.text)
		require.Less(t, allocated, uint64(16<<10))
	}
	// At the bound, a message is read.
	for _, tc := range []struct {
		typ    uint8
		length int
	}{{TypeCommandAMF0, MaxCommandSize}, {TypeVideo, MaxMediaMessageSize}} {
		var buf bytes.Buffer
		w := NewChunkWriter(&buf, HeaderAuto)
		require.NoError(t, w.SetChunkSize(4096))
		require.NoError(t, w.WriteMessage(&Message{ChunkStreamID: 5, Type: tc.typ, Payload: make([]byte, tc.length)}))
		r := NewChunkReader(&buf)
		require.NoError(t, r.SetChunkSize(4096))
		m, err := r.ReadMessage()
		require.NoError(t, err)
		require.Len(t, m.Payload, tc.length)
	}
	// A fmt 3 chunk that starts a new message inherits the length and the
	// type; a fmt 1 header changes them: both are checked.
	var buf bytes.Buffer
	w := NewChunkWriter(&buf, HeaderAuto)
	require.NoError(t, w.WriteMessage(&Message{ChunkStreamID: 5, Type: TypeDataAMF0, Payload: []byte{0x05}}))
	in := append(buf.Bytes(), 0x45, 0, 0, 0, 0x10, 0, 0, TypeDataAMF0) // fmt 1: 1 MiB of data
	r := NewChunkReader(bytes.NewReader(in))
	_, err := r.ReadMessage()
	require.NoError(t, err)
	_, err = r.ReadMessage()
	require.ErrorIs(t, err, ErrMessageTooLarge)
}

// A peer interleaving many chunk streams cannot make the reader hold more
// than MaxUnfinishedBytes of unfinished messages, nor make it allocate much
// more than it sent by starting messages on all 65598 chunk streams (before,
// each new message preallocated 8 KiB: 545 MB in use for 1 MB sent; 9 MB now).
func TestChunkReaderUnfinishedBound(t *testing.T) {
	// Three 7 MiB videos interleaved chunk by chunk: the third one's bytes
	// push the unfinished total past 16 MiB.
	const size, chunk = 7 << 20, 64 << 10
	var in bytes.Buffer
	in.Write([]byte{0x02, 0, 0, 0, 0, 0, 4, TypeSetChunkSize, 0, 0, 0, 0, 0, 1, 0, 0})
	body := make([]byte, chunk)
	for off := 0; off < size; off += chunk {
		for csid := byte(4); csid < 7; csid++ {
			if off == 0 {
				in.Write([]byte{csid, 0, 0, 0, size >> 16 & 0xFF, size >> 8 & 0xFF, size & 0xFF, TypeVideo, 1, 0, 0, 0})
			} else {
				in.WriteByte(0xC0 | csid)
			}
			in.Write(body)
		}
	}
	r := NewChunkReader(&in)
	_, err := r.ReadMessage()
	require.NoError(t, err)
	_, err = r.ReadMessage()
	require.ErrorIs(t, err, ErrUnfinishedTooLarge)
	require.LessOrEqual(t, r.unfinished, MaxUnfinishedBytes)

	// One byte of payload on each of 65598 chunk streams (chunk size 1,
	// messages of 1 MiB): the reader holds what arrived.
	in.Reset()
	in.Write([]byte{0x02, 0, 0, 0, 0, 0, 4, TypeSetChunkSize, 0, 0, 0, 0, 0, 0, 0, 1})
	mib := make([]byte, 1<<20)
	for csid := uint32(MinCSID + 1); csid <= MaxCSID; csid++ {
		in.Write(appendChunkHeader(nil, 0, &Message{ChunkStreamID: csid, Type: TypeVideo, StreamID: 1, Payload: mib}, 0))
		in.WriteByte(0x17)
	}
	sent := in.Len()
	r = NewChunkReader(&in)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for err = nil; err == nil; {
		_, err = r.ReadMessage()
	}
	runtime.ReadMemStats(&after)
	require.Equal(t, io.EOF, err)
	held := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d bytes sent on %d chunk streams: heap in use grew %.1f MB, %.1f MB allocated",
		sent, len(r.streams), float64(held)/1e6, float64(after.TotalAlloc-before.TotalAlloc)/1e6)
	require.Less(t, held, int64(16*sent))
	runtime.KeepAlive(r)
}

// Sequence headers are not coded frames; frames are, in every carriage.
func TestIsCodedFrame(t *testing.T) {
	for _, tc := range []struct {
		typ  uint8
		body []byte
		want bool
	}{
		{TypeVideo, []byte{0x17, 0, 0, 0, 0}, false},
		{TypeVideo, []byte{0x17, 1, 0, 0, 0}, true},
		{TypeVideo, []byte{0x27, 1, 0, 0, 0}, true},
		{TypeVideo, []byte{0x1C, 0, 0, 0, 0}, false},
		{TypeVideo, []byte{0x90, 'h', 'v', 'c', '1'}, false},
		{TypeVideo, []byte{0x91, 'h', 'v', 'c', '1'}, true},
		{TypeVideo, []byte{0xA3, 'h', 'v', 'c', '1'}, true},
		{TypeAudio, []byte{0xAF, 0, 0x12, 0x10}, false},
		{TypeAudio, []byte{0xAF, 1, 0x21}, true},
		{TypeAudio, []byte{0x72, 0x55}, true},
	} {
		require.Equal(t, tc.want, isCodedFrame(tc.typ, tc.body), "% x", tc.body)
	}
}

// HeaderExplicit replays the fmt a message asks for when the chunk stream's
// state allows it, and falls back to what is needed otherwise.
func TestChunkHeaderExplicit(t *testing.T) {
	var buf bytes.Buffer
	w := NewChunkWriter(&buf, HeaderExplicit)
	in := []*Message{
		{ChunkStreamID: 4, Type: TypeAudio, Timestamp: 0, StreamID: 1, Payload: []byte{1}, Fmt: 3},  // first: fmt 0 needed
		{ChunkStreamID: 4, Type: TypeAudio, Timestamp: 23, StreamID: 1, Payload: []byte{2}, Fmt: 0}, // fmt 0 on request
		{ChunkStreamID: 4, Type: TypeAudio, Timestamp: 46, StreamID: 1, Payload: []byte{3}, Fmt: 1}, // fmt 1 allowed
		{ChunkStreamID: 4, Type: TypeAudio, Timestamp: 69, StreamID: 1, Payload: []byte{4}, Fmt: 3}, // fmt 3 allowed (delta known)
		{ChunkStreamID: 4, Type: TypeVideo, Timestamp: 70, StreamID: 1, Payload: []byte{5}, Fmt: 2}, // type changed: fmt 1
	}
	for _, m := range in {
		require.NoError(t, w.WriteMessage(m))
	}
	r := NewChunkReader(&buf)
	var fmts []uint8
	for range in {
		m, err := r.ReadMessage()
		require.NoError(t, err)
		fmts = append(fmts, m.Fmt)
	}
	require.Equal(t, []uint8{0, 0, 1, 3, 1}, fmts)
}
