package nativepath

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/media"
)

// A feed of the builtin sample is FLV that starts with onMetaData, both
// sequence headers and a keyframe, then carries the stream on with rising
// timestamps; Close ends it and releases the ingest.
func TestFLVFeedStartsAtAKeyframe(t *testing.T) {
	in := &Ingest{Source: "builtin:sample"}
	f, err := in.OpenFLV(context.Background(), 5*time.Second)
	require.NoError(t, err)
	require.NotNil(t, f.Video)
	require.NotNil(t, f.Audio)
	require.Equal(t, 1, in.Users())
	r, err := media.NewFLVReader(f)
	require.NoError(t, err)
	var kinds []string
	var lastVideo time.Duration = -1
	frames := 0
	for frames < 60 {
		p, err := r.ReadPacket()
		require.NoError(t, err)
		switch {
		case p.Metadata != nil:
			kinds = append(kinds, "meta")
		case p.Video != nil:
			kinds = append(kinds, "vconf")
		case p.Audio != nil:
			kinds = append(kinds, "aconf")
		case p.Unit.Codec.IsVideo():
			if lastVideo < 0 {
				require.True(t, p.Unit.Key, "the first video frame is a keyframe")
				kinds = append(kinds, "key")
			}
			require.Greater(t, p.Unit.DTS, lastVideo)
			lastVideo = p.Unit.DTS
			frames++
		}
	}
	require.Equal(t, []string{"meta", "vconf", "aconf", "key"}, kinds[:4])
	require.NoError(t, f.Close())
	_, err = io.ReadAll(f)
	require.Error(t, err)
	require.Zero(t, in.Users(), "the feed still holds the ingest")
}

// A source that cannot be read fails OpenFLV with the reason, within the grace.
func TestFLVFeedSourceAway(t *testing.T) {
	in := &Ingest{Source: "rtsp://127.0.0.1:1/none"}
	start := time.Now()
	_, err := in.OpenFLV(context.Background(), time.Second)
	require.Error(t, err)
	require.Less(t, time.Since(start), 3*time.Second)
	require.Zero(t, in.Users())
	require.False(t, errors.Is(err, ErrFeedCodec))
}

// Keyframe answers the running session's cached keyframe and never starts a
// session: nothing before the first user, nothing after the last.
func TestIngestKeyframeOnlyWhileRunning(t *testing.T) {
	in := &Ingest{Source: "builtin:sample"}
	_, _, ok := in.Keyframe()
	require.False(t, ok, "a keyframe without a running session")
	require.Zero(t, in.Users(), "Keyframe started the session")
	f, err := in.OpenFLV(context.Background(), 5*time.Second)
	require.NoError(t, err)
	key, video, ok := in.Keyframe()
	require.True(t, ok, "no keyframe while the feed runs")
	require.True(t, key.Key && key.Codec == media.CodecH264, "%+v", key)
	require.Equal(t, 640, video.Width)
	require.NotEmpty(t, video.SPS)
	require.NoError(t, f.Close())
	_, _, ok = in.Keyframe()
	require.False(t, ok, "a keyframe after the session stopped")
}
