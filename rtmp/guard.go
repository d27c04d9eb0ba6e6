package rtmp

import (
	"errors"
	"fmt"
	"io"
	"net"
)

// GuardHoldLimit bounds what a Guard holds back while it waits for the end
// of a data or command message it must check: the message (at most
// MaxCommandSize) and the chunks of other messages interleaved with it. A
// data message not complete within it is dropped; a command is passed
// unchecked (its size is bounded all the same).
const GuardHoldLimit = 1 << 20

// guardPiece bounds one read of payload bytes passed through.
const guardPiece = 32 << 10

// Guard passes the chunk stream a server sends through to a client that
// decodes it itself (gortmplib's, which reads fmspush's RTMP sources), byte
// for byte, so that the client's acknowledgements count what the server
// sent, and holds it to this package's bounds on the way:
//
//   - A message longer than MessageLimit of its type ends the stream at its
//     header with a *LimitError, unless it is a data message of at most
//     MaxMediaMessageSize; so do unfinished messages beyond
//     MaxUnfinishedBytes.
//   - A data message (onMetaData, |RtmpSampleAccess) that is longer than
//     MaxCommandSize, beyond DecodeAMF's bounds or malformed is dropped: its
//     payload is rewritten in place into AMF strings of the same length,
//     which the client decodes into a few values and ignores. OnDrop hears
//     why. The media goes on.
//   - A command beyond DecodeAMF's bounds ends the stream with its
//     *LimitError.
//
// To check a data or command message, the Guard holds back the bytes from
// its first chunk on until its last chunk arrived (at most GuardHoldLimit).
// It follows SetChunkSize and Abort as the client does.
type Guard struct {
	cr     *ChunkReader
	skip   int
	onDrop func(error)

	pend    []byte // bytes read and not yet returned: pend[rd:release] may be
	rd      int    // returned, pend[release:] waits for a check
	release int
	err     error // once pend[rd:release] is drained

	streams    map[uint32]*guardStream
	cur        *guardStream // the chunk whose payload is being read
	holds      []*guardStream
	unfinished int // bytes of messages begun and not complete
	dropped    int
}

// guardStream is the Guard's view of one chunk stream's message under way.
type guardStream struct {
	csid      uint32
	st        *inStream
	got       uint32 // payload bytes of the message so far
	remaining uint32 // of the current chunk's payload
	drop      bool   // rewrite the payload as it passes
	asm       []byte // the payload, for messages the Guard reads (non-media)
	assemble  bool
	// held: the message's bytes from pend[start] on wait for its check;
	// segs are where its payload lies in pend.
	held  bool
	start int
	segs  []guardSeg
}

type guardSeg struct{ at, n, off int }

// NewGuard guards the chunk stream read from r, after skip bytes passed
// through unread (a client's handshake reads 1+2*HandshakeSize). onDrop,
// if set, hears of each data message dropped, with why.
func NewGuard(r io.Reader, skip int, onDrop func(error)) *Guard {
	g := &Guard{cr: NewChunkReader(r), skip: skip, onDrop: onDrop, streams: map[uint32]*guardStream{}}
	return g
}

// Dropped is how many data messages the Guard dropped (call it from the
// goroutine that reads).
func (g *Guard) Dropped() int { return g.dropped }

// Read returns the bytes that passed the Guard.
func (g *Guard) Read(p []byte) (int, error) {
	for g.rd == g.release {
		if g.err != nil {
			return 0, g.err
		}
		if g.rd == len(g.pend) { // nothing held: start the buffer again
			g.pend, g.rd, g.release = g.pend[:0], 0, 0
		}
		if err := g.step(); err != nil {
			g.err = err
		}
		g.holdLimit()
		g.updateRelease()
	}
	n := copy(p, g.pend[g.rd:g.release])
	g.rd += n
	return n, nil
}

// step reads one piece: handshake bytes, a chunk header or payload bytes.
func (g *Guard) step() error {
	switch {
	case g.skip > 0:
		at := len(g.pend)
		g.pend = append(g.pend, make([]byte, min(g.skip, guardPiece))...)
		n, err := g.cr.r.Read(g.pend[at:])
		g.pend = g.pend[:at+n]
		g.skip -= n
		return err
	case g.cur != nil:
		return g.payload(g.cur)
	}
	return g.header()
}

