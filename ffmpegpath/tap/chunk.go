package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// RTMP message types the parser reads the payload of (the first 4 bytes).
const (
	typeSetChunkSize = 1
	typeAbort        = 2
	typeAck          = 3
	typeWindowAck    = 5
	typePeerBW       = 6
	typeAudio        = 8
	typeVideo        = 9
	typeCommandAMF0  = 20
)

const (
	// maxChunkStreams bounds the chunk stream ids one peer may use: a peer
	// that uses more is not parsed further (ffmpeg uses 5, servers a few).
	maxChunkStreams = 64
	// defaultChunkSize is the chunk size until a SetChunkSize.
	defaultChunkSize = 128
	// extendedTS is the timestamp field value that announces an extended timestamp.
	extendedTS = 0xffffff
)

// headerLen is the message header's length by chunk format (fmt 0..3).
var headerLen = [4]int{11, 7, 3, 0}

// errParse wraps every error of the chunk parser.
var errParse = errors.New("tap: chunk stream")

// message is a complete message as the parser saw it: its header and, for
// the control types, the first four bytes of its payload. The payload itself
// is never kept.
type message struct {
	csid     uint32
	typ      uint8
	msid     uint32
	length   uint32
	ts       uint32 // the message's timestamp, ms (deltas applied)
	value    uint32 // the first 4 payload bytes, big-endian, when hasValue
	hasValue bool
}

// chunkStream is the state of one chunk stream id.
type chunkStream struct {
	csid   uint32
	length uint32 // the message length the last header announced
	typ    uint8
	msid   uint32
	ts     uint32 // the current message's timestamp
	delta  uint32 // the last timestamp delta (fmt 1, 2; reapplied by fmt 3)
	ext    bool   // the last fmt 0-2 header carried an extended timestamp
	left   uint32 // payload bytes of the current message still to come; 0 between messages
	head   [4]byte
	headN  uint8
}

// phase is where in a chunk the parser is.
type phase uint8

const (
	phaseBasic    phase = iota // the first byte of a basic header
	phaseBasicExt              // the 1 or 2 more bytes of a basic header
	phaseHeader                // the message header
	phaseExtTS                 // the extended timestamp
	phasePayload               // the chunk's payload
)

// chunkParser follows one direction of an RTMP chunk stream (after the
// handshake) far enough to know where each chunk and message ends. It keeps
// a fixed amount of state (maxChunkStreams chunk streams, a few header
// bytes) whatever the peer sends: it never assembles a message. The zero
// value is not ready: use newChunkParser. Not safe for concurrent use.
type chunkParser struct {
	chunkSize uint32
	streams   [maxChunkStreams]chunkStream
	nstreams  int

	phase     phase
	buf       [11]byte // the basic header's extra bytes, or the message header, or the extended timestamp
	need, got int
	fmt       uint8
	csid      uint32
	cs        *chunkStream
	tsField   uint32 // the timestamp field of the chunk being read
	chunkLeft uint32 // payload bytes of the current chunk still to come
	first     bool   // the current chunk starts a message
	headerEnd bool   // a chunk header has just been read (for next)

	err error
}

func newChunkParser() *chunkParser { return &chunkParser{chunkSize: defaultChunkSize} }

// feed consumes bytes of b up to the end of the next complete message, or
// all of b. It returns how many bytes it consumed and the message when one
// completed (ok): the message's last byte is b[n-1], so b[n:] starts a new
// chunk. After an error it consumes nothing and returns the error again.
func (p *chunkParser) feed(b []byte) (n int, m message, ok bool, err error) {
	n, ev, m, err := p.next(b, false)
	return n, m, ev == evMessage, err
}

// event is what stopped next.
type event uint8

const (
	evNone    event = iota // b is consumed
	evHeader               // a chunk's header is complete (chunk says which); its payload follows
	evMessage              // a message is complete (its chunk's header came with it when it is empty)
)

