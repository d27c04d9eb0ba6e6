package health_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/rtmp"
)

func TestAsVerdict(t *testing.T) {
	require.Nil(t, health.AsVerdict(nil))

	v := health.AsVerdict(errors.New("boom"))
	require.Equal(t, health.LayerUnknown, v.Layer)
	require.Equal(t, "unclassified", v.Cause)
	require.Equal(t, health.NotReached, v.SinceDial, "never reached, not 0 ms after the dial")
	require.Equal(t, health.NotReached, v.SincePublish)
	require.Equal(t, health.NotReached, v.SinceFirstFrame)

	own := health.NewVerdict(health.LayerSource, "source_lost", "gone")
	require.Same(t, own, health.AsVerdict(fmt.Errorf("wrapped: %w", own)))

	re := &rtmp.Error{Layer: health.LayerMedia, Cause: "reset_after_first_frame", Err: errors.New("reset"),
		SinceDial: time.Second, SincePublish: 300 * time.Millisecond, SinceFirstFrame: 110 * time.Millisecond}
	v = health.AsVerdict(fmt.Errorf("wrapped: %w", re))
	require.Equal(t, health.LayerMedia, v.Layer)
	require.Equal(t, "reset_after_first_frame", v.Cause)
	require.Equal(t, 110*time.Millisecond, v.TimeToRST, "L5: the reset's time after the first frame")
	require.Equal(t, time.Second, v.SinceDial)

	ne := rtmp.NewError(health.LayerHandshake, "handshake_closed", errors.New("eof"))
	v = health.AsVerdict(ne)
	require.Equal(t, health.NotReached, v.SinceDial)
	require.Zero(t, v.TimeToRST)
}

func TestLayerText(t *testing.T) {
	for l := health.LayerUnknown; l <= health.LayerProcess; l++ {
		b, err := l.MarshalText()
		require.NoError(t, err)
		var back health.Layer
		require.NoError(t, back.UnmarshalText(b))
		require.Equal(t, l, back, "%s", b)
	}
	var l health.Layer
	require.Error(t, l.UnmarshalText([]byte("L9")))
	require.True(t, health.LayerMedia.IsTarget())
	require.False(t, health.LayerSource.IsTarget())
	require.Equal(t, "L2 connect", health.LayerConnect.String()+" "+health.LayerConnect.Title())
}
