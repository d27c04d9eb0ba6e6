package rtmp_test

import (
	"context"
	"testing"
	"time"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/rtmp"
)

// x265Units encodes a few 320x240 frames with libx265 and splits them into
// parameters and access units.
func x265Units(t *testing.T) (media.VideoParams, []media.Unit) {
	t.Helper()
	h := testpeer.EncodeHEVC(t, 5)
	var units []media.Unit
	for i, pic := range h.Pictures {
		dts := time.Duration(i) * 40 * time.Millisecond
		key := (pic[0]>>1)&0x3f >= 16 // IRAP
		units = append(units, media.Unit{Codec: media.CodecH265, DTS: dts, PTS: dts, Key: key, NALUs: [][]byte{pic}})
	}
	vp, err := media.NewVideoParams(media.CodecH265, h.VPS, h.SPS, h.PPS)
	if err != nil {
		t.Fatal(err)
	}
	return vp, units
}

// H.265 goes out as Enhanced RTMP hvc1 or legacy codec id 12, and the
// emulator decodes either: codec, picture size from our
// HEVCDecoderConfigurationRecord (media.HEVCConfig), and every frame with valid NALU lengths.
func TestPublishHEVCBothModes(t *testing.T) {
	vp, units := x265Units(t)
	rec, err := media.HEVCConfig(vp)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _, err := media.ParseHEVCConfig(rec)
	if err != nil || parsed.Width != 320 || parsed.Height != 240 {
		t.Fatalf("our hvcC does not parse back: %+v %v", parsed, err)
	}
	for _, mode := range []rtmp.H265Mode{rtmp.H265Enhanced, rtmp.H265Legacy} {
		sim := &fmsim.Server{Listen: "127.0.0.1:0", Rules: []string{"validate_nalu=true", "require_seq_header=true"}}
		if err := sim.Start(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p, err := rtmp.Dial(ctx, sim.URL("live", "hevc"), rtmp.PublishOptions{H265: mode})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.WriteMetadata(rtmp.MetadataFor(&vp, nil, mode)); err != nil {
			t.Fatal(err)
		}
		if err := p.WriteVideoConfig(vp, 0); err != nil {
			t.Fatal(err)
		}
		for _, u := range units {
			if err := p.WriteVideo(u); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		var info fmsim.SessionInfo
		testpeer.Eventually(t, 5*time.Second, "the emulator to end the session", func() bool {
			ss := sim.Sessions()
			if len(ss) == 1 && !ss[0].EndedAt.IsZero() {
				info = ss[0]
				return true
			}
			return false
		})
		sim.Close()
		if info.VideoCodec != "hevc" || info.Width != 320 || info.Height != 240 || info.VideoFrames != len(units) {
			t.Fatalf("mode %d: emulator saw %s %dx%d %d frames, sent %d", mode, info.VideoCodec, info.Width, info.Height, info.VideoFrames, len(units))
		}
	}
}
