package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// FLV tag types (the same numbers as the RTMP message types).
const (
	FLVTagAudio  = TypeAudio
	FLVTagVideo  = TypeVideo
	FLVTagScript = TypeDataAMF0
)

// FLVTag is one tag of an FLV file.
type FLVTag struct {
	Type      uint8
	Timestamp uint32 // ms, with the extension byte applied
	Body      []byte
}

// FLVReader reads the tags of an FLV file.
type FLVReader struct {
	r      io.Reader
	header bool
	hdr    [15]byte
}

// NewFLVReader reads FLV from r.
func NewFLVReader(r io.Reader) *FLVReader { return &FLVReader{r: r} }

func (f *FLVReader) readHeader() error {
	h := make([]byte, 9)
	if _, err := io.ReadFull(f.r, h); err != nil {
		return fmt.Errorf("rtmp: flv header: %w", err)
	}
	if string(h[:3]) != "FLV" {
		return errors.New("rtmp: not an FLV file")
	}
	off := binary.BigEndian.Uint32(h[5:])
	if off < 9 || off > 1<<20 {
		return fmt.Errorf("rtmp: flv header size %d", off)
	}
	if _, err := io.CopyN(io.Discard, f.r, int64(off-9)+4); err != nil { // + PreviousTagSize0
		return fmt.Errorf("rtmp: flv header: %w", err)
	}
	f.header = true
	return nil
}

// Next returns the next tag, or io.EOF at the end of the file.
func (f *FLVReader) Next() (*FLVTag, error) {
	if !f.header {
		if err := f.readHeader(); err != nil {
			return nil, err
		}
	}
	if _, err := io.ReadFull(f.r, f.hdr[:11]); err != nil {
		return nil, err
	}
	h := f.hdr[:11]
	size := u24(h[1:])
	tag := &FLVTag{Type: h[0] & 0x1F, Timestamp: u24(h[4:]) | uint32(h[7])<<24, Body: make([]byte, size)}
	if _, err := io.ReadFull(f.r, tag.Body); err != nil {
		return nil, unexpected(err)
	}
	if _, err := io.ReadFull(f.r, f.hdr[:4]); err != nil && err != io.EOF {
		return nil, unexpected(err)
	}
	return tag, nil
}