func (g *Guard) header() error {
	start := len(g.pend)
	g.cr.rec = &g.pend
	fmtType, csid, st, field, err := g.readHeader()
	g.cr.rec = nil
	if err != nil {
		return err
	}
	gs := g.streams[csid]
	if gs == nil {
		gs = &guardStream{csid: csid, st: st}
		g.streams[csid] = gs
	}
	if fmtType != 3 || !st.inProgress {
		if st.inProgress { // a new header abandons the message under way
			g.abandon(gs)
		}
		g.cr.startMessage(fmtType, field, st)
		if err := g.begin(gs, start); err != nil {
			return err
		}
	}
	gs.remaining = min(st.length-gs.got, g.cr.chunkSize)
	if gs.remaining > 0 {
		g.cur = gs
		return nil
	}
	return g.finish(gs) // a message of length 0
}

func (g *Guard) readHeader() (fmtType uint8, csid uint32, st *inStream, field uint32, err error) {
	if fmtType, csid, err = g.cr.readBasicHeader(); err != nil {
		return
	}
	if st, err = g.cr.stream(fmtType, csid); err != nil {
		return
	}
	if field, err = g.cr.readMessageHeader(fmtType, st); err != nil {
		return
	}
	field, err = g.cr.readExtended(fmtType, field, st)
	return
}

// begin checks a new message's length and decides how it passes.
func (g *Guard) begin(gs *guardStream, start int) error {
	st := gs.st
	gs.got, gs.drop, gs.asm, gs.assemble, gs.held, gs.segs = 0, false, nil, false, false, nil
	if err := checkLength(st.typ, st.length); err != nil {
		if st.typ != TypeDataAMF0 || st.length > MaxMediaMessageSize {
			return err
		}
		g.drop(gs, err)
		return nil
	}
	if IsMediaType(st.typ) {
		return nil
	}
	gs.assemble = true
	if st.typ == TypeDataAMF0 || st.typ == TypeCommandAMF0 {
		gs.held, gs.start = true, start
		g.holds = append(g.holds, gs)
	}
	return nil
}

func (g *Guard) payload(gs *guardStream) error {
	at := len(g.pend)
	k := int(min(gs.remaining, guardPiece))
	if g.unfinished+k > MaxUnfinishedBytes && gs.got+uint32(k) < gs.st.length {
		return &LimitError{Cause: "unfinished_too_large",
			Detail: fmt.Sprintf("unfinished messages hold more than %d bytes", MaxUnfinishedBytes)}
	}
	g.pend = append(g.pend, make([]byte, k)...)
	n, err := g.cr.r.Read(g.pend[at:])
	g.pend = g.pend[:at+n]
	piece := g.pend[at:]
	if gs.drop {
		rewriteAsStrings(piece, int(gs.got), int(gs.st.length))
	}
	if gs.assemble {
		gs.asm = append(gs.asm, piece...)
	}
	if gs.held {
		gs.segs = append(gs.segs, guardSeg{at: at, n: n, off: int(gs.got)})
	}
	gs.got += uint32(n)
	gs.remaining -= uint32(n)
	g.unfinished += n
	if gs.remaining == 0 {
		g.cur = nil
		if gs.got == gs.st.length {
			if ferr := g.finish(gs); ferr != nil {
				return ferr
			}
		}
	}
	if err != nil {
		return unexpected(err)
	}
	return nil
}

