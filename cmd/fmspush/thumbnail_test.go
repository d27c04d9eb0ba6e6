package main

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/httpapi"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/nativepath"
)

// A thumbnail is the running camera session's keyframe decoded by ffmpeg,
// cached for thumbEvery; no session (or no ffmpeg) is no picture, and a
// thumbnail never starts a session.
func TestThumbnailFromTheRunningSession(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	in := &nativepath.Ingest{Source: "builtin:sample"}
	th := &thumbnails{FFmpeg: "ffmpeg", Ingests: func(name string) []*nativepath.Ingest {
		if name == "cam" {
			return []*nativepath.Ingest{in}
		}
		return nil
	}}
	ctx := context.Background()
	_, err := th.Thumbnail(ctx, "cam")
	require.True(t, errors.Is(err, httpapi.ErrNoPicture), "%v", err)
	require.Zero(t, in.Users(), "a thumbnail started the camera session")
	_, err = th.Thumbnail(ctx, "other")
	require.True(t, errors.Is(err, httpapi.ErrNoPicture), "%v", err)

	feed, err := in.OpenFLV(ctx, 5*time.Second)
	require.NoError(t, err)
	defer feed.Close()
	var pic []byte
	// The miss above is remembered for thumbMissFor.
	testpeer.Eventually(t, 10*time.Second, "a picture", func() bool {
		pic, err = th.Thumbnail(ctx, "cam")
		return err == nil
	})
	img, err := jpeg.Decode(bytes.NewReader(pic))
	require.NoError(t, err)
	require.Equal(t, 480, img.Bounds().Dx(), "the sample is 640x360, scaled to 480 wide")
	require.Equal(t, 270, img.Bounds().Dy())
	again, err := th.Thumbnail(ctx, "cam")
	require.NoError(t, err)
	require.Same(t, &pic[0], &again[0], "a second request within %v decodes again", thumbEvery)

	noFFmpeg := &thumbnails{FFmpeg: "/nonexistent/ffmpeg", Ingests: th.Ingests}
	_, err = noFFmpeg.Thumbnail(ctx, "cam")
	require.True(t, errors.Is(err, httpapi.ErrNoPicture), "%v", err)
}
