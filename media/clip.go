package media

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNotSupported is returned for inputs fmspush cannot read yet
// (fragmented MP4).
var ErrNotSupported = errors.New("media: not supported yet")

// Clip is a whole FLV recording held in memory: its metadata, codec
// parameters and units in file order. Units share their bytes with the clip;
// treat them as read-only.
type Clip struct {
	Header   FLVHeader
	Metadata map[string]any
	Video    *VideoParams // nil without video
	Audio    *AudioParams // nil without audio
	Units    []Unit
	// Skipped counts tags of unsupported codecs that were left out.
	Skipped int
	// Damaged counts tags that could not be decoded and were left out.
	Damaged int
	// Truncated is true when the file ended inside a tag: the clip holds
	// what came before (ffmpeg plays such a file up to the cut too).
	Truncated bool
}

// maxDamaged bounds the damaged tags a clip may skip: past it the file is
// not an FLV worth playing.
const maxDamaged = 1000

// ReadClip reads a whole FLV stream. The first sequence header of each track
// is kept; units of unsupported codecs are counted in Skipped. A damaged
// file plays up to the damage: a tag that does not decode is skipped
// (Damaged), a file cut inside a tag ends there (Truncated).
func ReadClip(r io.Reader) (*Clip, error) {
	fr, err := NewFLVReader(r)
	if err != nil {
		return nil, err
	}
	c := &Clip{Header: fr.Header()}
	for {
		p, err := fr.ReadPacket()
		var ue *UnsupportedError
		switch {
		case err == io.EOF:
			return c, c.check()
		case errors.Is(err, io.ErrUnexpectedEOF):
			c.Truncated = true
			return c, c.check()
		case errors.As(err, &ue):
			c.Skipped++
		case err != nil && c.Damaged < maxDamaged && !isReadError(err):
			c.Damaged++
		case err != nil:
			return nil, err
		default:
			c.add(p)
		}
	}
}

// isReadError tells an I/O failure (to return) from a tag that did not
// decode (to skip).
func isReadError(err error) bool {
	var pe *os.PathError
	return errors.As(err, &pe)
}

// ParseClip parses an FLV file held in memory.
func ParseClip(b []byte) (*Clip, error) { return ReadClip(bytes.NewReader(b)) }

func (c *Clip) add(p FLVPacket) {
	switch {
	case p.Metadata != nil && c.Metadata == nil:
		c.Metadata = p.Metadata
	case p.Video != nil && c.Video == nil:
		c.Video = p.Video
	case p.Audio != nil && c.Audio == nil:
		c.Audio = p.Audio
	case p.Unit != nil:
		if p.Unit.Codec.IsVideo() && c.Video != nil && p.Unit.Codec != c.Video.Codec {
			return
		}
		c.Units = append(c.Units, *p.Unit)
	}
}

func (c *Clip) check() error {
	if len(c.Units) == 0 {
		return errors.New("media: FLV has no frames")
	}
	if c.Video == nil && c.Audio == nil {
		return errors.New("media: FLV has no sequence header")
	}
	return nil
}

// OpenClip reads an FLV or a progressive MP4 file (.mp4, .m4v, .mov) from
// disk. Fragmented MP4 returns ErrNotSupported.
func OpenClip(path string) (*Clip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var c *Clip
	switch strings.ToLower(filepath.Ext(path)) {
	case ".mp4", ".m4v", ".mov":
		c, err = ReadMP4Clip(f)
	default:
		c, err = ReadClip(f)
	}
	if err != nil {
		return nil, fmt.Errorf("media: %s: %w", filepath.Base(path), err)
	}
	return c, nil
}

// VideoFrameDuration is the nominal video frame interval: from the frame
// rate when known, else the most common gap between video units, else 40 ms.
func (c *Clip) VideoFrameDuration() time.Duration {
	if c.Video != nil && c.Video.FrameRate > 0 {
		return time.Duration(float64(time.Second) / c.Video.FrameRate)
	}
	if d := commonGap(c.Units, true); d > 0 {
		return d
	}
	return 40 * time.Millisecond
}

// AudioFrameDuration is the duration of one AAC frame (1024 samples), or 0
// without audio.
func (c *Clip) AudioFrameDuration() time.Duration {
	if c.Audio == nil || c.Audio.SampleRate <= 0 {
		return 0
	}
	return AACFrameDuration(c.Audio.SampleRate)
}

// AACFrameDuration is the duration of 1024 samples at rate.
func AACFrameDuration(rate int) time.Duration {
	return time.Duration(1024 * int64(time.Second) / int64(rate))
}

// commonGap returns the most frequent positive DTS gap between consecutive
// units of one kind.
func commonGap(units []Unit, video bool) time.Duration {
	counts := map[time.Duration]int{}
	var prev *Unit
	for i := range units {
		u := &units[i]
		if u.Codec.IsVideo() != video {
			continue
		}
		if prev != nil && u.DTS > prev.DTS {
			counts[u.DTS-prev.DTS]++
		}
		prev = u
	}
	var best time.Duration
	for d, n := range counts {
		if n > counts[best] || (n == counts[best] && d < best) {
			best = d
		}
	}
	return best
}

// Span is the length of one pass of the clip: from its first unit to one
// frame past its last, per track, whichever track ends later.
func (c *Clip) Span() time.Duration {
	if len(c.Units) == 0 {
		return 0
	}
	first := c.Units[0].DTS
	var end time.Duration
	vstep, astep := c.VideoFrameDuration(), c.AudioFrameDuration()
	for _, u := range c.Units {
		first = min(first, u.DTS)
		step := astep
		if u.Codec.IsVideo() {
			step = vstep
		}
		end = max(end, u.DTS+step)
	}
	return end - first
}
