package media

import (
	"bytes"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// paramKind classifies a NAL unit as a parameter set (or not).
type paramKind uint8

const (
	notParam paramKind = iota
	paramVPS
	paramSPS
	paramPPS
)

func classify(c Codec, n []byte) paramKind {
	if len(n) == 0 {
		return notParam
	}
	switch c {
	case CodecH264:
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			return paramSPS
		case h264.NALUTypePPS:
			return paramPPS
		}
	case CodecH265:
		switch h265.NALUType(n[0] >> 1 & 0x3f) {
		case h265.NALUType_VPS_NUT:
			return paramVPS
		case h265.NALUType_SPS_NUT:
			return paramSPS
		case h265.NALUType_PPS_NUT:
			return paramPPS
		}
	}
	return notParam
}

// IsKeyframe reports whether an access unit holds an IDR picture (H.264)
// or an IRAP picture (H.265).
func IsKeyframe(c Codec, nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch c {
		case CodecH264:
			if h264.NALUType(n[0]&0x1f) == h264.NALUTypeIDR {
				return true
			}
		case CodecH265:
			t := h265.NALUType(n[0] >> 1 & 0x3f)
			if t >= h265.NALUType_BLA_W_LP && t <= h265.NALUType_RSV_IRAP_VCL23 {
				return true
			}
		}
	}
	return false
}

// ParamTracker follows the parameter sets of one video track, from sequence
// headers and from in-band SPS/PPS/VPS, and says when they changed so the
// publisher resends the sequence header. The zero value is ready to use; it
// is not safe for concurrent use.
type ParamTracker struct {
	cur   VideoParams
	valid bool
}

// Params returns the current parameters and whether a complete set is known.
func (t *ParamTracker) Params() (VideoParams, bool) { return t.cur, t.valid }

// Set installs parameters from a sequence header. It reports whether they
// differ from the current ones.
func (t *ParamTracker) Set(p VideoParams) bool {
	changed := !t.valid || !sameSets(t.cur, p)
	t.cur, t.valid = p, true
	return changed
}

// Observe scans a video unit for in-band parameter sets. It reports
// changed=true when the unit completes a set that differs from the current
// one (the sequence header must be resent); a new SPS that does not parse
// is ignored and returned as err, and the old parameters stay.
func (t *ParamTracker) Observe(u Unit) (changed bool, err error) {
	if !u.Codec.IsVideo() {
		return false, nil
	}
	next := t.cur
	if next.Codec != u.Codec {
		next = VideoParams{Codec: u.Codec}
	}
	found := false
	for _, n := range u.NALUs {
		switch classify(u.Codec, n) {
		case paramVPS:
			next.VPS, found = n, true
		case paramSPS:
			next.SPS, found = n, true
		case paramPPS:
			next.PPS, found = n, true
		}
	}
	if !found || (t.valid && sameSets(t.cur, next)) || !complete(next) {
		return false, nil
	}
	return t.install(next)
}

func (t *ParamTracker) install(next VideoParams) (bool, error) {
	if !t.valid || !bytes.Equal(t.cur.SPS, next.SPS) || t.cur.Codec != next.Codec {
		fr := t.cur.FrameRate
		next.FrameRate = 0
		if err := next.parseSPS(); err != nil {
			return false, err
		}
		if next.FrameRate == 0 {
			next.FrameRate = fr
		}
	}
	next.VPS = clone(next.VPS)
	next.SPS, next.PPS = clone(next.SPS), clone(next.PPS)
	t.cur, t.valid = next, true
	return true, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func complete(p VideoParams) bool {
	return len(p.SPS) > 0 && len(p.PPS) > 0 && (p.Codec != CodecH265 || len(p.VPS) > 0)
}

func sameVideo(a, b VideoParams) bool {
	return sameSets(a, b) && a.Width == b.Width && a.Height == b.Height
}

func sameAudio(a, b AudioParams) bool {
	return a.Codec == b.Codec && bytes.Equal(a.Config, b.Config) && a.SampleRate == b.SampleRate &&
		a.Channels == b.Channels
}

func sameSets(a, b VideoParams) bool {
	return a.Codec == b.Codec && bytes.Equal(a.SPS, b.SPS) && bytes.Equal(a.PPS, b.PPS) &&
		bytes.Equal(a.VPS, b.VPS)
}
