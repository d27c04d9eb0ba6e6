package rtmp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"
)

// Chunk-level limits.
const (
	DefaultChunkSize = 128       // chunk size until a SetChunkSize says otherwise
	MaxChunkSize     = 0xFFFFFF  // largest chunk size accepted from a peer
	MaxMessageSize   = 0xFFFFFF  // a message length is 24 bits
	MinCSID          = 2         // smallest chunk stream id carrying messages
	MaxCSID          = 65599     // largest chunk stream id (3-byte basic header)
	extendedTS       = 0xFFFFFF  // timestamp field value announcing an extended timestamp
	maxPrealloc      = 8 * 1024  // never allocate more than this before bytes arrive
	readBufferSize   = 64 * 1024 // bufio size for readers
)

// Bounds on what a ChunkReader assembles, checked at the chunk header that
// starts each message (before a byte of its payload is read or allocated):
// a message longer than the bound of its type is a *LimitError. Commands,
// data, control and other non-media messages have MaxCommandSize (64 KiB);
// audio, video and aggregate messages have MaxMediaMessageSize.
const (
	// MaxMediaMessageSize bounds an audio, video or aggregate message: 8 MiB,
	// eight times nginx-rtmp's default max_message (1 MiB). A 1080p keyframe
	// is 50-500 KB; a 4K keyframe at the highest bitrate YouTube recommends
	// (68 Mbit/s, 2 s GOP: 17 MB a GOP) is 2-5 MB.
	MaxMediaMessageSize = 8 << 20
	// MaxUnfinishedBytes bounds the bytes of messages begun but not yet
	// complete, over all chunk streams: what a peer interleaving many chunk
	// streams could otherwise make the reader hold. A real peer finishes one
	// message before the next, or interleaves a few small ones.
	MaxUnfinishedBytes = 2 * MaxMediaMessageSize
)

// The chunk reader's bounds' errors, for errors.Is (commands over
// MaxCommandSize are ErrCommandTooLarge, as ParseCommand reports them).
var (
	// ErrMessageTooLarge: a data, control or other non-media message over MaxCommandSize.
	ErrMessageTooLarge error = &LimitError{Cause: "message_too_large"}
	// ErrMediaTooLarge: an audio, video or aggregate message over MaxMediaMessageSize.
	ErrMediaTooLarge error = &LimitError{Cause: "media_too_large"}
	// ErrUnfinishedTooLarge: unfinished messages over MaxUnfinishedBytes.
	ErrUnfinishedTooLarge error = &LimitError{Cause: "unfinished_too_large"}
)

// Message types the chunk reader knows only to bound them.
const (
	typeDataAMF3    uint8 = 15
	typeCommandAMF3 uint8 = 17
	typeAggregate   uint8 = 22
)

// IsMediaType reports whether typ is audio, video or aggregate (the types
// MaxMediaMessageSize bounds).
func IsMediaType(typ uint8) bool {
	return typ == TypeAudio || typ == TypeVideo || typ == typeAggregate
}

// MessageLimit is the largest message of type typ a ChunkReader accepts.
func MessageLimit(typ uint8) uint32 {
	if IsMediaType(typ) {
		return MaxMediaMessageSize
	}
	return MaxCommandSize
}

// typeWord names a message type in a bound's error text.
func typeWord(typ uint8) string {
	switch typ {
	case TypeCommandAMF0, typeCommandAMF3:
		return "command"
	case TypeDataAMF0, typeDataAMF3:
		return "data"
	case TypeAudio:
		return "audio"
	case TypeVideo:
		return "video"
	case typeAggregate:
		return "aggregate"
	case TypeSetChunkSize, TypeAbort, TypeAck, TypeUserControl, TypeWindowAckSize, TypeSetPeerBandwidth:
		return "control"
	}
	return fmt.Sprintf("type %d", typ)
}

// checkLength refuses a message of length bytes and type typ over its bound.
func checkLength(typ uint8, length uint32) error {
	limit := MessageLimit(typ)
	if length <= limit {
		return nil
	}
	cause := "message_too_large"
	switch {
	case typ == TypeCommandAMF0 || typ == typeCommandAMF3:
		cause = "command_too_large"
	case IsMediaType(typ):
		cause = "media_too_large"
	}
	return &LimitError{Cause: cause,
		Detail: fmt.Sprintf("%s message of %d bytes is larger than the %d-byte limit", typeWord(typ), length, limit)}
}

// HeaderPolicy chooses the header type of each message's first chunk.
type HeaderPolicy int

// Header policies.
const (
	// HeaderAuto uses fmt 0 for the first message of a chunk stream (and when
	// the stream id changes or time goes backwards), fmt 1 when length or type
	// change, fmt 2 when only the delta changes, fmt 3 when nothing changes,
	// like ffmpeg. A fmt 3 new message never directly follows a fmt 0 header
	// with a non-zero timestamp (readers disagree on that delta).
	HeaderAuto HeaderPolicy = iota
	// HeaderType0 starts every message with a fmt 0 header.
	HeaderType0
	// HeaderExplicit uses Message.Fmt where the chunk stream's state allows it
	// and fmt 0 otherwise (for replaying a transcript).
	HeaderExplicit
)

// String names the policy as the config does ("auto", "type0", "explicit").
func (p HeaderPolicy) String() string {
	switch p {
	case HeaderAuto:
		return "auto"
	case HeaderType0:
		return "type0"
	case HeaderExplicit:
		return "explicit"
	}
	return fmt.Sprintf("policy(%d)", int(p))
}

type inStream struct {
	started    bool
	inProgress bool
	fmt        uint8
	ts, delta  uint32
	length     uint32
	typ        uint8
	msid       uint32
	extended   bool
	buf        []byte
}

// ChunkReader reassembles messages from chunks: fmt 0/1/2/3 headers, chunk
// stream ids 2..65599, extended timestamps (also on fmt 3 chunks), message
// stream ids little-endian. It follows the SetChunkSize and Abort messages it
// reads (and still returns them). It is not safe for concurrent use.
//
// Its memory is bounded whatever the peer sends: a message longer than
// MessageLimit of its type is refused at the header that starts it, the
// unfinished messages of all chunk streams together may hold at most
// MaxUnfinishedBytes, and a message's buffer grows as its bytes arrive (to at
// most twice what arrived, plus one chunk read of at most 8 KiB). The
// refusal is a *LimitError, after which the stream cannot be read further.
type ChunkReader struct {
	r          *bufio.Reader
	chunkSize  uint32
	streams    map[uint32]*inStream
	hdr        [11]byte
	consumed   atomic.Uint64
	unfinished int // bytes held by messages begun and not complete
	// rec, when set, receives a copy of every byte consumed (Guard's
	// pass-through of chunk headers).
	rec *[]byte
}

// BytesRead counts the bytes of chunks consumed so far (safe from any goroutine).
func (r *ChunkReader) BytesRead() uint64 { return r.consumed.Load() }

func (r *ChunkReader) readByte() (byte, error) {
	b, err := r.r.ReadByte()
	if err == nil {
		r.consumed.Add(1)
		if r.rec != nil {
			*r.rec = append(*r.rec, b)
		}
	}
	return b, err
}

func (r *ChunkReader) readFull(p []byte) error {
	n, err := io.ReadFull(r.r, p)
	r.consumed.Add(uint64(n))
	if r.rec != nil {
		*r.rec = append(*r.rec, p[:n]...)
	}
	return unexpected(err)
}

// NewChunkReader reads chunks from r (buffered internally unless r is a *bufio.Reader).
func NewChunkReader(r io.Reader) *ChunkReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, readBufferSize)
	}
	return &ChunkReader{r: br, chunkSize: DefaultChunkSize, streams: map[uint32]*inStream{}}
}

// SetChunkSize sets the incoming chunk size (from the peer's SetChunkSize).
func (r *ChunkReader) SetChunkSize(n uint32) error {
	if n < 1 || n > MaxChunkSize {
		return fmt.Errorf("rtmp: invalid chunk size %d", n)
	}
	r.chunkSize = n
	return nil
}

