package rtmp

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"

	"github.com/stretchr/testify/require"
)

// readSampleTags returns every tag of the embedded sample.
func readSampleTags(t testing.TB) []*FLVTag {
	t.Helper()
	f, err := os.Open(testpeer.SamplePath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewFLVReader(f)
	var tags []*FLVTag
	for {
		tag, err := r.Next()
		if errors.Is(err, io.EOF) {
			return tags
		}
		if err != nil {
			t.Fatal(err)
		}
		tags = append(tags, tag)
	}
}

// sampleUnits is the sample as the native path sees it: codec parameters and
// access units.
type sampleUnits struct {
	video media.VideoParams
	audio media.AudioParams
	units []media.Unit
}

func toUnits(t testing.TB, tags []*FLVTag) *sampleUnits {
	t.Helper()
	s := &sampleUnits{
		video: media.VideoParams{Codec: media.CodecH264, Width: 640, Height: 360, FrameRate: 25},
		audio: media.AudioParams{Codec: media.CodecAAC, SampleRate: 44100, Channels: 2},
	}
	for _, tag := range tags {
		dts := time.Duration(tag.Timestamp) * time.Millisecond
		switch {
		case tag.Type == FLVTagVideo && tag.Body[1] == 0:
			spss, ppss, err := ParseAVCDecoderConfig(tag.Body[5:])
			if err != nil {
				t.Fatal(err)
			}
			s.video.SPS, s.video.PPS = spss[0], ppss[0]
		case tag.Type == FLVTagVideo && tag.Body[1] == 1:
			cts := int32(u24(tag.Body[2:5])<<8) >> 8
			nalus, err := SplitAVCC(tag.Body[5:])
			if err != nil {
				t.Fatal(err)
			}
			s.units = append(s.units, media.Unit{Codec: media.CodecH264, DTS: dts,
				PTS: dts + time.Duration(cts)*time.Millisecond, Key: tag.Body[0]>>4 == 1, NALUs: nalus})
		case tag.Type == FLVTagAudio && tag.Body[1] == 0:
			s.audio.Config = tag.Body[2:]
		case tag.Type == FLVTagAudio:
			s.units = append(s.units, media.Unit{Codec: media.CodecAAC, DTS: dts, PTS: dts, Key: true, Payload: tag.Body[2:]})
		}
	}
	return s
}

// publishUnits sends metadata, sequence headers and every unit, the way the native path does.
func publishUnits(t testing.TB, p *Publisher, s *sampleUnits) {
	t.Helper()
	require.NoError(t, p.WriteMetadata(MetadataFor(&s.video, &s.audio, H265Enhanced)))
	require.NoError(t, p.WriteVideoConfig(s.video, 0))
	require.NoError(t, p.WriteAudioConfig(s.audio, 0))
	for _, u := range s.units {
		require.NoError(t, p.WriteUnit(u))
	}
}

func publishTags(t testing.TB, p *Publisher, tags []*FLVTag) {
	t.Helper()
	for _, tag := range tags {
		require.NoError(t, p.WriteTag(tag.Type, tag.Timestamp, tag.Body))
	}
}
