package fmsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/rtmp"

	"github.com/stretchr/testify/require"
)

// flvTag is one tag of the sample FLV file.
type flvTag struct {
	typ  uint8
	ts   uint32
	data []byte
}

var (
	sampleOnce sync.Once
	sampleTags []flvTag
	sampleErr  error
)

// loadSample reads media/sample/sample.flv into tags (once per test binary).
func loadSample(t testing.TB) []flvTag {
	t.Helper()
	sampleOnce.Do(func() {
		b, err := os.ReadFile(testpeer.SamplePath(t))
		if err != nil {
			sampleErr = err
			return
		}
		sampleTags, sampleErr = parseFLV(b)
	})
	require.NoError(t, sampleErr)
	return sampleTags
}

func parseFLV(b []byte) ([]flvTag, error) {
	if len(b) < 13 || string(b[:3]) != "FLV" {
		return nil, errors.New("not an FLV file")
	}
	pos := int(binary.BigEndian.Uint32(b[5:9])) + 4
	var tags []flvTag
	for pos+11 <= len(b) {
		size := int(b[pos+1])<<16 | int(b[pos+2])<<8 | int(b[pos+3])
		ts := uint32(b[pos+4])<<16 | uint32(b[pos+5])<<8 | uint32(b[pos+6]) | uint32(b[pos+7])<<24
		if pos+11+size > len(b) {
			break
		}
		tags = append(tags, flvTag{typ: b[pos], ts: ts, data: b[pos+11 : pos+11+size]})
		pos += 11 + size + 4
	}
	return tags, nil
}

// testClient is a minimal, deliberately configurable publisher written for
// these tests: every knob breaks one thing a strict server checks.
type testClient struct {
	Simple       bool   // simple handshake (no digest)
	FlashVer     string // default ffmpeg's
	NoFCPublish  bool
	NoAck        bool // never acknowledge
	NoPong       bool // never answer pings
	MSID         uint32
	NoMetadata   bool
	NoAudio      bool
	NoSeqHeaders bool
	BadNALU      bool // corrupt the first video frame's NALU length
	NoFirstKey   bool // drop the first keyframe (the first frame sent is not a keyframe)
	Type0        bool // start every message with a fmt 0 header
	Name         string

	nc   net.Conn
	conn *rtmp.Conn
	msgs chan *rtmp.Message
	errc chan error
	sid  uint32
	done chan struct{}

	ackedAt uint64 // bytes read at the last ack; reader-owned
}

const ffmpegFlashVer = "FMLE/3.0 (compatible; Lavf59.27.100)"

// dial runs handshake, connect, (releaseStream, FCPublish,) createStream and
// publish, returning the publish onStatus.
func (c *testClient) dial(addr string) (rtmp.StatusInfo, error) {
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return rtmp.StatusInfo{}, err
	}
	c.nc = nc
	if _, err := rtmp.ClientHandshake(nc, rtmp.HandshakeOptions{Simple: c.Simple}); err != nil {
		return rtmp.StatusInfo{}, fmt.Errorf("handshake: %w", err)
	}
	policy := rtmp.HeaderAuto
	if c.Type0 {
		policy = rtmp.HeaderType0
	}
	c.conn = rtmp.NewConn(nc, rtmp.ConnOptions{HeaderPolicy: policy})
	c.msgs, c.errc, c.done = make(chan *rtmp.Message, 1024), make(chan error, 1), make(chan struct{})
	go c.readLoop()
	return c.publish(addr)
}

func (c *testClient) readLoop() {
	defer close(c.done)
	for {
		m, err := c.conn.ReadMessage()
		if err != nil {
			c.errc <- err
			close(c.msgs)
			return
		}
		c.upkeep(m)
		select {
		case c.msgs <- m:
		default: // nobody waits for it
		}
	}
}

// upkeep acks and answers pings unless told not to.
func (c *testClient) upkeep(m *rtmp.Message) {
	if m.Type == rtmp.TypeUserControl && !c.NoPong {
		if ev, v, err := rtmp.ParseUserControl(m); err == nil && ev == rtmp.PingRequest {
			_ = c.conn.WriteMessage(rtmp.UserControlMessage(rtmp.PingResponse, v))
		}
	}
	if !c.NoAck {
		win := uint64(c.conn.PeerWindow())
		if read := c.conn.BytesRead(); win > 0 && read-c.ackedAt >= win/2 {
			c.ackedAt = read
			_ = c.conn.WriteMessage(rtmp.AckMessage(uint32(read)))
		}
	}
}

func (c *testClient) cmd(csid, msid uint32, name string, tid float64, args ...any) error {
	m, err := (&rtmp.Command{Name: name, TransactionID: tid, Args: args}).Message(csid, msid)
	if err != nil {
		return err
	}
	return c.conn.WriteMessage(m)
}

// waitCommand returns the first command named one of names (and, for
// _result and _error, answering transaction tid when tid > 0).
func (c *testClient) waitCommand(names ...string) (*rtmp.Command, error) {
	return c.waitTID(0, names...)
}

func (c *testClient) waitTID(tid float64, names ...string) (*rtmp.Command, error) {
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return nil, <-c.errcPeek()
			}
			if m.Type != rtmp.TypeCommandAMF0 {
				continue
			}
			cm, err := rtmp.ParseCommand(m)
			if err != nil || (tid > 0 && cm.TransactionID != tid) {
				continue
			}
			for _, n := range names {
				if cm.Name == n {
					return cm, nil
				}
			}
		case <-timeout:
			return nil, errors.New("timeout waiting for " + fmt.Sprint(names))
		}
	}
}

func (c *testClient) errcPeek() chan error {
	ch := make(chan error, 1)
	select {
	case err := <-c.errc:
		c.errc <- err
		ch <- err
	default:
		ch <- io.EOF
	}
	return ch
}

func (c *testClient) publish(addr string) (rtmp.StatusInfo, error) {
	fv := c.FlashVer
	if fv == "" {
		fv = ffmpegFlashVer
	}
	name := c.Name
	if name == "" {
		name = "key"
	}
	obj := rtmp.AMFObject{{Key: "app", Value: "live"}, {Key: "type", Value: "nonprivate"},
		{Key: "flashVer", Value: fv}, {Key: "tcUrl", Value: "rtmp://" + addr + "/live"}}
	if err := c.cmd(3, 0, "connect", 1, obj); err != nil {
		return rtmp.StatusInfo{}, err
	}
	res, err := c.waitCommand("_result", "_error")
	if err != nil {
		return rtmp.StatusInfo{}, fmt.Errorf("connect: %w", err)
	}
	if res.Name == "_error" {
		return res.Status(), errors.New("connect rejected: " + res.Status().String())
	}
	_ = c.conn.SetOutChunkSize(4096)
	if !c.NoFCPublish {
		_ = c.cmd(3, 0, "releaseStream", 2, nil, name)
		_ = c.cmd(3, 0, "FCPublish", 3, nil, name)
	}
	_ = c.cmd(3, 0, "createStream", 4, nil)
	cs, err := c.waitTID(4, "_result")
	if err != nil {
		return rtmp.StatusInfo{}, fmt.Errorf("createStream: %w", err)
	}
	sid, _ := cs.Arg(1).(float64)
	c.sid = uint32(sid)
	if c.MSID != 0 {
		c.sid = c.MSID
	}
	_ = c.cmd(8, c.sid, "publish", 5, nil, name, "live")
	st, err := c.waitCommand("onStatus")
	if err != nil {
		return rtmp.StatusInfo{}, fmt.Errorf("publish: %w", err)
	}
	if st.Status().Code != "NetStream.Publish.Start" {
		return st.Status(), errors.New("publish refused: " + st.Status().String())
	}
	return st.Status(), nil
}

// sendMedia sends the sample's tags from the start for about d of media
// time, paced at real time, honouring the breakage knobs. It stops early on a
// write error and returns it.
func (c *testClient) sendMedia(t testing.TB, d time.Duration) error {
	start := time.Now()
	badDone := false
	for _, tag := range loadSample(t) {
		if time.Duration(tag.ts)*time.Millisecond > d {
			break
		}
		if wait := time.Duration(tag.ts)*time.Millisecond - time.Since(start); wait > 0 {
			time.Sleep(wait) // pacing a real-time publish, not waiting for a condition
		}
		m, skip := c.tagMessage(tag, &badDone)
		if skip {
			continue
		}
		if err := c.conn.WriteMessage(m); err != nil {
			return err
		}
	}
	return nil
}

func (c *testClient) tagMessage(tag flvTag, badDone *bool) (*rtmp.Message, bool) {
	data := tag.data
	switch tag.typ {
	case 18:
		if c.NoMetadata {
			return nil, true
		}
		v, err := rtmp.DecodeAMF(data)
		if err != nil {
			return nil, true
		}
		p, _ := rtmp.EncodeAMF(append([]any{"@setDataFrame"}, v...)...)
		return &rtmp.Message{ChunkStreamID: 4, Type: 18, StreamID: c.sid, Payload: p}, false
	case 8:
		if c.NoAudio || (c.NoSeqHeaders && len(data) > 1 && data[1] == 0) {
			return nil, true
		}
		return &rtmp.Message{ChunkStreamID: 4, Type: 8, Timestamp: tag.ts, StreamID: c.sid, Payload: data}, false
	case 9:
		if c.NoSeqHeaders && len(data) > 1 && data[1] == 0 {
			return nil, true
		}
		if c.NoFirstKey && !*badDone && len(data) > 1 && data[1] == 1 && data[0]>>4 == 1 {
			*badDone = true
			return nil, true
		}
		if c.BadNALU && !*badDone && len(data) > 9 && data[1] == 1 {
			data = append([]byte(nil), data...)
			binary.BigEndian.PutUint32(data[5:], 0x00ffffff)
			*badDone = true
		}
		return &rtmp.Message{ChunkStreamID: 6, Type: 9, Timestamp: tag.ts, StreamID: c.sid, Payload: data}, false
	}
	return nil, true
}

// waitClosed waits for the server to end the connection and returns the read error.
func (c *testClient) waitClosed(within time.Duration) error {
	select {
	case <-c.done:
		return <-c.errc
	case <-time.After(within):
		return errors.New("connection still open")
	}
}

func (c *testClient) close() {
	if c.nc != nil {
		c.nc.Close()
	}
	if c.done != nil {
		<-c.done
	}
}
