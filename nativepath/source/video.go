package source

import (
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/media"
)

// videoTrack turns access units into units: it waits for the first random
// access, keeps parameter sets on every keyframe, tracks in-band changes
// (announcing them to the sink) and, for RTP input, derives DTS from PTS.
type videoTrack struct {
	codec   media.Codec
	tracker media.ParamTracker
	h264DTS h264.DTSExtractor
	h265DTS h265.DTSExtractor
	random  bool
	emit    *emitter
	log     hclog.Logger
}

func newVideoTrack(c media.Codec, vps, sps, pps []byte, em *emitter, log hclog.Logger) *videoTrack {
	v := &videoTrack{codec: c, emit: em, log: log}
	v.h264DTS.Initialize()
	v.h265DTS.Initialize()
	if p, err := media.NewVideoParams(c, vps, sps, pps); err == nil {
		v.tracker.Set(p)
		em.send(event{video: &p})
	}
	return v
}

// prepare returns au ready to go out, or nil while waiting for a random
// access unit or for parameter sets.
func (v *videoTrack) prepare(au [][]byte) [][]byte {
	key := media.IsKeyframe(v.codec, au)
	if !v.random && !key {
		return nil
	}
	if key {
		au = v.withParams(au)
	}
	changed, err := v.tracker.Observe(media.Unit{Codec: v.codec, NALUs: au})
	if err != nil {
		v.log.Debug("ignoring in-band parameter sets", "error", err)
	}
	p, ok := v.tracker.Params()
	if !ok {
		return nil
	}
	if changed {
		v.emit.send(event{video: &p})
	}
	v.random = true
	return au
}

// withParams prepends the known parameter sets to a keyframe without them.
func (v *videoTrack) withParams(au [][]byte) [][]byte {
	p, ok := v.tracker.Params()
	if !ok || hasSPS(v.codec, au) {
		return au
	}
	out := make([][]byte, 0, len(au)+3)
	if v.codec == media.CodecH265 {
		out = append(out, p.VPS)
	}
	out = append(out, p.SPS, p.PPS)
	return append(out, au...)
}

func hasSPS(c media.Codec, au [][]byte) bool {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if c == media.CodecH264 && h264.NALUType(n[0]&0x1f) == h264.NALUTypeSPS {
			return true
		}
		if c == media.CodecH265 && h265.NALUType(n[0]>>1&0x3f) == h265.NALUType_SPS_NUT {
			return true
		}
	}
	return false
}

// extractDTS derives the decode time of an RTP access unit from its PTS.
func (v *videoTrack) extractDTS(au [][]byte, pts int64) (int64, error) {
	if v.codec == media.CodecH265 {
		return v.h265DTS.Extract(au, pts)
	}
	return v.h264DTS.Extract(au, pts)
}

// push sends a prepared access unit.
func (v *videoTrack) push(au [][]byte, dts, pts time.Duration) {
	u := media.Unit{Codec: v.codec, DTS: dts, PTS: pts, Key: media.IsKeyframe(v.codec, au), NALUs: au}
	v.emit.send(event{unit: &u})
}
