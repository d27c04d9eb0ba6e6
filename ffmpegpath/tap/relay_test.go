package tap

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The tests in this file drive the relay with exact bytes from both ends
// (loopback sockets, no RTMP peer): what must arrive is known to the byte.

// recorder is a TCP server that sends reply to the first connection and
// records everything it receives until the client's end.
type recorder struct {
	ln  net.Listener
	got chan []byte
}

func startRecorder(t *testing.T, reply []byte) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &recorder{ln: ln, got: make(chan []byte, 1)}
	go func() {
		defer close(r.got)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(reply) // the relay passes it on while the client writes
		data, _ := io.ReadAll(c)
		r.got <- data
	}()
	t.Cleanup(func() { ln.Close() })
	return r
}

// received waits for what the recorder received.
func (r *recorder) received(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-r.got:
		return b
	case <-time.After(10 * time.Second):
		require.Fail(t, "the recorder saw no end of the connection")
		return nil
	}
}

// exchange connects to the relay, writes out in small random pieces, reads
// n bytes back, closes its write side and returns what it read.
func exchange(t *testing.T, r *Relay, out []byte, n int) []byte {
	t.Helper()
	c, err := net.Dial("tcp", r.Addr())
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	errc := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(5, 6))
		for rest := out; len(rest) > 0; {
			k := min(len(rest), 1+rng.IntN(700))
			if _, err := c.Write(rest[:k]); err != nil {
				errc <- err
				return
			}
			rest = rest[k:]
		}
		errc <- c.(*net.TCPConn).CloseWrite()
	}()
	in := make([]byte, n)
	_, rerr := io.ReadFull(c, in)
	require.NoError(t, rerr)
	require.NoError(t, <-errc)
	rest, _ := io.ReadAll(c) // until the relay passes the server's end on
	require.Empty(t, rest)
	return in
}

// handshake is a side's handshake (version byte, then two 1536-byte blocks).
func handshake(version byte) []byte {
	b := append([]byte{version}, fill(1536)...)
	return append(b, fill(1536)...)
}

// clientPublish is a client's bytes up to a publish and some media, and
// where its connect ends.
func clientPublish() (b []byte, connectEnd int) {
	e := newChunkEncoder()
	b = handshake(rtmpVersion)
	b = append(b, e.encode(testMsg{csid: 2, typ: typeSetChunkSize, payload: u32(4096)})...)
	b = append(b, e.encode(testMsg{csid: 3, typ: typeCommandAMF0, payload: fill(5000)})...)
	connectEnd = len(b)
	b = append(b, e.encode(testMsg{csid: 3, fmt: 1, typ: typeCommandAMF0, payload: fill(60)})...)
	b = append(b, e.encode(testMsg{csid: 4, typ: typeVideo, msid: 1, ts: 0, payload: fill(9000)})...)
	b = append(b, e.encode(testMsg{csid: 4, fmt: 1, typ: typeAudio, msid: 1, ts: 21, payload: fill(300)})...)
	return b, connectEnd
}

// serverReply is a server's handshake, a SetChunkSize, acks and replies
// spanning chunks, and what ffmpeg gets of it (the same without the acks).
func serverReply(acks ...uint32) (reply, toFFmpeg []byte) {
	e := newChunkEncoder()
	reply = handshake(rtmpVersion)
	reply = append(reply, e.encode(testMsg{csid: 2, typ: typeSetChunkSize, payload: u32(4096)})...)
	toFFmpeg = slices.Clone(reply)
	for _, a := range acks {
		reply = append(reply, e.encode(testMsg{csid: 2, typ: typeAck, payload: u32(a)})...)
		result := e.encode(testMsg{csid: 3, typ: typeCommandAMF0, payload: fill(6000)})
		reply = append(reply, result...)
		toFFmpeg = append(toFFmpeg, result...)
	}
	return reply, toFFmpeg
}

