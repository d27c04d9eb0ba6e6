package tap

import (
	"encoding/binary"
	"time"
)

// upState is the ffmpeg-to-server direction's own state (its goroutine's).
type upState struct {
	hsLeft  int          // handshake bytes still to pass
	parser  *chunkParser // nil once parsing stopped
	sent    uint64       // bytes written to the server, handshake included
	connect bool         // ffmpeg's connect was seen (the injection was placed or given up)
}

// windowAckLen is the size of the injected message: a 12-byte fmt 0
// header and the 4-byte window.
const windowAckLen = 16

// injectCSIDs are the chunk stream ids the injected message may use, in
// order of preference: ffmpeg (libavformat/rtmppkt.h) sends on 2 (network),
// 3 (system), 4 (source: audio, video and metadata of a publish), 8 and 9
// (video and audio); nginx-rtmp refuses ids at or above its max_streams
// (32 by default). The first one the client has not used is taken.
var injectCSIDs = []uint8{7, 5, 6, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}

// relayUp forwards ffmpeg's bytes to the server until either fails.
func (s *session) relayUp() error {
	buf := make([]byte, upBufSize)
	for {
		n, err := s.in.Read(buf)
		if n > 0 {
			if werr := s.forwardUp(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			return ioError(false, "read from ffmpeg", err)
		}
	}
}

// forwardUp forwards p, with the Window Acknowledgement Size message
// inserted right after ffmpeg's connect.
func (s *session) forwardUp(p []byte) error {
	from := s.passHandshake(p)
	csid, cut := s.scanUp(p, from)
	if cut < 0 {
		return s.writeServer(p)
	}
	if err := s.writeServer(p[:cut]); err != nil {
		return err
	}
	if err := s.writeServer(windowAckMessage(csid, s.cfg.window)); err != nil {
		return err
	}
	s.injected.Store(true)
	s.cfg.log.Debug("tap: asked the server for acknowledgements", "window", s.cfg.window, "csid", csid)
	return s.writeServer(p[cut:])
}

// passHandshake returns how many bytes at the start of p are the client's
// handshake. A C0 other than plain RTMP's stops the parsing.
func (s *session) passHandshake(p []byte) int {
	u := &s.up
	if u.hsLeft == 0 {
		return 0
	}
	if u.hsLeft == handshakeLen && p[0] != rtmpVersion && u.parser != nil {
		s.cfg.log.Warn("tap: the client's handshake is not plain RTMP; relaying it without acknowledgements", "c0", p[0])
		u.parser = nil
	}
	k := min(u.hsLeft, len(p))
	u.hsLeft -= k
	return k
}

// scanUp parses p[from:] and returns where the injected message goes (the
// end of ffmpeg's connect) and its chunk stream id; cut is -1 when it does
// not go into p. It marks where media messages end for the lag.
func (s *session) scanUp(p []byte, from int) (csid uint8, cut int) {
	u, cut := &s.up, -1
	for pos := from; u.parser != nil && pos < len(p); {
		n, m, ok, err := u.parser.feed(p[pos:])
		pos += n
		if err != nil {
			s.cfg.log.Warn("tap: stopped parsing the client's chunk stream; relaying it verbatim", "error", err)
			u.parser = nil
			break
		}
		if !ok {
			continue
		}
		if isMedia(m) {
			shift := 0
			if cut >= 0 {
				shift = windowAckLen
			}
			s.tcp.mark(u.sent+uint64(pos+shift), time.Duration(m.ts)*time.Millisecond)
		}
		if !u.connect && m.typ == typeCommandAMF0 && m.msid == 0 {
			u.connect = true
			if c, ok := s.pickCSID(); ok {
				csid, cut = c, pos
			}
		}
	}
	return csid, cut
}

// pickCSID returns the chunk stream id for the injected message; false
// when it cannot go (every candidate used, or a chunk size below the
// message's 4 bytes): then the server is not asked for acknowledgements.
func (s *session) pickCSID() (uint8, bool) {
	p := s.up.parser
	if p.chunkSize >= 4 {
		for _, c := range injectCSIDs {
			if p.stream(uint32(c)) == nil {
				return c, true
			}
		}
	}
	s.cfg.log.Warn("tap: found no place for the Window Acknowledgement Size; the server will not acknowledge")
	return 0, false
}

// isMedia reports whether m is audio or video of a stream.
func isMedia(m message) bool { return (m.typ == typeAudio || m.typ == typeVideo) && m.msid != 0 }

// writeServer writes b to the server and counts it.
func (s *session) writeServer(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := s.out.Write(b)
	s.ledger.wrote(s.chunkBytes(n), time.Now())
	s.up.sent += uint64(n)
	return ioError(true, "write to server", err)
}

// chunkBytes is how many of the n bytes written at s.up.sent are past the
// handshake: servers count chunk bytes only in their acknowledgements.
func (s *session) chunkBytes(n int) int {
	hs := uint64(handshakeLen - s.up.hsLeft) // the handshake bytes passed so far
	if s.up.sent >= hs {
		return n
	}
	return max(0, n-int(hs-s.up.sent))
}

// windowAckMessage is a Window Acknowledgement Size message (type 5) of
// window on chunk stream csid (below 64), message stream 0, fmt 0.
func windowAckMessage(csid uint8, window uint32) []byte {
	b := make([]byte, windowAckLen)
	b[0] = csid & 0x3f
	b[6] = 4 // length, 3 bytes big-endian; timestamp b[1:4] is 0
	b[7] = typeWindowAck
	binary.BigEndian.PutUint32(b[12:], window)
	return b
}
