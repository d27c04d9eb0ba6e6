package rtmp

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ConnOptions configure a Conn.
type ConnOptions struct {
	// AutoAck sends an Acknowledgement whenever the bytes read since the last
	// one reach the peer's window, and answers PingRequest with PingResponse.
	// Clients set it; a server that wants to see raw traffic leaves it off.
	AutoAck bool
	// HeaderPolicy is the chunk writer's policy (HeaderAuto by default).
	HeaderPolicy HeaderPolicy
	// BytesReadBase is added to the read counter, for a peer that counts the
	// handshake too or to test the 32-bit wrap-around of acks.
	BytesReadBase uint64
	// DeferReplies makes the writer the only one to touch the socket: with
	// AutoAck, the reader queues its Acknowledgement and PingResponses and
	// signals Replies; the next write (or Flush) sends them first.
	DeferReplies bool
	// WriteTimeout, when positive, bounds a socket write that the server
	// takes nothing of: the write fails once TCP's count of acknowledged
	// bytes has not moved for this long while it waited (countingWriter).
	WriteTimeout time.Duration
}

// Conn is an RTMP connection after the handshake: a chunk reader and a chunk
// writer over one net.Conn. ReadMessage must be called from one goroutine;
// writes may come from any goroutine (one mutex serialises them). ReadMessage
// follows the peer's SetChunkSize, Abort and WindowAckSize and counts Acks;
// with AutoAck it also acks and answers pings. Every message, control ones
// included, is returned to the caller.
type Conn struct {
	nc           net.Conn
	cr           *ChunkReader
	autoAck      bool
	deferReplies bool

	wmu sync.Mutex
	cw  *ChunkWriter
	bw  *bufio.Writer

	replyMu sync.Mutex
	replies []*Message    // acks and pongs queued by the reader (DeferReplies)
	wake    chan struct{} // signalled when replies were queued

	readBase      uint64
	bytesWritten  atomic.Uint64
	socketWrites  atomic.Uint64
	peerWindow    atomic.Uint32
	acksReceived  atomic.Int64
	lastAck       atomic.Uint32
	peerAckAt     atomic.Int64 // unix ns of the peer's last Acknowledgement
	acksSent      atomic.Int64
	pingsAnswered atomic.Int64
	lastAckAt     uint64 // bytesRead when the last ack was sent; reader-owned
}

// NewConn wraps nc, whose handshake is done.
func NewConn(nc net.Conn, opt ConnOptions) *Conn {
	c := &Conn{nc: nc, autoAck: opt.AutoAck, deferReplies: opt.DeferReplies, wake: make(chan struct{}, 1)}
	c.readBase = opt.BytesReadBase
	c.lastAckAt = opt.BytesReadBase
	c.cr = NewChunkReader(nc)
	cw := countingWriter{w: nc, n: &c.bytesWritten, writes: &c.socketWrites, timeout: opt.WriteTimeout}
	c.bw = bufio.NewWriterSize(cw, 64*1024)
	c.cw = NewChunkWriter(c.bw, opt.HeaderPolicy)
	return c
}

// NetConn is the underlying connection (for deadlines, addresses, linger).
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the underlying connection.
func (c *Conn) Close() error { return c.nc.Close() }

// ReadMessage reads the next message and applies its protocol effects.
func (c *Conn) ReadMessage() (*Message, error) {
	m, err := c.cr.ReadMessage()
	if err != nil {
		return nil, err
	}
	if err := c.handleControl(m); err != nil {
		return m, err
	}
	if c.autoAck {
		if err := c.maybeAck(); err != nil {
			return m, err
		}
	}
	return m, nil
}

func (c *Conn) handleControl(m *Message) error {
	switch m.Type { // SetChunkSize and Abort are applied by the chunk reader
	case TypeAck:
		if v, err := ParseUint32(m); err == nil {
			c.lastAck.Store(v)
			c.peerAckAt.Store(time.Now().UnixNano())
			c.acksReceived.Add(1)
		}
	case TypeWindowAckSize:
		if v, err := ParseUint32(m); err == nil {
			c.peerWindow.Store(v)
		}
	case TypeUserControl:
		return c.handleUserControl(m)
	}
	return nil
}

func (c *Conn) handleUserControl(m *Message) error {
	ev, v, err := ParseUserControl(m)
	if err != nil || ev != PingRequest || !c.autoAck {
		return nil
	}
	if err := c.reply(UserControlMessage(PingResponse, v)); err != nil {
		return err
	}
	c.pingsAnswered.Add(1)
	return nil
}

// maxReplies bounds the reader's queue: a server that pings faster than
// the writer drains gets its oldest pings unanswered, not unbounded memory.
const maxReplies = 16