func TestRelayInsertsWindowAckAfterConnect(t *testing.T) {
	client, connectEnd := clientPublish()
	reply, toFFmpeg := serverReply(5000, 20000)
	rec := startRecorder(t, reply)
	r, log := startRelay(t, rec.ln.Addr().String(), func(r *Relay) { r.AckWindow = 2500 })
	back := exchange(t, r, client, len(toFFmpeg))
	got := rec.received(t)
	require.NoError(t, waitDone(t, r, 5*time.Second))

	want := append(append(append([]byte{}, client[:connectEnd]...), windowAckMessage(7, 2500)...), client[connectEnd:]...)
	require.True(t, bytes.Equal(want, got), "the server got %d bytes, want %d (first difference at %d)", len(got), len(want), firstDiff(want, got))
	require.True(t, bytes.Equal(toFFmpeg, back), "ffmpeg's side got other bytes than the server sent, acks aside")
	rd := r.Reading()
	require.True(t, rd.Injected)
	require.Equal(t, int64(2), rd.Acks)
	require.Equal(t, uint64(20000), rd.Acked)
	require.Equal(t, uint64(len(client)-handshakeLen+windowAckLen), rd.Forwarded)
	require.Contains(t, log.String(), "asked the server for acknowledgements")
	require.NotContains(t, log.String(), "stopped parsing")
}

// TestRelayPicksAFreeChunkStream: a client that already uses chunk stream
// 7 gets the message on the next candidate.
func TestRelayPicksAFreeChunkStream(t *testing.T) {
	e := newChunkEncoder()
	client := handshake(rtmpVersion)
	client = append(client, e.encode(testMsg{csid: 7, typ: typeAudio, msid: 1, payload: fill(10)})...)
	client = append(client, e.encode(testMsg{csid: 3, typ: typeCommandAMF0, payload: fill(100)})...)
	reply, _ := serverReply()
	rec := startRecorder(t, reply)
	r, _ := startRelay(t, rec.ln.Addr().String(), nil)
	exchange(t, r, client, len(reply))
	got := rec.received(t)
	require.Equal(t, append(append([]byte{}, client...), windowAckMessage(5, DefaultAckWindow)...), got)
}

func TestRelayForwardsWhatItCannotParse(t *testing.T) {
	client, connectEnd := clientPublish()
	garbage := append(append([]byte{}, client[:handshakeLen]...), 0xc5, 1, 2, 3) // fmt 3 on a chunk stream never opened
	garbage = append(garbage, client[handshakeLen:]...)
	rtmpe := append([]byte{6}, client[1:]...)
	reply, toFFmpeg := serverReply(9000)
	plain, _ := serverReply()
	badReply := append(plain, 0x85, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	cases := []struct {
		name, log               string
		client, reply, toFFmpeg []byte
		injected                bool
	}{
		{"client garbage", "stopped parsing the client's chunk stream", garbage, reply, toFFmpeg, false},
		{"RTMPE", "not plain RTMP", rtmpe, reply, toFFmpeg, false},
		{"server garbage", "stopped parsing the server's chunk stream", client, badReply, badReply, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := startRecorder(t, c.reply)
			r, log := startRelay(t, rec.ln.Addr().String(), nil)
			back := exchange(t, r, c.client, len(c.toFFmpeg))
			got := rec.received(t)
			require.NoError(t, waitDone(t, r, 5*time.Second))
			want := c.client
			if c.injected {
				want = append(append(append([]byte{}, client[:connectEnd]...), windowAckMessage(7, DefaultAckWindow)...), client[connectEnd:]...)
			}
			require.True(t, bytes.Equal(want, got), "the server got other bytes (first difference at %d)", firstDiff(want, got))
			require.True(t, bytes.Equal(c.toFFmpeg, back), "ffmpeg's side got other bytes")
			require.Equal(t, c.injected, r.Reading().Injected)
			require.Equal(t, 1, strings.Count(log.String(), c.log), "logged once: %s", log.String())
		})
	}
}

// TestRelayStripsAcksKeepingFraming: the server's Acknowledgements do not
// reach ffmpeg; a chunk whose header depends on a stripped one's (fmt 1-3)
// gets the fmt 0 header of the same message, or, where that would change
// the extended timestamps, the stripped acks passed on just before it.
func TestRelayStripsAcksKeepingFraming(t *testing.T) {
	e, full := newChunkEncoder(), newChunkEncoder()
	var reply, want []byte
	both := func(b []byte) { reply, want = append(reply, b...), append(want, b...) }
	server := func(m testMsg) []byte { b := e.encode(m); reply = append(reply, b...); return b }
	both(handshake(rtmpVersion))
	both(e.encode(testMsg{csid: 2, typ: typeSetChunkSize, payload: u32(4096)}))
	server(testMsg{csid: 2, typ: typeAck, payload: u32(1000)})
	server(testMsg{csid: 2, fmt: 2, typ: typeAck, ts: 5, payload: u32(2000)})
	server(testMsg{csid: 2, fmt: 3, typ: typeAck, payload: u32(3000)})
	server(testMsg{csid: 2, fmt: 1, typ: 4, ts: 5, payload: fill(6)}) // depends on the acks: timestamp 15
	want = append(want, full.encode(testMsg{csid: 2, typ: 4, ts: 15, payload: fill(6)})...)
	server(testMsg{csid: 2, typ: typeAck, payload: u32(4000)})
	both(e.encode(testMsg{csid: 2, typ: 4, payload: fill(6)})) // self-contained: the ack goes
	both(e.encode(testMsg{csid: 3, typ: typeCommandAMF0, payload: fill(9000)}))
	// Past 0xffffff by a delta: a fmt 0 header would add extended
	// timestamps, so the acks go on before the chunk that depends on them.
	a5 := server(testMsg{csid: 2, typ: typeAck, ts: 0xfffff0, payload: u32(5000)})
	a6 := server(testMsg{csid: 2, fmt: 3, typ: typeAck, payload: u32(6000)})
	late := server(testMsg{csid: 2, fmt: 1, typ: 4, ts: 0x20, payload: fill(6)})
	want = append(append(append(want, a5...), a6...), late...)
	server(testMsg{csid: 2, typ: typeAck, payload: u32(7000)})
	server(testMsg{csid: 5, typ: typeAck, payload: u32(8000)}) // another stream: the ack held (7000) goes on
	want = append(want, reply[len(reply)-32:len(reply)-16]...) // and this one is dropped at the end

	client, _ := clientPublish()
	rec := startRecorder(t, reply)
	r, _ := startRelay(t, rec.ln.Addr().String(), nil)
	back := exchange(t, r, client, len(want))
	rec.received(t)
	require.NoError(t, waitDone(t, r, 5*time.Second))
	require.True(t, bytes.Equal(want, back), "ffmpeg got %d bytes, want %d (first difference at %d)", len(back), len(want), firstDiff(want, back))
	rd := r.Reading()
	require.Equal(t, int64(8), rd.Acks)
	require.Equal(t, uint64(8000), rd.Acked)
}

// TestRelayEndsWithTheServerReset: a server that resets the connection
// ends the relay with that error, and ffmpeg's side is reset too (as it
// would have been without the relay: ffmpeg names a reset, not an EOF).
func TestRelayEndsWithTheServerReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	served := make(chan struct{})
	defer func() { <-served }()
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.ReadFull(c, make([]byte, 100))
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}()
	r, _ := startRelay(t, ln.Addr().String(), nil)
	c, err := net.Dial("tcp", r.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(handshake(rtmpVersion))
	require.NoError(t, err)
	err = waitDone(t, r, 5*time.Second)
	var ie *ioErr
	require.ErrorAs(t, err, &ie)
	require.True(t, ie.server, "%v", err)
	require.ErrorIs(t, err, syscall.ECONNRESET)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, rerr := io.ReadAll(c)
	require.ErrorIs(t, rerr, syscall.ECONNRESET, "ffmpeg's side is reset")
}

// TestRelayDialError: a target that refuses ends the relay with the dial
// error and closes ffmpeg's connection.
func TestRelayDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	r, _ := startRelay(t, addr, nil)
	c, err := net.Dial("tcp", r.Addr())
	require.NoError(t, err)
	defer c.Close()
	err = waitDone(t, r, 5*time.Second)
	require.ErrorContains(t, err, "tap: dial")
	var de *DialError
	require.ErrorAs(t, err, &de)
	require.False(t, de.TLS)
	require.Equal(t, addr, de.Addr)
	require.False(t, de.At.IsZero())
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, rerr := io.ReadAll(c)
	require.NoError(t, rerr)
}

// TestRelayClosedBeforeAConnection: Close before ffmpeg connected ends the
// relay without error; Start twice is refused.
func TestRelayClosedBeforeAConnection(t *testing.T) {
	r, _ := startRelay(t, "127.0.0.1:1", nil)
	require.ErrorIs(t, r.Start(t.Context()), ErrStarted)
	require.NoError(t, r.Close())
	require.NoError(t, r.Wait())
	require.Equal(t, Reading{}, r.Reading())
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
