package tap

import "time"

// downState is the server-to-ffmpeg direction's own state (its goroutine's).
type downState struct {
	hsLeft int          // handshake bytes still to pass
	parser *chunkParser // nil once parsing stopped
}

// relayDown forwards the server's bytes to ffmpeg until either fails,
// reading the server's Acknowledgements on the way.
func (s *session) relayDown() error {
	buf := make([]byte, downBufSize)
	for {
		n, err := s.out.Read(buf)
		if n > 0 {
			s.scanDown(buf[:n])
			if _, werr := s.in.Write(buf[:n]); werr != nil {
				return ioError(false, "write to ffmpeg", werr)
			}
		}
		if err != nil {
			return ioError(true, "read from server", err)
		}
	}
}

// scanDown parses the server's bytes in p (past its handshake) and records
// its Acknowledgements. It runs before p is passed on, so an ack counts
// even when ffmpeg is slow to read.
func (s *session) scanDown(p []byte) {
	d := &s.down
	k := min(d.hsLeft, len(p))
	d.hsLeft -= k
	for pos := k; d.parser != nil && pos < len(p); {
		n, m, ok, err := d.parser.feed(p[pos:])
		pos += n
		if err != nil {
			s.cfg.log.Warn("tap: stopped parsing the server's chunk stream; relaying it verbatim", "error", err)
			d.parser = nil
			break
		}
		if ok && m.typ == typeAck && m.hasValue {
			s.ledger.ack(m.value, time.Now())
		}
	}
}
