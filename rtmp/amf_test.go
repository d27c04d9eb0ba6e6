package rtmp

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/stretchr/testify/require"
)

// Commands encode and decode through amf0, integers become numbers, and the
// status info is found in the arguments.
func TestCommandRoundTrip(t *testing.T) {
	c := &Command{Name: "onStatus", TransactionID: 0, Args: []any{nil, AMFObject{
		{Key: "level", Value: "error"}, {Key: "code", Value: "NetStream.Publish.BadName"},
		{Key: "description", Value: "bad"}, {Key: "n", Value: 3},
	}}}
	m, err := c.Message(CSIDCommand, 1)
	require.NoError(t, err)
	got, err := ParseCommand(m)
	require.NoError(t, err)
	require.Equal(t, "onStatus", got.Name)
	require.Equal(t, StatusInfo{Level: "error", Code: "NetStream.Publish.BadName", Description: "bad"}, got.Status())
	n, _ := got.ObjectArg(0).GetFloat64("n")
	require.Equal(t, 3.0, n)
}

// Deep nesting is refused before amf0 recurses into it.
func TestDecodeAMFDepth(t *testing.T) {
	deep := append(bytes.Repeat([]byte{0x0A, 0, 0, 0, 1}, MaxAMFDepth+5), 0x05)
	_, err := DecodeAMF(deep)
	require.ErrorIs(t, err, ErrAMFTooDeep)
	at := append(bytes.Repeat([]byte{0x0A, 0, 0, 0, 1}, MaxAMFDepth), 0x05)
	_, err = DecodeAMF(at)
	require.NoError(t, err)
	over := append(bytes.Repeat([]byte{0x03, 0, 1, 'k'}, MaxAMFDepth+1), 0x05)
	_, err = DecodeAMF(over)
	require.ErrorIs(t, err, ErrAMFTooDeep)
}

// The number of values is bounded, at the top level and in all, whatever
// the nesting; input within the bounds decodes.
func TestDecodeAMFValueBounds(t *testing.T) {
	nulls := func(n int) []byte { return bytes.Repeat([]byte{0x05}, n) }
	vals, err := DecodeAMF(nulls(MaxAMFTopValues))
	require.NoError(t, err)
	require.Len(t, vals, MaxAMFTopValues)
	_, err = DecodeAMF(nulls(MaxAMFTopValues + 1))
	require.ErrorIs(t, err, ErrAMFTooManyValues)
	var le *LimitError
	require.ErrorAs(t, err, &le)
	require.Equal(t, "amf_too_many_values", le.Cause)

	strict := func(n int) []byte {
		return append([]byte{0x0A, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, nulls(n)...)
	}
	_, err = DecodeAMF(strict(MaxAMFValues - 1)) // the array is a value too
	require.NoError(t, err)
	_, err = DecodeAMF(strict(MaxAMFValues))
	require.ErrorIs(t, err, ErrAMFTooManyValues)

	// An object's property values count: 4096 of them in one object.
	obj := []byte{0x03}
	for i := 0; i < MaxAMFValues; i++ {
		obj = append(obj, 0, 1, 'k', 0x05)
	}
	obj = append(obj, 0, 0, 0x09)
	_, err = DecodeAMF(obj)
	require.ErrorIs(t, err, ErrAMFTooManyValues)

	// A strict array announcing 4 billion elements costs nothing: the walk
	// stops at the end of the input and the decoder reports it.
	_, err = DecodeAMF([]byte{0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05})
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrAMFTooManyValues)

	// A string's length is bounded by the message.
	_, err = DecodeAMF([]byte{0x02, 0xFF, 0xFF, 'a'})
	require.Error(t, err)
}