// next is feed that, with chunks, also stops right after each chunk
// header (evHeader) and at the end of each chunk (evNone, the parser then
// in phaseBasic): for a caller that decides about each chunk before
// passing its bytes on.
func (p *chunkParser) next(b []byte, chunks bool) (n int, ev event, m message, err error) {
	for n < len(b) && p.err == nil {
		k, done := p.step(b[n:])
		n += k
		header := p.headerEnd
		p.headerEnd = false
		switch {
		case p.err != nil:
			return n, evNone, message{}, p.err
		case done:
			return n, evMessage, p.last(), nil
		case chunks && header:
			return n, evHeader, message{}, nil
		case chunks && p.phase == phaseBasic:
			return n, evNone, message{}, nil
		}
	}
	return n, evNone, message{}, p.err
}

// chunkInfo describes the chunk whose header was read last.
type chunkInfo struct {
	fmt    uint8
	csid   uint32
	first  bool // the chunk starts a message
	typ    uint8
	length uint32
	msid   uint32
	ts     uint32 // the message's timestamp
	ext    bool   // the chunk stream's chunks carry an extended timestamp
}

// chunk describes the chunk whose header was read last.
func (p *chunkParser) chunk() chunkInfo {
	cs := p.cs
	if cs == nil {
		return chunkInfo{}
	}
	return chunkInfo{fmt: p.fmt, csid: p.csid, first: p.first, typ: cs.typ, length: cs.length, msid: cs.msid, ts: cs.ts, ext: cs.ext}
}

// step consumes bytes of b within the current phase and reports whether a
// message completed.
func (p *chunkParser) step(b []byte) (int, bool) {
	switch p.phase {
	case phaseBasic:
		return 1, p.basic(b[0])
	case phaseBasicExt, phaseHeader, phaseExtTS:
		k := copy(p.buf[p.got:p.need], b)
		p.got += k
		if p.got < p.need {
			return k, false
		}
		return k, p.headerDone()
	}
	return p.payload(b)
}

// fail stops the parser.
func (p *chunkParser) fail(format string, args ...any) bool {
	p.err = fmt.Errorf("%w: "+format, append([]any{errParse}, args...)...)
	return false
}

// basic reads the first byte of a chunk. Like every step below it reports
// whether a message completed (an empty one can complete at its header);
// false with p.err set stops the parser.
func (p *chunkParser) basic(c byte) bool {
	p.fmt, p.csid = c>>6, uint32(c&0x3f)
	switch p.csid {
	case 0:
		p.expect(phaseBasicExt, 1)
	case 1:
		p.expect(phaseBasicExt, 2)
	default:
		return p.openChunk()
	}
	return false
}

// expect switches to a phase that reads n bytes into buf.
func (p *chunkParser) expect(ph phase, n int) { p.phase, p.need, p.got = ph, n, 0 }

// headerDone acts on the bytes a header phase gathered.
func (p *chunkParser) headerDone() bool {
	switch p.phase {
	case phaseBasicExt:
		p.csid = 64 + uint32(p.buf[0])
		if p.need == 2 {
			p.csid += uint32(p.buf[1]) << 8
		}
		return p.openChunk()
	case phaseHeader:
		return p.messageHeader()
	}
	p.tsField = binary.BigEndian.Uint32(p.buf[:4])
	return p.beginPayload()
}

// openChunk finds the chunk stream of the basic header just read and moves
// on to the message header.
func (p *chunkParser) openChunk() bool {
	p.cs = p.stream(p.csid)
	if p.cs == nil {
		if p.fmt > 1 {
			return p.fail("fmt %d chunk on chunk stream %d that has no header yet", p.fmt, p.csid)
		}
		if p.cs = p.newStream(p.csid); p.cs == nil {
			return p.fail("more than %d chunk streams", maxChunkStreams)
		}
	}
	if n := headerLen[p.fmt]; n > 0 {
		p.expect(phaseHeader, n)
		return false
	}
	return p.afterHeader()
}

// stream returns the state of chunk stream csid, or nil.
func (p *chunkParser) stream(csid uint32) *chunkStream {
	for i := range p.nstreams {
		if p.streams[i].csid == csid {
			return &p.streams[i]
		}
	}
	return nil
}

