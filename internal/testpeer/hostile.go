package testpeer

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// HostileBehaviour is what a HostileServer does to every connection. Each
// one stops at one step of an RTMP publish (L0-L3 of docs/triage.md); the
// faults after the publish (a RST after the first frame, a stall, a close
// after Publish.Start) are the strict emulator's fault rules (fmsim).
type HostileBehaviour string

// The behaviours of a HostileServer.
const (
	// HostileRefuse: nothing listens on the port (connection refused, L0).
	HostileRefuse HostileBehaviour = "refuse"
	// HostileBlackhole: nothing answers the SYN, so the dial hangs: a
	// listening socket whose accept queue (backlog 0) is full and never
	// accepted from drops every further SYN, as a firewall that drops does.
	HostileBlackhole HostileBehaviour = "blackhole"
	// HostileCloseAtAccept: the connection is closed (FIN) as soon as it is
	// accepted, before any byte.
	HostileCloseAtAccept HostileBehaviour = "close_at_accept"
	// HostileResetAtAccept: the connection is reset (RST) as soon as the
	// client's first byte (C0) arrives. A RST sent at the accept itself may
	// reach a loopback client before its connect() has returned, which
	// then fails the dial (L0) instead of the handshake.
	HostileResetAtAccept HostileBehaviour = "reset_at_accept"
	// HostileSilentAtAccept: the connection is accepted and read, and never
	// answered (no S0 S1 S2).
	HostileSilentAtAccept HostileBehaviour = "silent_at_accept"
	// HostileBadS0: S0 carries version 10 (not 3), followed by valid S1 and
	// S2; then the server reads and never answers.
	HostileBadS0 HostileBehaviour = "bad_s0"
	// HostileCloseAfterHandshake: a good handshake; the connect command is
	// read, then the connection is closed (FIN: everything sent was read).
	HostileCloseAfterHandshake HostileBehaviour = "close_after_handshake"
	// HostileResetAtConnect: a good handshake; the connect command is read,
	// then the connection is reset (RST).
	HostileResetAtConnect HostileBehaviour = "reset_at_connect"
	// HostileSilentAfterHandshake: a good handshake, then nothing: connect is
	// never answered, the connection never closed by the server.
	HostileSilentAfterHandshake HostileBehaviour = "silent_after_handshake"
	// HostileFloodAtConnect: connect is answered by an endless flood of
	// protocol control messages (pings, window sizes, peer bandwidth,
	// acknowledgements), never by its _result.
	HostileFloodAtConnect HostileBehaviour = "flood_at_connect"
	// HostileCloseAfterConnect: connect succeeds; releaseStream, FCPublish
	// and createStream are read, then the connection is closed (FIN).
	HostileCloseAfterConnect HostileBehaviour = "close_after_connect"
	// HostileSilentAfterConnect: connect succeeds; createStream is never
	// answered, the connection never closed by the server.
	HostileSilentAfterConnect HostileBehaviour = "silent_after_connect"
	// HostileFloodAfterConnect: connect succeeds, then an endless flood of
	// protocol control messages follows and createStream is never answered.
	HostileFloodAfterConnect HostileBehaviour = "flood_after_connect"
)

// HostileBehaviours lists every behaviour.
var HostileBehaviours = []HostileBehaviour{
	HostileRefuse, HostileBlackhole, HostileCloseAtAccept, HostileResetAtAccept, HostileSilentAtAccept, HostileBadS0,
	HostileCloseAfterHandshake, HostileResetAtConnect, HostileSilentAfterHandshake, HostileFloodAtConnect,
	HostileCloseAfterConnect, HostileSilentAfterConnect, HostileFloodAfterConnect,
}

// HostileServer is a small RTMP server on 127.0.0.1 that misbehaves in one
// chosen way (its Behaviour) for every connection. It speaks just enough
// RTMP for that: a simple handshake (S2 echoes C1, S1 carries no digest),
// chunked messages in and out, and AMF0 for the command names it reacts to
// and the replies it sends. It imports nothing of fmspush, so that every
// package's tests may use it.
type HostileServer struct {
	// Behaviour is what the server does to every connection.
	Behaviour HostileBehaviour

	addr     string
	ln       net.Listener
	done     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	accepted int
	lastErr  error
	holeFD   int        // the blackhole's listening socket, -1 if none
	held     []net.Conn // the connections that fill the blackhole's queue
}

// hostileFloodPeriod is how often a flooding server sends a batch of
// control messages (hostileFloodBatch pings and one of each other kind):
// about 1000 messages a second, steady traffic that keeps every read
// timeout of the client from firing without burning a CI core.
const (
	hostileFloodPeriod = 10 * time.Millisecond
	hostileFloodBatch  = 8
)

