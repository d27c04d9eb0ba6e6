package testpeer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/rtmp"
)

// Every behaviour of the hostile server, seen by the rtmp package's
// publisher with a 1 s step timeout: it fails at the behaviour's layer,
// and the server reads the client's chunks without a protocol error.
// interop's TestServerBehaviours runs both push paths against them.
func TestHostileServer(t *testing.T) {
	want := map[testpeer.HostileBehaviour]struct {
		layer health.Layer
		cause string
	}{
		testpeer.HostileRefuse:               {health.LayerNetwork, "connection_refused"},
		testpeer.HostileBlackhole:            {health.LayerNetwork, "dial_timeout"},
		testpeer.HostileResetAtAccept:        {health.LayerHandshake, "handshake_reset"},
		testpeer.HostileCloseAtAccept:        {health.LayerHandshake, "handshake_closed"},
		testpeer.HostileSilentAtAccept:       {health.LayerHandshake, "handshake_timeout"},
		testpeer.HostileBadS0:                {health.LayerHandshake, "handshake_failed"},
		testpeer.HostileCloseAfterHandshake:  {health.LayerConnect, "connect_closed"},
		testpeer.HostileResetAtConnect:       {health.LayerConnect, "connect_reset"},
		testpeer.HostileSilentAfterHandshake: {health.LayerConnect, "connect_timeout"},
		testpeer.HostileFloodAtConnect:       {health.LayerConnect, "connect_timeout"},
		testpeer.HostileCloseAfterConnect:    {health.LayerPublish, "publish_closed"},
		testpeer.HostileSilentAfterConnect:   {health.LayerPublish, "publish_timeout"},
		testpeer.HostileFloodAfterConnect:    {health.LayerPublish, "publish_timeout"},
	}
	require.Len(t, want, len(testpeer.HostileBehaviours))
	for _, b := range testpeer.HostileBehaviours {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			h := testpeer.StartHostile(t, b)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p, err := rtmp.Dial(ctx, h.URL("live", "key"), rtmp.PublishOptions{StepTimeout: time.Second})
			if err == nil {
				p.Reset()
			}
			require.Error(t, err, "%s: the publish went through", b)
			var re *rtmp.Error
			require.True(t, errors.As(err, &re), "%s: %v", b, err)
			require.Equal(t, want[b].layer, re.Layer, "%s: %v", b, err)
			require.Equal(t, want[b].cause, re.Cause, "%s: %v", b, err)
			h.Close()
			require.NoError(t, h.Err())
			if b != testpeer.HostileRefuse && b != testpeer.HostileBlackhole {
				require.Equal(t, 1, h.Accepted())
			}
		})
	}
	_, err := testpeer.ListenHostile("nonsense")
	require.Error(t, err)
}

// A flooding server keeps sending while the client waits: at least a
// hundred control messages' worth of bytes arrive in 300 ms.
func TestHostileFloodKeepsSending(t *testing.T) {
	h := testpeer.StartHostile(t, testpeer.HostileFloodAfterConnect)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := rtmp.Connect(ctx, h.URL("live", "key"), rtmp.PublishOptions{})
	require.NoError(t, err, "connect is answered")
	p, err := rtmp.Connect(ctx, h.URL("live", "key"), rtmp.PublishOptions{})
	require.NoError(t, err)
	defer p.Reset()
	before := p.Stats().BytesRead
	testpeer.Eventually(t, 5*time.Second, "the flood", func() bool { return p.Stats().BytesRead-before > 100*12 })
}