// reply sends a control reply at once, or with DeferReplies queues it for
// the writer and wakes it.
func (c *Conn) reply(m *Message) error {
	if !c.deferReplies {
		return c.WriteMessage(m)
	}
	c.replyMu.Lock()
	if len(c.replies) == maxReplies {
		c.replies = append(c.replies[:0], c.replies[1:]...)
	}
	c.replies = append(c.replies, m)
	c.replyMu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// Replies is signalled when the reader queued replies (DeferReplies): the
// writer should then Flush, or write, soon.
func (c *Conn) Replies() <-chan struct{} { return c.wake }

// takeReplies chunks the queued replies into the send buffer; wmu held.
func (c *Conn) takeReplies() error {
	c.replyMu.Lock()
	q := c.replies
	c.replies = nil
	c.replyMu.Unlock()
	for _, m := range q {
		if err := c.cw.WriteMessage(m); err != nil {
			return err
		}
	}
	return nil
}

// maybeAck sends an Acknowledgement when the bytes read since the last one
// reach the peer's window. The counter is 64-bit; the sequence number sent is
// its low 32 bits, so acks keep flowing across the 2^32 wrap-around.
func (c *Conn) maybeAck() error {
	win := uint64(c.peerWindow.Load())
	read := c.BytesRead()
	if win == 0 || read-c.lastAckAt < win {
		return nil
	}
	if err := c.reply(AckMessage(uint32(read))); err != nil {
		return err
	}
	c.lastAckAt = read
	c.acksSent.Add(1)
	return nil
}

// WriteMessage chunks and writes one message.
func (c *Conn) WriteMessage(m *Message) error { return c.WriteMessages(m) }

// WriteMessages writes several messages in one TCP segment where possible.
func (c *Conn) WriteMessages(ms ...*Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.takeReplies(); err != nil {
		return err
	}
	for _, m := range ms {
		if err := c.cw.WriteMessage(m); err != nil {
			return err
		}
	}
	return c.bw.Flush()
}

// BufferMessage chunks m into the send buffer without writing it to the
// socket: the next write that flushes (any WriteMessage) or Flush sends it,
// so that several messages leave in one syscall. A full buffer is written
// as it fills.
func (c *Conn) BufferMessage(m *Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.cw.WriteMessage(m)
}

// Flush writes the queued replies and what BufferMessage left in the send
// buffer.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.takeReplies(); err != nil {
		return err
	}
	return c.bw.Flush()
}

// Buffered is how many bytes wait in the send buffer.
func (c *Conn) Buffered() int {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.bw.Buffered()
}

// WriteMessageFmt0 writes m with a fmt 0 first chunk whatever the policy
// (ffmpeg sends metadata so).
func (c *Conn) WriteMessageFmt0(m *Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.takeReplies(); err != nil {
		return err
	}
	if err := c.cw.writeMessage(m, true); err != nil {
		return err
	}
	return c.bw.Flush()
}

// SetOutChunkSize sends SetChunkSize(n) and then uses n for outgoing chunks.
func (c *Conn) SetOutChunkSize(n uint32) error {
	if n < 1 || n > MaxChunkSize {
		return fmt.Errorf("rtmp: invalid chunk size %d", n)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.cw.WriteMessage(SetChunkSizeMessage(n)); err != nil {
		return err
	}
	if err := c.bw.Flush(); err != nil {
		return err
	}
	return c.cw.SetChunkSize(n)
}

// InChunkSize is the peer's chunk size. Call it from the reading goroutine.
func (c *Conn) InChunkSize() uint32 { return c.cr.ChunkSize() }

// OutChunkSize is our chunk size.
func (c *Conn) OutChunkSize() uint32 {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.cw.ChunkSize()
}

// BytesRead counts the chunk bytes consumed after the handshake (plus BytesReadBase).
func (c *Conn) BytesRead() uint64 { return c.readBase + c.cr.BytesRead() }

// BytesWritten counts bytes written after the handshake.
func (c *Conn) BytesWritten() uint64 { return c.bytesWritten.Load() }

// SocketWrites is how many writes reached the socket (each one a syscall).
func (c *Conn) SocketWrites() uint64 { return c.socketWrites.Load() }

// AcksReceived counts the peer's Acknowledgement messages.
func (c *Conn) AcksReceived() int64 { return c.acksReceived.Load() }

// LastAck is the sequence number of the peer's last Acknowledgement.
func (c *Conn) LastAck() uint32 { return c.lastAck.Load() }

// LastAckAt is when the peer's last Acknowledgement arrived (zero if none).
func (c *Conn) LastAckAt() time.Time {
	if n := c.peerAckAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// AcksSent counts Acknowledgements sent by AutoAck.
func (c *Conn) AcksSent() int64 { return c.acksSent.Load() }

// PingsAnswered counts PingResponses sent by AutoAck.
func (c *Conn) PingsAnswered() int64 { return c.pingsAnswered.Load() }

// PeerWindow is the window the peer announced with WindowAckSize (0 if none).
func (c *Conn) PeerWindow() uint32 { return c.peerWindow.Load() }

// wakeWriter signals Replies without queueing anything: the reader found
// something the writer must look at (a ReconnectRequest).
func (c *Conn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}
