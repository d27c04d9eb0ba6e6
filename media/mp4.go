package media

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	mp4 "github.com/abema/go-mp4"
)

// maxMP4Units bounds how many samples an MP4 clip may hold (about 3 h of
// 25 fps video with AAC), so a forged sample table cannot exhaust memory.
const maxMP4Units = 1 << 20

var stsdPath = mp4.BoxPath{mp4.BoxTypeMdia(), mp4.BoxTypeMinf(), mp4.BoxTypeStbl(), mp4.BoxTypeStsd()}

// ReadMP4Clip reads a progressive (non-fragmented) MP4 file with H.264 or
// H.265 video and AAC audio into a clip. The first edit of each track is
// applied, so timestamps line up as players show them.
func ReadMP4Clip(r io.ReadSeeker) (c *Clip, err error) {
	defer func() {
		// go-mp4 is third-party code parsing untrusted input: a panic in it
		// must not take the service down.
		if p := recover(); p != nil {
			c, err = nil, fmt.Errorf("media: MP4: malformed file (%v)", p)
		}
	}()
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	if err := checkMP4SampleCounts(r); err != nil {
		return nil, err
	}
	info, err := mp4.Probe(r)
	if err != nil {
		return nil, fmt.Errorf("media: MP4: %w", err)
	}
	if len(info.Segments) > 0 {
		return nil, fmt.Errorf("media: fragmented MP4: %w", ErrNotSupported)
	}
	traks, err := mp4.ExtractBox(r, nil, mp4.BoxPath{mp4.BoxTypeMoov(), mp4.BoxTypeTrak()})
	if err != nil || len(traks) != len(info.Tracks) {
		return nil, errors.New("media: MP4: cannot match tracks")
	}
	c = &Clip{}
	for i, t := range info.Tracks {
		if err := c.addMP4Track(r, size, traks[i], t); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(c.Units, func(i, j int) bool { return c.Units[i].DTS < c.Units[j].DTS })
	return c, c.check()
}

// checkMP4SampleCounts refuses files whose time-to-sample tables announce
// more than maxMP4Units samples before go-mp4 expands them one by one (a
// 16-byte stts entry may claim four billion samples).
func checkMP4SampleCounts(r io.ReadSeeker) error {
	path := append(mp4.BoxPath{mp4.BoxTypeMoov(), mp4.BoxTypeTrak()}, stsdPath[:3]...)
	boxes, err := mp4.ExtractBoxWithPayload(r, nil, append(path, mp4.BoxTypeStts()))
	if err != nil {
		return fmt.Errorf("media: MP4: %w", err)
	}
	var n uint64
	for _, b := range boxes {
		stts, ok := b.Payload.(*mp4.Stts)
		if !ok {
			continue
		}
		for _, e := range stts.Entries {
			if n += uint64(e.SampleCount); n > maxMP4Units {
				return errors.New("media: MP4: too many samples")
			}
		}
	}
	return nil
}

// addMP4Track adds the first video and the first AAC track; others are
// counted in Skipped.
func (c *Clip) addMP4Track(r io.ReadSeeker, size int64, trak *mp4.BoxInfo, t *mp4.Track) error {
	codec, cfg, err := mp4TrackConfig(r, trak)
	if err != nil {
		return err
	}
	switch {
	case codec.IsVideo() && c.Video == nil:
		p, ls, err := parseVideoConfig(codec, cfg)
		if err != nil {
			return err
		}
		c.Video = &p
		return c.addMP4Samples(r, size, t, codec, ls)
	case codec == CodecAAC && c.Audio == nil:
		p, err := ParseAudioConfig(cfg)
		if err != nil {
			return err
		}
		c.Audio = &p
		return c.addMP4Samples(r, size, t, codec, 0)
	}
	c.Skipped++
	return nil
}

func parseVideoConfig(codec Codec, cfg []byte) (VideoParams, int, error) {
	if codec == CodecH265 {
		return ParseHEVCConfig(cfg)
	}
	return ParseAVCConfig(cfg)
}

// mp4TrackConfig finds a track's codec and its raw decoder configuration
// (avcC, hvcC, or the AudioSpecificConfig inside esds).
func mp4TrackConfig(r io.ReadSeeker, trak *mp4.BoxInfo) (Codec, []byte, error) {
	for _, e := range []struct {
		entry, config mp4.BoxType
		codec         Codec
	}{
		{mp4.BoxTypeAvc1(), mp4.BoxTypeAvcC(), CodecH264},
		{mp4.StrToBoxType("avc3"), mp4.BoxTypeAvcC(), CodecH264},
		{mp4.BoxTypeHvc1(), mp4.BoxTypeHvcC(), CodecH265},
		{mp4.BoxTypeHev1(), mp4.BoxTypeHvcC(), CodecH265},
		{mp4.BoxTypeMp4a(), mp4.BoxTypeEsds(), CodecAAC},
	} {
		path := append(append(mp4.BoxPath{}, stsdPath...), e.entry, e.config)
		bis, err := mp4.ExtractBox(r, trak, path)
		if err != nil || len(bis) == 0 {
			continue
		}
		b, err := readBoxPayload(r, bis[0])
		if err != nil {
			return CodecUnknown, nil, err
		}
		if e.codec == CodecAAC {
			b, err = ParseESDS(b)
		}
		return e.codec, b, err
	}
	return CodecUnknown, nil, nil
}

func readBoxPayload(r io.ReadSeeker, bi *mp4.BoxInfo) ([]byte, error) {
	if bi.Size < bi.HeaderSize || bi.Size-bi.HeaderSize > 1<<20 {
		return nil, errors.New("media: MP4: bad codec configuration box")
	}
	if _, err := r.Seek(int64(bi.Offset+bi.HeaderSize), io.SeekStart); err != nil {
		return nil, err
	}
	b := make([]byte, bi.Size-bi.HeaderSize)
	_, err := io.ReadFull(r, b)
	return b, err
}

// addMP4Samples reads a track's samples into units, chunk by chunk.
func (c *Clip) addMP4Samples(r io.ReadSeeker, size int64, t *mp4.Track, codec Codec, lengthSize int) error {
	if t.Timescale == 0 || len(c.Units)+len(t.Samples) > maxMP4Units {
		return errors.New("media: MP4: bad sample table")
	}
	shift := mp4EditShift(t)
	var dts int64
	s := 0
	for _, ch := range t.Chunks {
		off := int64(ch.DataOffset)
		for k := uint32(0); k < ch.SamplesPerChunk && s < len(t.Samples); k++ {
			smp := t.Samples[s]
			data, err := readAt(r, size, off, int64(smp.Size))
			if err != nil {
				return err
			}
			u, err := mp4Unit(codec, data, lengthSize)
			if err != nil {
				return err
			}
			u.DTS = mp4Time(dts-shift, t.Timescale)
			u.PTS = mp4Time(dts+smp.CompositionTimeOffset-shift, t.Timescale)
			c.Units = append(c.Units, u)
			off += int64(smp.Size)
			dts += int64(smp.TimeDelta)
			s++
		}
	}
	return nil
}

// mp4EditShift is the media time the first edit starts at (0 without one).
func mp4EditShift(t *mp4.Track) int64 {
	for _, e := range t.EditList {
		if e.MediaTime >= 0 {
			return e.MediaTime
		}
	}
	return 0
}

func mp4Time(v int64, scale uint32) time.Duration {
	s := int64(scale)
	return time.Duration(v/s)*time.Second + time.Duration(v%s)*time.Second/time.Duration(s)
}

func readAt(r io.ReadSeeker, size, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > size {
		return nil, errors.New("media: MP4: sample outside the file")
	}
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

func mp4Unit(codec Codec, data []byte, lengthSize int) (Unit, error) {
	if codec == CodecAAC {
		return Unit{Codec: codec, Key: true, Payload: data}, nil
	}
	nalus, err := SplitAVCC(data, lengthSize)
	if err != nil {
		return Unit{}, err
	}
	return Unit{Codec: codec, Key: IsKeyframe(codec, nalus), NALUs: nalus}, nil
}

// ParseESDS returns the AudioSpecificConfig (DecoderSpecificInfo) inside
// the payload of an MP4 esds box (ISO 14496-1 7.2.6.5).
func ParseESDS(b []byte) ([]byte, error) {
	if len(b) < 4 {
		return nil, ErrShortConfig
	}
	tag, body, _, err := readDescriptor(b[4:]) // skip version and flags
	if err != nil || tag != 3 {
		return nil, errors.New("media: esds without ES_Descriptor")
	}
	body, err = skipESHeader(body)
	if err != nil {
		return nil, err
	}
	for len(body) > 0 {
		tag, inner, rest, err := readDescriptor(body)
		if err != nil {
			return nil, err
		}
		if tag == 4 && len(inner) >= 13 {
			return findDecoderSpecificInfo(inner[13:])
		}
		body = rest
	}
	return nil, errors.New("media: esds without DecoderConfigDescriptor")
}

// skipESHeader skips ES_ID, flags and the optional fields they announce.
func skipESHeader(b []byte) ([]byte, error) {
	if len(b) < 3 {
		return nil, ErrShortConfig
	}
	flags, b := b[2], b[3:]
	if flags&0x80 != 0 { // streamDependenceFlag
		b = b[min(2, len(b)):]
	}
	if flags&0x40 != 0 { // URL_Flag
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return nil, ErrShortConfig
		}
		b = b[1+int(b[0]):]
	}
	if flags&0x20 != 0 { // OCRstreamFlag
		b = b[min(2, len(b)):]
	}
	return b, nil
}

func findDecoderSpecificInfo(b []byte) ([]byte, error) {
	for len(b) > 0 {
		tag, inner, rest, err := readDescriptor(b)
		if err != nil {
			return nil, err
		}
		if tag == 5 {
			return append([]byte(nil), inner...), nil
		}
		b = rest
	}
	return nil, errors.New("media: esds without DecoderSpecificInfo")
}

// readDescriptor splits one tag-length-value descriptor off b (the length
// is 1-4 bytes of 7 bits each).
func readDescriptor(b []byte) (tag byte, body, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, ErrShortConfig
	}
	tag, b = b[0], b[1:]
	n := 0
	for i := 0; ; i++ {
		if i == 4 || len(b) == 0 {
			return 0, nil, nil, ErrShortConfig
		}
		c := b[0]
		b = b[1:]
		n = n<<7 | int(c&0x7f)
		if c&0x80 == 0 {
			break
		}
	}
	if n > len(b) {
		return 0, nil, nil, ErrShortConfig
	}
	return tag, b[:n], b[n:], nil
}