// newStream adds chunk stream csid; nil when the table is full.
func (p *chunkParser) newStream(csid uint32) *chunkStream {
	if p.nstreams == maxChunkStreams {
		return nil
	}
	cs := &p.streams[p.nstreams]
	*cs = chunkStream{csid: csid}
	p.nstreams++
	return cs
}

// messageHeader applies a fmt 0, 1 or 2 message header.
func (p *chunkParser) messageHeader() bool {
	cs, h := p.cs, p.buf[:]
	p.tsField = be24(h[0:3])
	cs.ext = p.tsField == extendedTS
	if p.fmt <= 1 {
		cs.length, cs.typ = be24(h[3:6]), h[6]
	}
	if p.fmt == 0 {
		cs.msid = binary.LittleEndian.Uint32(h[7:11])
	}
	return p.afterHeader()
}

// afterHeader reads the extended timestamp when the chunk has one, then
// the payload. A fmt 3 chunk has one when the last fmt 0-2 header of its
// chunk stream had one (what ffmpeg writes and nginx-rtmp reads).
func (p *chunkParser) afterHeader() bool {
	if p.cs.ext {
		p.expect(phaseExtTS, 4)
		return false
	}
	return p.beginPayload()
}

// beginPayload starts the payload of the chunk whose header was read: a
// new message unless the chunk continues one (fmt 3 mid-message).
func (p *chunkParser) beginPayload() bool {
	cs := p.cs
	p.first = p.fmt != 3 || cs.left == 0
	if p.first {
		p.startMessage()
	}
	p.chunkLeft = min(p.chunkSize, cs.left)
	p.phase = phasePayload
	if p.chunkLeft == 0 { // an empty message
		p.phase = phaseBasic
		return p.complete()
	}
	p.headerEnd = true
	return false
}

// startMessage begins a message on the current chunk stream. A header of
// fmt 0-2 in the middle of a message abandons that message.
func (p *chunkParser) startMessage() {
	cs := p.cs
	switch p.fmt {
	case 0:
		cs.ts, cs.delta = p.tsField, 0
	case 1, 2:
		cs.delta = p.tsField
		cs.ts += cs.delta
	default:
		cs.ts += cs.delta
	}
	cs.left, cs.headN = cs.length, 0
}

// payload consumes the current chunk's payload bytes in b and reports
// whether the message completed.
func (p *chunkParser) payload(b []byte) (int, bool) {
	cs := p.cs
	k := int(min(uint32(len(b)), p.chunkLeft))
	if cs.headN < 4 && controlType(cs.typ) {
		cs.headN += uint8(copy(cs.head[cs.headN:], b[:k]))
	}
	p.chunkLeft -= uint32(k)
	cs.left -= uint32(k)
	if p.chunkLeft > 0 {
		return k, false
	}
	p.phase = phaseBasic
	if cs.left > 0 {
		return k, false
	}
	return k, p.complete()
}

// last describes the message that just completed on the current chunk stream.
func (p *chunkParser) last() message {
	cs := p.cs
	m := message{csid: cs.csid, typ: cs.typ, msid: cs.msid, length: cs.length, ts: cs.ts}
	if cs.headN == 4 {
		m.value, m.hasValue = binary.BigEndian.Uint32(cs.head[:]), true
	}
	return m
}

// complete applies the protocol effects of the message that just
// completed (SetChunkSize, Abort); false (with p.err) when it is malformed.
func (p *chunkParser) complete() bool {
	m := p.last()
	switch m.typ {
	case typeSetChunkSize:
		size := m.value & 0x7fffffff
		if !m.hasValue || size == 0 {
			return p.fail("SetChunkSize of %d bytes with value %d", m.length, size)
		}
		p.chunkSize = size
	case typeAbort:
		if cs := p.stream(m.value); m.hasValue && cs != nil {
			cs.left = 0
		}
	}
	return true
}

// controlType reports whether the parser keeps the first 4 payload bytes
// of messages of type t.
func controlType(t uint8) bool {
	switch t {
	case typeSetChunkSize, typeAbort, typeAck, typeWindowAck, typePeerBW:
		return true
	}
	return false
}

func be24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }
