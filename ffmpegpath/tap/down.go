package tap

import (
	"encoding/binary"
	"time"
)

// Bounds of what the down direction holds back (see downState).
const (
	maxCarry = 32   // a chunk header (at most 18 bytes) or a whole Acknowledgement chunk (at most 22)
	maxHeld  = 1024 // stripped Acknowledgements a later chunk may still depend on
)

// downState is the server-to-ffmpeg direction's own state (its goroutine's).
//
// It passes the server's bytes on verbatim but for its Acknowledgements.
// Those answer the relay's window, ffmpeg never asked for them, and ffmpeg
// reads one server message per ten packets it writes: relayed, they pile
// up in ffmpeg's socket (measured: 350 B/s at 4 Mbit/s through nginx-rtmp)
// until, hours later, the relay could no longer pass anything on, nor read
// the server's acks; and ffmpeg exiting with unread bytes resets its
// connection, losing its own last unsent bytes (its unpublish).
//
// So each chunk's bytes are held back until its header is complete
// (carry), and an Acknowledgement (one chunk, message stream 0) is not
// passed on. A later chunk of its chunk stream may depend on its header
// (fmt 1-3 reuse the previous header, and servers that compress headers
// send acks as fmt 3 and pings as fmt 1): that chunk's header is rewritten
// as the self-contained fmt 0 header of the same message (same chunk
// stream, length, type, message stream and timestamp), which ffmpeg reads
// the same way. Where a fmt 0 header would change whether the chunk
// stream's chunks carry an extended timestamp (a timestamp past 4.66 hours
// reached by deltas), the Acknowledgements' bytes, kept until then (held),
// are passed on just before it instead. Chunks are independent of other
// chunk streams', so passing an Acknowledgement on later keeps the framing.
// One thing differs for ffmpeg after a rewrite: a later fmt 3 message of
// that chunk stream gets another timestamp (ffmpeg adds the last header's
// field); ffmpeg does not use the timestamps of what the server sends a
// publisher.
type downState struct {
	hsLeft int          // handshake bytes still to pass
	parser *chunkParser // nil once parsing stopped

	carry    [maxCarry]byte // the current chunk's bytes, not yet passed on
	carryN   int
	holding  bool // the current chunk's bytes go to carry
	held     [maxHeld]byte
	heldN    int
	heldCSID uint32
	out      []byte // the bytes to pass on, reused
}

// relayDown forwards the server's bytes to ffmpeg until either fails,
// reading the server's Acknowledgements on the way.
func (s *session) relayDown() error {
	buf := make([]byte, downBufSize)
	s.down.out = make([]byte, 0, downBufSize+maxCarry+maxHeld)
	for {
		n, err := s.out.Read(buf)
		if n > 0 {
			if werr := s.writeFFmpeg(s.scanDown(buf[:n])); werr != nil {
				return werr
			}
		}
		if err != nil {
			if werr := s.writeFFmpeg(s.down.end()); werr != nil {
				return werr
			}
			return ioError(true, "read from server", err)
		}
	}
}

// writeFFmpeg writes b to ffmpeg.
func (s *session) writeFFmpeg(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, err := s.in.Write(b)
	return ioError(false, "write to ffmpeg", err)
}

// scanDown parses the server's bytes in p (past its handshake), records
// its Acknowledgements and returns what to pass on to ffmpeg now. It runs
// before the bytes are passed on, so an ack counts even when ffmpeg is
// slow to read.
func (s *session) scanDown(p []byte) []byte {
	d := &s.down
	d.out = d.out[:0]
	k := min(d.hsLeft, len(p))
	d.hsLeft -= k
	d.out = append(d.out, p[:k]...)
	for pos := k; pos < len(p); {
		if d.parser == nil {
			d.flush()
			d.out = append(d.out, p[pos:]...)
			break
		}
		if d.parser.phase == phaseBasic {
			d.holding, d.carryN = true, 0
		}
		n, ev, m, err := d.parser.next(p[pos:], true)
		d.take(p[pos : pos+n])
		pos += n
		if err != nil {
			s.cfg.log.Warn("tap: stopped parsing the server's chunk stream; relaying it verbatim", "error", err)
			d.parser = nil
			continue
		}
		s.onDownEvent(ev, m)
	}
	return d.out
}

// take passes b on, or keeps it in carry while the current chunk is held.
func (d *downState) take(b []byte) {
	if !d.holding {
		d.out = append(d.out, b...)
		return
	}
	if d.carryN+len(b) > maxCarry { // cannot happen: what is held is small
		d.flush()
		d.out = append(d.out, b...)
		return
	}
	d.carryN += copy(d.carry[d.carryN:], b)
}

// onDownEvent decides about the current chunk once its header, or its
// whole message, is read.
func (s *session) onDownEvent(ev event, m message) {
	d := &s.down
	if ev == evMessage && m.typ == typeAck && m.hasValue {
		s.ledger.ack(m.value, time.Now())
	}
	c := d.parser.chunk()
	switch {
	case ev == evNone || !d.holding:
	case isAckChunk(c, d.parser.chunkSize):
		if ev == evMessage {
			d.strip(c)
		}
	default:
		d.release()
	}
}

// isAckChunk reports whether c is an Acknowledgement in one chunk, on
// message stream 0.
func isAckChunk(c chunkInfo, chunkSize uint32) bool {
	return c.first && c.typ == typeAck && c.length == 4 && c.length <= chunkSize && c.msid == 0
}

// strip keeps the Acknowledgement chunk in carry from ffmpeg: it replaces
// what is held when it is self-contained (fmt 0), else joins it.
func (d *downState) strip(c chunkInfo) {
	if d.heldN > 0 && (d.heldCSID != c.csid || c.fmt == 0 || d.heldN+d.carryN > maxHeld) {
		if d.heldCSID != c.csid || c.fmt != 0 {
			d.out = append(d.out, d.held[:d.heldN]...) // another stream's, or no room: pass it on now
		}
		d.heldN = 0
	}
	d.heldCSID = c.csid
	d.heldN += copy(d.held[d.heldN:], d.carry[:d.carryN])
	d.carryN, d.holding = 0, false
}

// release passes the current chunk on. When Acknowledgements of its chunk
// stream were stripped and its header depends on theirs (fmt 1-3), the
// header is rewritten as fmt 0, or the Acknowledgements go before it (see
// downState).
func (d *downState) release() {
	c := d.parser.chunk()
	if d.heldN > 0 && d.heldCSID == c.csid {
		switch {
		case c.fmt == 0:
		case c.ext == (c.ts >= extendedTS):
			d.carryN = copy(d.carry[:], fullHeader(c))
		default:
			d.out = append(d.out, d.held[:d.heldN]...)
		}
		d.heldN = 0
	}
	d.out = append(d.out, d.carry[:d.carryN]...)
	d.carryN, d.holding = 0, false
}

// fullHeader is the fmt 0 header of the message whose first chunk c is.
func fullHeader(c chunkInfo) []byte {
	var b [18]byte
	n := 0
	switch {
	case c.csid < 64:
		b[0], n = byte(c.csid), 1
	case c.csid < 320:
		b[0], b[1], n = 0, byte(c.csid-64), 2
	default:
		b[0], b[1], b[2], n = 1, byte(c.csid-64), byte((c.csid-64)>>8), 3
	}
	field := min(c.ts, extendedTS)
	h := b[n:]
	h[0], h[1], h[2] = byte(field>>16), byte(field>>8), byte(field)
	h[3], h[4], h[5], h[6] = byte(c.length>>16), byte(c.length>>8), byte(c.length), c.typ
	binary.LittleEndian.PutUint32(h[7:11], c.msid)
	n += 11
	if field == extendedTS {
		binary.BigEndian.PutUint32(b[n:], c.ts)
		n += 4
	}
	return b[:n]
}

// end returns what to pass on when the server's side ended: the chunk cut
// short, as it came; the Acknowledgements held are dropped (nothing can
// depend on them any more).
func (d *downState) end() []byte {
	d.heldN = 0
	d.out = d.out[:0]
	d.flush()
	return d.out
}

// flush passes on what is still held back, in order, as it is: parsing
// stopped (the bytes that follow are relayed unparsed) or the server's
// side ended.
func (d *downState) flush() {
	d.out = append(d.out, d.held[:d.heldN]...)
	d.out = append(d.out, d.carry[:d.carryN]...)
	d.heldN, d.carryN, d.holding = 0, 0, false
}