// ChunkSize is the incoming chunk size.
func (r *ChunkReader) ChunkSize() uint32 { return r.chunkSize }

// Abort discards the partial message of a chunk stream (the peer's Abort message).
func (r *ChunkReader) Abort(csid uint32) {
	if st := r.streams[csid]; st != nil {
		r.unfinished -= len(st.buf)
		st.inProgress, st.buf = false, nil
	}
}

// ReadMessage reads chunks until one message is complete.
func (r *ChunkReader) ReadMessage() (*Message, error) {
	for {
		m, err := r.readChunk()
		if err != nil || m != nil {
			return m, err
		}
	}
}

func (r *ChunkReader) readBasicHeader() (fmtType uint8, csid uint32, err error) {
	b0, err := r.readByte()
	if err != nil {
		return 0, 0, err
	}
	fmtType, csid = b0>>6, uint32(b0&0x3F)
	switch csid {
	case 0:
		b, err := r.readByte()
		if err != nil {
			return 0, 0, unexpected(err)
		}
		csid = 64 + uint32(b)
	case 1:
		if err := r.readFull(r.hdr[:2]); err != nil {
			return 0, 0, err
		}
		csid = 64 + uint32(r.hdr[0]) + uint32(r.hdr[1])<<8
	}
	return fmtType, csid, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func u24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }

// readMessageHeader reads the fmt 0/1/2 fields and returns the timestamp field.
func (r *ChunkReader) readMessageHeader(fmtType uint8, st *inStream) (uint32, error) {
	n := [4]int{11, 7, 3, 0}[fmtType]
	if n == 0 {
		return 0, nil
	}
	h := r.hdr[:n]
	if err := r.readFull(h); err != nil {
		return 0, err
	}
	field := u24(h)
	if fmtType <= 1 {
		st.length, st.typ = u24(h[3:]), h[6]
	}
	if fmtType == 0 {
		st.msid = binary.LittleEndian.Uint32(h[7:])
	}
	return field, nil
}