// A command larger than MaxCommandSize is refused before it is decoded; a
// data message of that size is not a command and decodes.
func TestParseCommandSize(t *testing.T) {
	payload, err := EncodeAMF("onStatus", 0.0, nil, strings.Repeat("x", 60000), strings.Repeat("y", 10000))
	require.NoError(t, err)
	require.Greater(t, len(payload), MaxCommandSize)
	_, err = ParseCommand(&Message{Type: TypeCommandAMF0, Payload: payload})
	require.ErrorIs(t, err, ErrCommandTooLarge)
	require.Contains(t, err.Error(), "larger than the 65536-byte limit")
	c, err := ParseCommand(&Message{Type: TypeDataAMF0, Payload: payload})
	require.NoError(t, err)
	require.Equal(t, "onStatus", c.Name)
	payload, err = EncodeAMF("onStatus", 0.0, nil, strings.Repeat("x", 60000))
	require.NoError(t, err)
	_, err = ParseCommand(&Message{Type: TypeCommandAMF0, Payload: payload})
	require.NoError(t, err)
}

// hostileServer accepts one client on 127.0.0.1:0, answers its handshake and
// its connect with one command message (type 20) whose payload is prefix
// followed by size-len(prefix) bytes of fill, written chunk by chunk from a
// small buffer so that the server itself allocates little.
func hostileServer(t *testing.T, prefix []byte, size int, fill byte) string {
	return hostileServerOf(t, TypeCommandAMF0, prefix, size, fill)
}

// hostileServerOf is hostileServer answering with a message of type typ.
func hostileServerOf(t *testing.T, typ uint8, prefix []byte, size int, fill byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := ServerHandshake(nc, ServerHandshakeOptions{}); err != nil {
			return
		}
		c := NewConn(nc, ConnOptions{})
		for {
			m, err := c.ReadMessage()
			if err != nil {
				return
			}
			if m.Type == TypeCommandAMF0 {
				break
			}
		}
		const chunk = 4096
		if c.SetOutChunkSize(chunk) != nil {
			return
		}
		bw := bufio.NewWriterSize(nc, 64*1024)
		bw.Write([]byte{0x03, 0, 0, 0, byte(size >> 16), byte(size >> 8), byte(size), typ, 0, 0, 0, 0})
		body := bytes.Repeat([]byte{fill}, chunk)
		for off := 0; off < size; off += chunk {
			if off > 0 {
				bw.WriteByte(0xC3)
			}
			n := min(chunk, size-off)
			b := body[:n]
			if off < len(prefix) {
				b = append(append([]byte(nil), prefix[off:min(len(prefix), off+n)]...), body[:n-min(n, len(prefix)-off)]...)
			}
			if _, err := bw.Write(b); err != nil {
				return
			}
		}
		if bw.Flush() != nil {
			return
		}
		io.Copy(io.Discard, nc) // until the client goes away
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return "rtmp://127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port) + "/live/key"
}

// dialHostile dials url and returns the error, how long the Dial took, how
// many bytes the process allocated meanwhile (TotalAlloc) and how much its
// heap in use grew.
func dialHostile(t *testing.T, url string) (err error, took time.Duration, allocated, heapGrowth int64) {
	t.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := Dial(ctx, url, PublishOptions{StepTimeout: 8 * time.Second})
	took = time.Since(start)
	runtime.ReadMemStats(&after)
	if p != nil {
		p.Close()
	}
	allocated = int64(after.TotalAlloc - before.TotalAlloc)
	heapGrowth = int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("Dial: %v after %v; allocated %.1f MB, heap in use %.1f -> %.1f MB", err, took,
		float64(allocated)/1e6, float64(before.HeapInuse)/1e6, float64(after.HeapInuse)/1e6)
	return err, took, allocated, heapGrowth
}

// A server that answers connect with one 16 MB message of AMF nulls (the
// "Hostile input" issue: 580-916 MB per connect) fails the Dial at L2 at
// once, and the process's heap stays bounded on the way. Measured before
// the bounds: a 10 s step timeout, 1.7 GB allocated, heap in use 600 MB;
// with the AMF bounds alone, 88.7 MB allocated (the chunk reader assembled
// the 16 MB message before ParseCommand refused it); with the chunk
// reader's bound the message is refused at its header: 0.4 MB.
func TestHostileHugeCommand(t *testing.T) {
	url := hostileServer(t, nil, 16<<20-1, 0x05)
	err, took, allocated, heapGrowth := dialHostile(t, url)
	re := asError(t, err)
	require.Equal(t, health.LayerConnect, re.Layer, "%v", err)
	require.Equal(t, "command_too_large", re.Cause, "%v", err)
	require.ErrorIs(t, err, ErrCommandTooLarge)
	require.Contains(t, err.Error(), "command message of 16777215 bytes is larger than the 65536-byte limit")
	require.Less(t, took, 3*time.Second)
	require.Less(t, allocated, int64(4<<20))  // 0.4 MB measured
	require.Less(t, heapGrowth, int64(4<<20)) // 0.3 MB measured
}

// A data message or a video message beyond its bound at connect fails the
// Dial at L2 as well, refused at its header: a server's data messages are
// otherwise ignored, and a server sends no media to a publisher.
func TestHostileHugeDataAndMedia(t *testing.T) {
	for _, tc := range []struct {
		typ   uint8
		size  int
		cause string
		is    error
	}{
		{TypeDataAMF0, 16<<20 - 1, "message_too_large", ErrMessageTooLarge},
		{TypeUserControl, MaxCommandSize + 1, "message_too_large", ErrMessageTooLarge},
		{TypeVideo, MaxMediaMessageSize + 1, "media_too_large", ErrMediaTooLarge},
	} {
		url := hostileServerOf(t, tc.typ, nil, tc.size, 0x05)
		err, took, allocated, _ := dialHostile(t, url)
		re := asError(t, err)
		require.Equal(t, health.LayerConnect, re.Layer, "%v", err)
		require.Equal(t, tc.cause, re.Cause, "%v", err)
		require.ErrorIs(t, err, tc.is)
		require.Less(t, took, 3*time.Second)
		require.Less(t, allocated, int64(4<<20))
	}
}

// A command within MaxCommandSize but with more values than MaxAMFValues
// allows (a _result to connect followed by 60000 nulls) fails the Dial at
// L2 at once, as amf_too_many_values.
func TestHostileManyValues(t *testing.T) {
	prefix, err := EncodeAMF("_result", 1.0)
	require.NoError(t, err)
	url := hostileServer(t, prefix, 60000, 0x05)
	err, took, allocated, _ := dialHostile(t, url)
	re := asError(t, err)
	require.Equal(t, health.LayerConnect, re.Layer, "%v", err)
	require.Equal(t, "amf_too_many_values", re.Cause, "%v", err)
	require.ErrorIs(t, err, ErrAMFTooManyValues)
	require.Less(t, took, 3*time.Second)
	require.Less(t, allocated, int64(8<<20))
}

// After publish, a command beyond the bounds ends the session at L4 (the
// reader stops and Err says why) instead of being skipped.
func TestHostileCommandAfterPublish(t *testing.T) {
	s := newScriptServer(t, func(s *scriptServer) {
		s.AfterPublish = func(c *Conn) error {
			return c.WriteMessage(&Message{ChunkStreamID: CSIDCommand, Type: TypeCommandAMF0,
				Payload: bytes.Repeat([]byte{0x05}, MaxCommandSize+1)})
		}
	})
	p, err := dial(t, s.url("live/key"), PublishOptions{})
	require.NoError(t, err)
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		require.FailNow(t, "the session did not end")
	}
	re := asError(t, p.Err())
	require.Equal(t, health.LayerUpkeep, re.Layer, "%v", re)
	require.Equal(t, "command_too_large", re.Cause, "%v", re)
	require.ErrorIs(t, p.Close(), ErrCommandTooLarge)
	waitFinished(t, s)
}