// StartHostile starts a HostileServer with behaviour b on 127.0.0.1 port 0;
// t.Cleanup closes it and every connection it holds.
func StartHostile(t testing.TB, b HostileBehaviour) *HostileServer {
	t.Helper()
	h, err := ListenHostile(b)
	if err != nil {
		t.Fatalf("hostile server %s: %v", b, err)
	}
	t.Cleanup(h.Close)
	return h
}

// ListenHostile starts a HostileServer with behaviour b on 127.0.0.1 port
// 0; the caller closes it.
func ListenHostile(b HostileBehaviour) (*HostileServer, error) {
	known := false
	for _, k := range HostileBehaviours {
		known = known || k == b
	}
	if !known {
		return nil, fmt.Errorf("unknown hostile behaviour %q", b)
	}
	h := &HostileServer{Behaviour: b, done: make(chan struct{}), conns: map[net.Conn]struct{}{}, holeFD: -1}
	if b == HostileBlackhole {
		if err := h.blackhole(); err != nil {
			h.Close()
			return nil, err
		}
		return h, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h.addr = ln.Addr().String()
	if b == HostileRefuse {
		// The port was free a moment ago and nothing listens on it now.
		ln.Close()
		return h, nil
	}
	h.ln = ln
	h.wg.Add(1)
	go h.acceptLoop()
	return h, nil
}

// blackhole listens on 127.0.0.1 with a backlog of 0, never accepts, and
// fills the accept queue: the kernel then drops every SYN to the port.
func (h *HostileServer) blackhole() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	h.holeFD = fd
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	if err := syscall.Listen(fd, 0); err != nil {
		return err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return err
	}
	h.addr = fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", h.addr, 300*time.Millisecond)
		if err != nil {
			return nil // a SYN went unanswered: the queue is full
		}
		h.held = append(h.held, c)
	}
	return fmt.Errorf("the accept queue of %s never filled", h.addr)
}

// Addr is the server's host:port.
func (h *HostileServer) Addr() string { return h.addr }

// URL is the publish URL rtmp://ADDR/app/name.
func (h *HostileServer) URL(app, name string) string {
	return "rtmp://" + h.addr + "/" + app + "/" + name
}

// Accepted is how many connections the server has accepted.
func (h *HostileServer) Accepted() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.accepted
}

// Err is the last protocol error the server met reading a client (nil when
// every client's chunks and messages were well-formed as far as they were
// read; the ends of connections are no errors).
func (h *HostileServer) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastErr
}

// Close stops accepting, closes every connection and waits for the
// connections' goroutines.
func (h *HostileServer) Close() {
	select {
	case <-h.done:
		return
	default:
	}
	close(h.done)
	if h.ln != nil {
		h.ln.Close()
	}
	for _, c := range h.held {
		c.Close()
	}
	if h.holeFD >= 0 {
		syscall.Close(h.holeFD)
	}
	h.mu.Lock()
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

func (h *HostileServer) acceptLoop() {
	defer h.wg.Done()
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		h.mu.Lock()
		select {
		case <-h.done:
			h.mu.Unlock()
			c.Close()
			return
		default:
		}
		h.accepted++
		h.conns[c] = struct{}{}
		h.wg.Add(1)
		h.mu.Unlock()
		go func() {
			defer h.wg.Done()
			err := h.serve(c)
			h.mu.Lock()
			delete(h.conns, c)
			if pe := (*protocolError)(nil); errors.As(err, &pe) {
				h.lastErr = err
			}
			h.mu.Unlock()
		}()
	}
}

// reset closes c with a RST (SO_LINGER 0).
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// closeWrite closes c as a server that is done does: a FIN first, then
// what the client still sends is read until it closes too, so that no
// unread byte turns the close into a RST.
func closeWrite(c net.Conn, r io.Reader) error {
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.CloseWrite(); err != nil {
			return err
		}
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	return drain(r)
}

