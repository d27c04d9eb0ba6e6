package rtmp

import (
	"strings"
	"testing"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/stretchr/testify/require"
)

// L3: a server that answers Publish.Start and closes at once, on a name
// with credentials, refused the publish (lal's simple_auth,
// node-media-server's signed URLs): Dial fails with publish_refused before
// any media is sent, and the text keeps the signature out.
func TestCloseRightAfterPublishStartWithCredentialsIsRefused(t *testing.T) {
	s := newScriptServer(t, func(s *scriptServer) { s.CloseAfterPublish = time.Millisecond })
	began := time.Now()
	_, err := dial(t, s.url("live/cam?sign=1700000000-SECRETHASH"), PublishOptions{})
	re := asError(t, err)
	require.Equal(t, health.LayerPublish, re.Layer, err.Error())
	require.Equal(t, CausePublishRefused, re.Cause)
	require.Contains(t, err.Error(), "authentication")
	require.NotContains(t, err.Error(), "SECRETHASH")
	require.Less(t, time.Since(began), 5*time.Second)
}

// A name with credentials waits PublishRefuseWindow after Publish.Start
// before Dial returns; a close after it is no refusal (L4 as without
// credentials), and a name without a query does not wait.
func TestRefuseWindowOnlyWithCredentials(t *testing.T) {
	s := newScriptServer(t, func(s *scriptServer) { s.CloseAfterPublish = PublishRefuseWindow + 300*time.Millisecond })
	p, err := dial(t, s.url("live/cam?token=abc"), PublishOptions{})
	require.NoError(t, err)
	defer p.Close()
	require.GreaterOrEqual(t, time.Since(p.publishedAt()), PublishRefuseWindow)
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		require.FailNow(t, "close not noticed")
	}
	re := asError(t, p.Err())
	require.Equal(t, health.LayerUpkeep, re.Layer, re.Error())

	plain := newScriptServer(t, nil)
	q, err := dial(t, plain.url("live/cam"), PublishOptions{})
	require.NoError(t, err)
	defer q.Close()
	require.Less(t, time.Since(q.publishedAt()), PublishRefuseWindow)
}

func TestCredentialsInName(t *testing.T) {
	for name, want := range map[string]bool{
		"cam": false, "cam?": false, "cam?x": false, "cam?sign=1-abc": true, "?streamname=a&key=b": true,
	} {
		require.Equal(t, want, CredentialsInName(name), name)
	}
	require.True(t, CredentialsInName("live", strings.Repeat("a", 3)+"?k=v"))
}
