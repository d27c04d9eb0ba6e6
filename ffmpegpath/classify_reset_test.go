package ffmpegpath

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
)

// ffmpeg says "closed" for a server that reset the connection during the
// setup (its RTMP layer reads every failure as EIO: the l2_reset capture
// reads connect_closed); the relay read the reset, and the verdict says
// it as the native path does. A close stays a close; a reset after the
// setup is judged by its own rules.
func TestRelaySeesTheServersReset(t *testing.T) {
	const sample = "/work/main/media/sample/sample.flv"
	const target = "rtmp://127.0.0.1:19350/live/sekrit?token=abc"
	reset := fmt.Errorf("tap: read from the server: %w", syscall.ECONNRESET)
	for _, tc := range []struct {
		capture  string
		relayErr error
		want     string
	}{
		{"l2_reset", reset, "connect_reset"},
		{"l2_reset", nil, "connect_closed"},
		{"l2_closed", io.EOF, "connect_closed"},
		{"l1_closed", reset, "handshake_reset"},
		{"l1_timeout", reset, "handshake_timeout"},
	} {
		e := loadCapture(t, tc.capture, sample, target)
		e.RelayErr = tc.relayErr
		v := Classify(e)
		require.NotNil(t, v, tc.capture)
		require.Equal(t, tc.want, v.Cause, "%s with relay error %v: %v", tc.capture, tc.relayErr, v)
		require.True(t, errors.Is(tc.relayErr, syscall.ECONNRESET) || v.Cause != "connect_reset")
		require.NotEqual(t, health.LayerUnknown, v.Layer)
	}
}