// serve runs the behaviour on one connection and closes it.
func (h *HostileServer) serve(c net.Conn) error {
	switch h.Behaviour {
	case HostileCloseAtAccept:
		return closeWrite(c, c)
	case HostileResetAtAccept:
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err := c.Read(make([]byte, 1))
		reset(c)
		return err
	case HostileSilentAtAccept:
		defer c.Close()
		return drain(c)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	version := byte(3)
	if h.Behaviour == HostileBadS0 {
		version = 10
	}
	if err := serverHandshake(br, c, version); err != nil {
		return err
	}
	if h.Behaviour == HostileBadS0 || h.Behaviour == HostileSilentAfterHandshake {
		return drain(br)
	}
	cr := &chunkReader{r: br, size: 128, streams: map[uint32]*chunkStream{}}
	cw := &chunkWriter{w: c}
	connect, err := cr.readCommand("connect")
	if err != nil {
		return err
	}
	switch h.Behaviour {
	case HostileCloseAfterHandshake:
		return closeWrite(c, br)
	case HostileResetAtConnect:
		reset(c)
		return nil
	case HostileFloodAtConnect:
		return h.flood(c, cw, cr)
	}
	if err := cw.connectResult(connect.tid); err != nil {
		return err
	}
	switch h.Behaviour {
	case HostileCloseAfterConnect:
		if _, err := cr.readCommand("createStream"); err != nil {
			return err
		}
		return closeWrite(c, br)
	case HostileSilentAfterConnect:
		return cr.discard()
	case HostileFloodAfterConnect:
		return h.flood(c, cw, cr)
	}
	return fmt.Errorf("behaviour %q not served", h.Behaviour)
}

// flood sends control messages until the client or the server closes,
// reading (and discarding) what the client sends meanwhile.
func (h *HostileServer) flood(c net.Conn, cw *chunkWriter, cr *chunkReader) error {
	readErr := make(chan error, 1)
	go func() { readErr <- cr.discard() }()
	tick := time.NewTicker(hostileFloodPeriod)
	defer tick.Stop()
	var n uint32
	for {
		select {
		case err := <-readErr:
			return err
		case <-h.done:
			return nil
		case <-tick.C:
		}
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		for i := 0; i < hostileFloodBatch; i++ {
			n++
			cw.queue(2, 4, 0, u16u32(6, n)) // User Control PingRequest
		}
		cw.queue(2, 5, 0, be32(2500000+n%1000))            // Window Acknowledgement Size
		cw.queue(2, 6, 0, append(be32(2500000+n%1000), 2)) // Set Peer Bandwidth (dynamic)
		cw.queue(2, 3, 0, be32(n))                         // Acknowledgement
		cw.queue(2, 4, 0, u16u32(0, 1))                    // User Control StreamBegin
		if err := cw.flush(); err != nil {
			return err
		}
	}
}

// drain reads r until EOF or an error, answering nothing.
func drain(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// serverHandshake reads C0 C1, sends S0 (version) S1 S2 (S2 echoes C1, the
// simple handshake every client accepts) and reads C2.
func serverHandshake(br *bufio.Reader, w io.Writer, version byte) error {
	c0c1 := make([]byte, 1+1536)
	if _, err := io.ReadFull(br, c0c1); err != nil {
		return fmt.Errorf("read C0C1: %w", err)
	}
	out := make([]byte, 1+2*1536)
	out[0] = version
	if _, err := rand.Read(out[1+8 : 1+1536]); err != nil {
		return err
	}
	copy(out[1+1536:], c0c1[1:])
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("write S0S1S2: %w", err)
	}
	if _, err := io.ReadFull(br, make([]byte, 1536)); err != nil {
		return fmt.Errorf("read C2: %w", err)
	}
	return nil
}

// chunkStream is one chunk stream's state in a chunkReader.
type chunkStream struct {
	length, msid uint32
	typ          uint8
	ext          bool
	buf          []byte
}

// chunkReader reassembles the client's messages from its chunks.
type chunkReader struct {
	r       *bufio.Reader
	size    uint32
	streams map[uint32]*chunkStream
}

// hostileMaxMessage bounds a client message this server assembles.
const hostileMaxMessage = 1 << 20

// message is one assembled client message.
type message struct {
	typ     uint8
	payload []byte
}

// read returns the next complete message, applying SetChunkSize.
func (cr *chunkReader) read() (message, error) {
	for {
		b, err := cr.r.ReadByte()
		if err != nil {
			return message{}, err
		}
		format, csid := b>>6, uint32(b&0x3f)
		switch csid {
		case 0:
			x, err := cr.r.ReadByte()
			if err != nil {
				return message{}, err
			}
			csid = 64 + uint32(x)
		case 1:
			var x [2]byte
			if _, err := io.ReadFull(cr.r, x[:]); err != nil {
				return message{}, err
			}
			csid = 64 + uint32(x[0]) + uint32(x[1])<<8
		}
		cs := cr.streams[csid]
		if cs == nil {
			cs = &chunkStream{}
			cr.streams[csid] = cs
		}
		hdr := [...]int{11, 7, 3, 0}[format]
		var h [11]byte
		if _, err := io.ReadFull(cr.r, h[:hdr]); err != nil {
			return message{}, err
		}
		if format < 3 {
			cs.ext = h[0] == 0xff && h[1] == 0xff && h[2] == 0xff
		}
		if format <= 1 {
			cs.length = uint32(h[3])<<16 | uint32(h[4])<<8 | uint32(h[5])
			cs.typ = h[6]
		}
		if format == 0 {
			cs.msid = binary.LittleEndian.Uint32(h[7:11])
		}
		if cs.ext {
			if _, err := io.ReadFull(cr.r, h[:4]); err != nil {
				return message{}, err
			}
		}
		if cs.length > hostileMaxMessage {
			return message{}, &protocolError{fmt.Sprintf("client message of %d bytes", cs.length)}
		}
		n := min(cr.size, cs.length-uint32(len(cs.buf)))
		chunk := make([]byte, n)
		if _, err := io.ReadFull(cr.r, chunk); err != nil {
			return message{}, err
		}
		cs.buf = append(cs.buf, chunk...)
		if uint32(len(cs.buf)) < cs.length {
			continue
		}
		m := message{typ: cs.typ, payload: cs.buf}
		cs.buf = nil
		if m.typ == 1 && len(m.payload) >= 4 { // SetChunkSize
			cr.size = binary.BigEndian.Uint32(m.payload) & 0x7fffffff
			if cr.size == 0 || cr.size > hostileMaxMessage {
				return message{}, &protocolError{fmt.Sprintf("client chunk size %d", cr.size)}
			}
		}
		return m, nil
	}
}

// protocolError is a client's message the server could not take.
type protocolError struct{ what string }

func (e *protocolError) Error() string { return "hostile server: " + e.what }

// command is the name and transaction id of an AMF0 command.
type command struct {
	name string
	tid  float64
}

// readCommand reads messages until the AMF0 command called name.
func (cr *chunkReader) readCommand(name string) (command, error) {
	for {
		m, err := cr.read()
		if err != nil {
			return command{}, err
		}
		if m.typ != 20 {
			continue
		}
		if c, ok := parseCommand(m.payload); ok && c.name == name {
			return c, nil
		}
	}
}

// discard reads and drops messages until the connection ends.
func (cr *chunkReader) discard() error {
	for {
		if _, err := cr.read(); err != nil {
			return err
		}
	}
}

// parseCommand decodes a command's name (AMF0 string) and transaction id
// (AMF0 number).
func parseCommand(p []byte) (command, bool) {
	if len(p) < 3 || p[0] != 0x02 {
		return command{}, false
	}
	n := int(binary.BigEndian.Uint16(p[1:3]))
	if len(p) < 3+n+9 || p[3+n] != 0x00 {
		return command{}, false
	}
	return command{name: string(p[3 : 3+n]), tid: math.Float64frombits(binary.BigEndian.Uint64(p[4+n:]))}, true
}

// chunkWriter sends messages in 128-byte chunks (the default chunk size,
// never changed), with a type 0 header first and type 3 headers after.
type chunkWriter struct {
	w   io.Writer
	buf []byte
}

// queue adds one message to the pending bytes.
func (cw *chunkWriter) queue(csid uint8, typ uint8, msid uint32, payload []byte) {
	b := cw.buf
	b = append(b, csid&0x3f, 0, 0, 0, byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload)), typ)
	b = binary.LittleEndian.AppendUint32(b, msid)
	for i := 0; i < len(payload); i += 128 {
		if i > 0 {
			b = append(b, 0xc0|csid&0x3f)
		}
		b = append(b, payload[i:min(i+128, len(payload))]...)
	}
	cw.buf = b
}

// flush writes the pending bytes.
func (cw *chunkWriter) flush() error {
	_, err := cw.w.Write(cw.buf)
	cw.buf = cw.buf[:0]
	return err
}

// connectResult answers connect with what FMS sends: the window, the peer
// bandwidth, and _result NetConnection.Connect.Success.
func (cw *chunkWriter) connectResult(tid float64) error {
	cw.queue(2, 5, 0, be32(2500000))
	cw.queue(2, 6, 0, append(be32(2500000), 2))
	var a amf0
	a.str("_result")
	a.num(tid)
	a.object("fmsVer", "FMS/3,5,7,7009", "capabilities", 31.0, "mode", 1.0)
	a.object("level", "status", "code", "NetConnection.Connect.Success",
		"description", "Connection succeeded.", "objectEncoding", 0.0)
	cw.queue(3, 20, 0, a)
	return cw.flush()
}

// amf0 builds AMF0 values.
type amf0 []byte

func (a *amf0) str(s string) {
	*a = append(*a, 0x02, byte(len(s)>>8), byte(len(s)))
	*a = append(*a, s...)
}

func (a *amf0) num(f float64) {
	*a = append(*a, 0x00)
	*a = binary.BigEndian.AppendUint64(*a, math.Float64bits(f))
}

// object appends an object of key, value pairs (string or float64 values).
func (a *amf0) object(kv ...any) {
	*a = append(*a, 0x03)
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		*a = append(*a, byte(len(k)>>8), byte(len(k)))
		*a = append(*a, k...)
		switch v := kv[i+1].(type) {
		case string:
			a.str(v)
		case float64:
			a.num(v)
		}
	}
	*a = append(*a, 0, 0, 0x09)
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func u16u32(a uint16, b uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, a), b)
}
