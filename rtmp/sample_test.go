package rtmp

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/media/sample"

	"github.com/stretchr/testify/require"
)

// readSampleTags returns every raw tag of the embedded sample.
func readSampleTags(t testing.TB) []media.FLVTag {
	t.Helper()
	r, err := media.NewFLVReader(bytes.NewReader(sample.Bytes()))
	require.NoError(t, err)
	var tags []media.FLVTag
	for {
		tag, err := r.ReadTag()
		if errors.Is(err, io.EOF) {
			return tags
		}
		require.NoError(t, err)
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

// loadSample parses the embedded sample (package media's reader).
func loadSample(t testing.TB) *sampleUnits {
	t.Helper()
	c, err := sample.Clip()
	require.NoError(t, err)
	return &sampleUnits{video: *c.Video, audio: *c.Audio, units: c.Units}
}

// publishUnits sends metadata, sequence headers and every unit, the way the native path does.
func publishUnits(t testing.TB, p *Publisher, s *sampleUnits) {
	t.Helper()
	publishHeaders(t, p, s)
	for _, u := range s.units {
		require.NoError(t, p.WriteUnit(u))
	}
}

// publishHeaders sends the sample's onMetaData and sequence headers.
func publishHeaders(t testing.TB, p *Publisher, s *sampleUnits) {
	t.Helper()
	require.NoError(t, p.WriteMetadata(media.MetadataFor(&s.video, &s.audio, media.HEVCEnhanced)))
	require.NoError(t, p.WriteVideoConfig(s.video, 0))
	require.NoError(t, p.WriteAudioConfig(s.audio, 0))
}

func publishTags(t testing.TB, p *Publisher, tags []media.FLVTag) {
	t.Helper()
	for _, tag := range tags {
		require.NoError(t, p.WriteTag(tag.Type, tag.Timestamp, tag.Data))
	}
}