func (r *ChunkReader) readExtended(fmtType uint8, field uint32, st *inStream) (uint32, error) {
	if fmtType <= 2 {
		st.extended = field == extendedTS
	}
	if !st.extended {
		return field, nil
	}
	if err := r.readFull(r.hdr[:4]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(r.hdr[:4]), nil
}

func (r *ChunkReader) stream(fmtType uint8, csid uint32) (*inStream, error) {
	st := r.streams[csid]
	if st == nil {
		if fmtType != 0 {
			return nil, fmt.Errorf("rtmp: first chunk of chunk stream %d has fmt %d", csid, fmtType)
		}
		st = &inStream{}
		r.streams[csid] = st
	}
	return st, nil
}

// readChunk reads one chunk and returns a message if it completed one.
func (r *ChunkReader) readChunk() (*Message, error) {
	fmtType, csid, err := r.readBasicHeader()
	if err != nil {
		return nil, err
	}
	st, err := r.stream(fmtType, csid)
	if err != nil {
		return nil, err
	}
	field, err := r.readMessageHeader(fmtType, st)
	if err != nil {
		return nil, err
	}
	if field, err = r.readExtended(fmtType, field, st); err != nil {
		return nil, err
	}
	if fmtType != 3 || !st.inProgress {
		if st.inProgress { // a new header abandons the unfinished message
			r.unfinished -= len(st.buf)
		}
		if err := checkLength(st.typ, st.length); err != nil {
			st.inProgress, st.buf = false, nil
			return nil, err
		}
		r.startMessage(fmtType, field, st)
	}
	return r.readPayload(csid, st)
}

func (r *ChunkReader) startMessage(fmtType uint8, field uint32, st *inStream) {
	switch fmtType {
	case 0:
		st.ts, st.delta = field, field
	case 1, 2:
		st.delta = field
		st.ts += field
	case 3:
		st.ts += st.delta
	}
	st.started, st.inProgress, st.fmt = true, true, fmtType
	st.buf = nil // allocated as the payload arrives
}

func (r *ChunkReader) readPayload(csid uint32, st *inStream) (*Message, error) {
	// Grow the buffer as bytes arrive (at most maxPrealloc ahead of them,
	// capacity at most twice the bytes read), so that a peer announcing huge
	// chunks and messages cannot make us allocate memory it never fills.
	n := min(st.length-uint32(len(st.buf)), r.chunkSize)
	if r.unfinished+int(n) > MaxUnfinishedBytes && uint32(len(st.buf))+n < st.length {
		return nil, &LimitError{Cause: "unfinished_too_large",
			Detail: fmt.Sprintf("unfinished messages hold more than %d bytes", MaxUnfinishedBytes)}
	}
	for n > 0 {
		k := min(n, maxPrealloc)
		start := len(st.buf)
		st.buf = grow(st.buf, int(k), int(st.length))
		if err := r.readFull(st.buf[start:]); err != nil {
			return nil, err
		}
		n -= k
		r.unfinished += int(k)
	}
	if uint32(len(st.buf)) < st.length {
		return nil, nil
	}
	r.unfinished -= len(st.buf)
	m := &Message{ChunkStreamID: csid, Type: st.typ, Timestamp: st.ts, StreamID: st.msid, Payload: st.buf, Fmt: st.fmt}
	st.inProgress, st.buf = false, nil
	return m, r.follow(m)
}

// grow extends b by k bytes, doubling its capacity at most (never beyond
// total) when it must reallocate: a message costs at most about three times
// its length in allocations, not the five of append's 1.25 growth.
func grow(b []byte, k, total int) []byte {
	need := len(b) + k
	if need <= cap(b) {
		return b[:need]
	}
	nb := make([]byte, need, min(max(need, 2*len(b)), max(total, need)))
	copy(nb, b)
	return nb
}

// follow applies the protocol control messages that change how chunks are
// read: SetChunkSize and Abort.
func (r *ChunkReader) follow(m *Message) error {
	switch m.Type {
	case TypeSetChunkSize:
		v, err := ParseUint32(m)
		if err != nil {
			return err
		}
		return r.SetChunkSize(v & 0x7FFFFFFF)
	case TypeAbort:
		if v, err := ParseUint32(m); err == nil {
			r.Abort(v)
		}
	}
	return nil
}

type outStream struct {
	started    bool
	ts         uint32
	field      uint32 // last timestamp field written (absolute for fmt 0, delta otherwise)
	deltaKnown bool   // a fmt 3 new message would be read with delta == field by every reader
	length     uint32
	typ        uint8
	msid       uint32
}

// ChunkWriter splits messages into chunks with headers chosen by its policy
// and writes each message with one Write. Every chunk of a message whose
// timestamp field needs it carries the extended timestamp. It is not safe for
// concurrent use (Conn serialises it).
type ChunkWriter struct {
	w         io.Writer
	chunkSize uint32
	policy    HeaderPolicy
	streams   map[uint32]*outStream
	buf       []byte
}

// NewChunkWriter writes chunks to w with the default chunk size (128).
func NewChunkWriter(w io.Writer, policy HeaderPolicy) *ChunkWriter {
	return &ChunkWriter{w: w, chunkSize: DefaultChunkSize, policy: policy, streams: map[uint32]*outStream{}}
}

// SetChunkSize sets the outgoing chunk size. Send a SetChunkSize message first.
func (w *ChunkWriter) SetChunkSize(n uint32) error {
	if n < 1 || n > MaxChunkSize {
		return fmt.Errorf("rtmp: invalid chunk size %d", n)
	}
	w.chunkSize = n
	return nil
}

// ChunkSize is the outgoing chunk size.
func (w *ChunkWriter) ChunkSize() uint32 { return w.chunkSize }

// SetPolicy changes the header policy.
func (w *ChunkWriter) SetPolicy(p HeaderPolicy) { w.policy = p }

// Policy is the header policy.
func (w *ChunkWriter) Policy() HeaderPolicy { return w.policy }

// WriteMessage chunks m and writes it.
func (w *ChunkWriter) WriteMessage(m *Message) error {
	return w.writeMessage(m, false)
}

// encode chunks m into the writer's buffer without writing it (the returned
// slice is valid until the next call).
func (w *ChunkWriter) encode(m *Message, forceFmt0 bool) ([]byte, error) {
	if m.ChunkStreamID < MinCSID || m.ChunkStreamID > MaxCSID {
		return nil, fmt.Errorf("rtmp: chunk stream id %d out of range", m.ChunkStreamID)
	}
	if len(m.Payload) > MaxMessageSize {
		return nil, fmt.Errorf("rtmp: message of %d bytes exceeds 24 bits", len(m.Payload))
	}
	st := w.streams[m.ChunkStreamID]
	if st == nil {
		st = &outStream{}
		w.streams[m.ChunkStreamID] = st
	}
	fmtType := w.chooseFmt(m, st, forceFmt0)
	field := w.advance(m, st, fmtType)
	w.buf = w.buf[:0]
	w.buf = appendChunkHeader(w.buf, fmtType, m, field)
	ext := field >= extendedTS
	for off := 0; ; {
		n := min(len(m.Payload)-off, int(w.chunkSize))
		w.buf = append(w.buf, m.Payload[off:off+n]...)
		off += n
		if off >= len(m.Payload) {
			break
		}
		w.buf = appendBasicHeader(w.buf, 3, m.ChunkStreamID)
		if ext {
			w.buf = binary.BigEndian.AppendUint32(w.buf, field)
		}
	}
	return w.buf, nil
}

func (w *ChunkWriter) writeMessage(m *Message, forceFmt0 bool) error {
	b, err := w.encode(m, forceFmt0)
	if err != nil {
		return err
	}
	_, err = w.w.Write(b)
	return err
}

func (w *ChunkWriter) chooseFmt(m *Message, st *outStream, forceFmt0 bool) uint8 {
	if forceFmt0 || w.policy == HeaderType0 || !st.started || m.StreamID != st.msid || m.Timestamp < st.ts {
		return 0
	}
	delta := m.Timestamp - st.ts
	sameShape := uint32(len(m.Payload)) == st.length && m.Type == st.typ
	auto := uint8(1)
	if sameShape {
		auto = 2
		if delta == st.field && st.deltaKnown {
			auto = 3
		}
	}
	if w.policy == HeaderExplicit && m.Fmt < auto {
		return m.Fmt
	}
	return auto
}

// advance updates the stream state for a message with header fmtType and
// returns the timestamp field to write.
func (w *ChunkWriter) advance(m *Message, st *outStream, fmtType uint8) uint32 {
	field := m.Timestamp
	switch fmtType {
	case 0:
		st.deltaKnown = m.Timestamp == 0
	case 1, 2:
		field = m.Timestamp - st.ts
		st.deltaKnown = true
	case 3:
		field = st.field
	}
	st.started, st.ts, st.field = true, m.Timestamp, field
	st.length, st.typ, st.msid = uint32(len(m.Payload)), m.Type, m.StreamID
	return field
}

func appendBasicHeader(b []byte, fmtType uint8, csid uint32) []byte {
	f := fmtType << 6
	switch {
	case csid < 64:
		return append(b, f|byte(csid))
	case csid < 320:
		return append(b, f, byte(csid-64))
	default:
		c := csid - 64
		return append(b, f|1, byte(c), byte(c>>8))
	}
}

func appendChunkHeader(b []byte, fmtType uint8, m *Message, field uint32) []byte {
	b = appendBasicHeader(b, fmtType, m.ChunkStreamID)
	tsField := min(field, extendedTS)
	if fmtType <= 2 {
		b = append(b, byte(tsField>>16), byte(tsField>>8), byte(tsField))
	}
	if fmtType <= 1 {
		l := len(m.Payload)
		b = append(b, byte(l>>16), byte(l>>8), byte(l), m.Type)
	}
	if fmtType == 0 {
		b = binary.LittleEndian.AppendUint32(b, m.StreamID)
	}
	if field >= extendedTS {
		b = binary.BigEndian.AppendUint32(b, field)
	}
	return b
}