// finish checks and applies a complete message.
func (g *Guard) finish(gs *guardStream) error {
	st := gs.st
	st.inProgress = false
	g.unfinished -= int(gs.got)
	asm, assembled := gs.asm, gs.assemble
	gs.asm, gs.assemble = nil, false
	if !assembled { // media, or a data message dropped already
		g.decide(gs)
		return nil
	}
	m := &Message{ChunkStreamID: gs.csid, Type: st.typ, Payload: asm}
	switch st.typ {
	case TypeSetChunkSize:
		if err := g.cr.follow(m); err != nil {
			return err
		}
	case TypeAbort:
		if v, err := ParseUint32(m); err == nil {
			g.abort(v)
		}
	case TypeDataAMF0:
		if gs.held {
			if _, err := DecodeAMF(asm); err != nil {
				g.drop(gs, err)
			}
		}
	case TypeCommandAMF0:
		if gs.held {
			var le *LimitError
			if _, err := DecodeAMF(asm); errors.As(err, &le) {
				return err
			}
		}
	}
	g.decide(gs)
	return nil
}

// drop rewrites a data message: what passed is beyond recall (only a
// message not held gets here before its end, and then nothing of it has
// passed), what is held and what is to come become AMF strings.
func (g *Guard) drop(gs *guardStream, why error) {
	gs.drop, gs.asm, gs.assemble = true, nil, false
	for _, s := range gs.segs {
		rewriteAsStrings(g.pend[s.at:s.at+s.n], s.off, int(gs.st.length))
	}
	g.dropped++
	if g.onDrop != nil {
		g.onDrop(why)
	}
}

// decide lets a held message's bytes go.
func (g *Guard) decide(gs *guardStream) {
	if !gs.held {
		return
	}
	gs.held, gs.segs = false, nil
	for i, h := range g.holds {
		if h == gs {
			g.holds = append(g.holds[:i], g.holds[i+1:]...)
			break
		}
	}
}

// abandon ends a message the peer gave up (a new header or an Abort): the
// client discards it too.
func (g *Guard) abandon(gs *guardStream) {
	g.unfinished -= int(gs.got)
	gs.got, gs.asm, gs.assemble, gs.drop = 0, nil, false, false
	if g.cur == gs {
		g.cur = nil
	}
	g.decide(gs)
}

func (g *Guard) abort(csid uint32) {
	if gs := g.streams[csid]; gs != nil && gs.st.inProgress {
		g.abandon(gs)
	}
	g.cr.Abort(csid)
}

// holdLimit decides the oldest held message when the bytes held behind it
// exceed GuardHoldLimit: a data message is dropped, a command passes
// unchecked.
func (g *Guard) holdLimit() {
	for len(g.holds) > 0 && len(g.pend)-g.holds[0].start > GuardHoldLimit {
		gs := g.holds[0]
		if gs.st.typ == TypeDataAMF0 {
			g.drop(gs, fmt.Errorf("rtmp: data message not complete within %d bytes of the stream", GuardHoldLimit))
		} else {
			gs.asm, gs.assemble = nil, false
		}
		g.decide(gs)
	}
}

func (g *Guard) updateRelease() {
	g.release = len(g.pend)
	for _, h := range g.holds {
		g.release = min(g.release, h.start)
	}
}

// rewriteAsStrings rewrites b, the bytes at offset off of a payload of
// length total, so that the payload is AMF0 strings (marker, 16-bit length,
// bytes: at most 65538 bytes each) and, for a last piece too short for a
// string, nulls: at most 258 values for 16 MB, whatever the bytes were.
func rewriteAsStrings(b []byte, off, total int) {
	const seg = 3 + 0xFFFF
	for i := range b {
		pos := off + i
		s := pos / seg
		n := min(seg, total-s*seg)
		switch k := pos % seg; {
		case n < 3:
			b[i] = 0x05
		case k == 0:
			b[i] = 0x02
		case k == 1:
			b[i] = byte((n - 3) >> 8)
		case k == 2:
			b[i] = byte(n - 3)
		}
	}
}

// GuardConn wraps a client's connection to a server (before its handshake)
// so that what it reads passes a Guard (see Guard; onDrop may be nil).
// Writes, deadlines and Close go to nc.
func GuardConn(nc net.Conn, onDrop func(error)) net.Conn {
	return &guardConn{Conn: nc, g: NewGuard(nc, 1+2*HandshakeSize, onDrop)}
}

type guardConn struct {
	net.Conn
	g *Guard
}

func (c *guardConn) Read(p []byte) (int, error) { return c.g.Read(p) }
