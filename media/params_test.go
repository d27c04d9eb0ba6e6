package media

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// h264Sets encodes a few 320x240 H.264 frames with the real ffmpeg and
// returns the SPS and PPS it emitted in-band.
func h264Sets(t *testing.T) (sps, pps []byte) {
	nalus, err := encodeAnnexB(t.TempDir(), "h264", "-frames:v", "2", "-c:v", "libx264", "-preset", "ultrafast")
	require.NoError(t, err)
	for _, n := range nalus {
		switch n[0] & 0x1f {
		case 7:
			sps = n
		case 8:
			pps = n
		}
	}
	require.True(t, sps != nil && pps != nil, "x264 emitted no SPS/PPS")
	return sps, pps
}

// An in-band SPS/PPS that differs from the sequence header is reported
// once, with the new picture size; repeats of the same sets are not.
func TestParamTrackerH264InBandChange(t *testing.T) {
	testpeerNeedFFmpeg(t)
	c := loadSample(t)
	var tr ParamTracker
	require.True(t, tr.Set(*c.Video), "first sequence header is a change")
	require.False(t, tr.Set(*c.Video), "same sequence header is no change")

	// The sample repeats nothing in-band: its frames are no change.
	for _, u := range c.Units[:40] {
		ch, err := tr.Observe(u)
		require.NoError(t, err)
		require.False(t, ch, "sample frame reported a change")
	}
	sps, pps := h264Sets(t)
	idr := []byte{0x65, 0x88, 0x80}
	ch, err := tr.Observe(Unit{Codec: CodecH264, Key: true, NALUs: [][]byte{sps, pps, idr}})
	require.NoError(t, err)
	require.True(t, ch, "new SPS not reported")
	p, ok := tr.Params()
	require.True(t, ok, "params")
	require.Equal(t, 320, p.Width)
	require.Equal(t, 240, p.Height)
	require.Equal(t, 25.0, p.FrameRate, "frame rate from the x264 VUI")

	ch, _ = tr.Observe(Unit{Codec: CodecH264, Key: true, NALUs: [][]byte{sps, pps, idr}})
	require.False(t, ch, "repeated sets reported as a change")

	// Only the PPS changes: still a change, the SPS facts stay.
	pps2 := append(append([]byte{}, pps...), 0x80)
	ch, err = tr.Observe(Unit{Codec: CodecH264, NALUs: [][]byte{pps2}})
	require.NoError(t, err)
	require.True(t, ch, "PPS change not reported")
	p, _ = tr.Params()
	require.Equal(t, pps2, p.PPS)
	require.Equal(t, 320, p.Width)
}

// An SPS that does not parse is refused and the old parameters stay.
func TestParamTrackerBadSPS(t *testing.T) {
	c := loadSample(t)
	var tr ParamTracker
	tr.Set(*c.Video)
	ch, err := tr.Observe(Unit{Codec: CodecH264, NALUs: [][]byte{{0x67, 0xff}, c.Video.PPS}})
	require.Error(t, err, "bad SPS")
	require.False(t, ch, "bad SPS reported as a change")
	p, _ := tr.Params()
	require.Equal(t, *c.Video, p)
}

// H.265 needs VPS, SPS and PPS; x265's first access unit carries them.
func TestParamTrackerH265(t *testing.T) {
	c := hevcClip(t)
	var tr ParamTracker
	ch, err := tr.Observe(c.Units[0])
	require.NoError(t, err)
	require.True(t, ch, "in-band H.265 sets")
	p, _ := tr.Params()
	require.Equal(t, *c.Video, p)
	ch, _ = tr.Observe(Unit{Codec: CodecH265, NALUs: [][]byte{c.Video.SPS}})
	require.False(t, ch, "partial repeat")
}

func TestIsKeyframe(t *testing.T) {
	require.True(t, IsKeyframe(CodecH264, [][]byte{{0x09}, {0x65}}), "H.264 IDR")
	require.False(t, IsKeyframe(CodecH264, [][]byte{{0x41}}), "H.264 non-IDR")
	require.True(t, IsKeyframe(CodecH265, [][]byte{{19 << 1, 1}}), "H.265 IDR_W_RADL")
	require.True(t, IsKeyframe(CodecH265, [][]byte{{21 << 1, 1}}), "H.265 CRA")
	require.False(t, IsKeyframe(CodecH265, [][]byte{{1 << 1, 1}}), "H.265 TRAIL_R")
	require.False(t, IsKeyframe(CodecAAC, [][]byte{{0x65}}), "audio")
	c := loadSample(t)
	for _, u := range c.Units {
		if u.Codec.IsVideo() {
			require.Equal(t, u.Key, IsKeyframe(u.Codec, u.NALUs), "FLV key flag vs NALUs at %v", u.DTS)
		}
	}
}

func TestNewVideoParams(t *testing.T) {
	c := loadSample(t)
	p, err := NewVideoParams(CodecH264, nil, c.Video.SPS, c.Video.PPS)
	require.NoError(t, err)
	require.Equal(t, *c.Video, p)
	_, err = NewVideoParams(CodecH264, nil, c.Video.SPS, nil)
	require.Error(t, err, "no PPS")
	_, err = NewVideoParams(CodecH265, nil, c.Video.SPS, c.Video.PPS)
	require.Error(t, err, "H.265 without VPS")
}

// A version is new only when the parameters change; each is a new value
// with the next epoch, and what did not change is shared, not copied.
func TestParamsVersions(t *testing.T) {
	c := loadSample(t)
	var none *Params
	p1 := none.WithVideo(*c.Video)
	require.Equal(t, uint64(1), p1.Epoch)
	require.Nil(t, p1.WithVideo(*c.Video), "the same video is no new version")
	p2 := p1.WithAudio(*c.Audio)
	require.Equal(t, uint64(2), p2.Epoch)
	require.Same(t, p1.Video, p2.Video)
	require.Nil(t, p2.WithAudio(*c.Audio), "the same audio is no new version")
	small := *c.Video
	small.Width = 320
	p3 := p2.WithVideo(small)
	require.NotNil(t, p3, "a new resolution is a new version")
	require.Same(t, p2.Audio, p3.Audio)
	require.Equal(t, 640, p2.Video.Width, "an old version never changes")
	rate := *c.Video
	rate.FrameRate = 30
	require.Nil(t, p2.WithVideo(rate), "the frame rate alone needs no new header")
}
