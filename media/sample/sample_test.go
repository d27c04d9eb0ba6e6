package sample

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"

	"github.com/stretchr/testify/require"
)

// The embedded bytes are the repository's sample and parse into its facts.
func TestClip(t *testing.T) {
	b, err := os.ReadFile(testpeer.SamplePath(t))
	require.NoError(t, err)
	require.True(t, bytes.Equal(b, Bytes()), "embedded sample differs from media/sample/sample.flv")
	c, err := Clip()
	require.NoError(t, err)
	v, a := c.Video, c.Audio
	require.True(t, v.Codec == media.CodecH264 && v.Width == 640 && v.Height == 360 && a.SampleRate == 44100 && a.Channels == 2,
		"unexpected params %+v %+v", v, a)
}

// The looper starts at 0 and keeps going past the end of the clip.
func TestNewLooperUnpaced(t *testing.T) {
	l, err := NewLooper(nil)
	require.NoError(t, err)
	var last media.Unit
	for last.DTS < 12*time.Second {
		last, err = l.Next(context.Background())
		require.NoError(t, err)
	}
	require.Equal(t, 1, l.Loops(), "loops")
}
