package rtmp_test

import (
	"context"
	"testing"
	"time"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/rtmp"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, err)
	return vp, units
}

// H.265 goes out as Enhanced RTMP hvc1 or legacy codec id 12, and the
// emulator decodes either: codec, picture size from our
// HEVCDecoderConfigurationRecord (media.HEVCConfig), and every frame with valid NALU lengths.
func TestPublishHEVCBothModes(t *testing.T) {
	vp, units := x265Units(t)
	rec, err := media.HEVCConfig(vp)
	require.NoError(t, err)
	parsed, _, err := media.ParseHEVCConfig(rec)
	require.NoError(t, err, "our hvcC does not parse back: %+v", parsed)
	require.Equal(t, 320, parsed.Width, "our hvcC does not parse back: %+v", parsed)
	require.Equal(t, 240, parsed.Height, "our hvcC does not parse back: %+v", parsed)
	for _, mode := range []media.HEVCMode{media.HEVCEnhanced, media.HEVCLegacy} {
		sim := &fmsim.Server{Listen: "127.0.0.1:0", Rules: []string{"validate_nalu=true", "require_seq_header=true"}}
		require.NoError(t, sim.Start())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p, err := rtmp.Dial(ctx, sim.URL("live", "hevc"), rtmp.PublishOptions{H265: mode})
		cancel()
		require.NoError(t, err)
		require.NoError(t, p.WriteMetadata(media.MetadataFor(&vp, nil, mode)))
		require.NoError(t, p.WriteVideoConfig(vp, 0))
		for _, u := range units {
			require.NoError(t, p.WriteUnit(u))
		}
		require.NoError(t, p.Close())
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
		require.True(t, info.VideoCodec == "hevc" && info.Width == 320 && info.Height == 240 && info.VideoFrames == len(units),
			"mode %d: emulator saw %s %dx%d %d frames, sent %d", mode, info.VideoCodec, info.Width, info.Height, info.VideoFrames, len(units))
	}
}
