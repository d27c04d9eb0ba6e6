package fmsim

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/rtmp"

	"github.com/stretchr/testify/require"
)

// dialPublisher publishes name with the rtmp package's Publisher.
func dialPublisher(t *testing.T, s *Server, name string, opts rtmp.PublishOptions) (*rtmp.Publisher, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := rtmp.Dial(ctx, s.URL("live", name), opts)
	if err == nil {
		t.Cleanup(func() { p.Reset() })
	}
	return p, err
}

// waitSession waits for a session satisfying pred.
func waitSession(t *testing.T, s *Server, within time.Duration, pred func(SessionInfo) bool) SessionInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	info, err := s.WaitSession(ctx, pred)
	require.NoError(t, err, "sessions: %+v", s.Sessions())
	return info
}

// requireNameLocked checks a Publisher's refusal as fmspush sees it: an L3
// *rtmp.Error "name_locked" whose server words are masked.
func requireNameLocked(t *testing.T, err error, key string) {
	t.Helper()
	var re *rtmp.Error
	require.True(t, errors.As(err, &re), "want *rtmp.Error, got %v", err)
	require.Equal(t, health.LayerPublish, re.Layer)
	require.Equal(t, "name_locked", re.Cause)
	require.Contains(t, re.ServerWords, "is already publishing")
	require.NotContains(t, re.ServerWords, key, "the echoed key is masked by the publisher")
	require.NotContains(t, re.Error(), key)
}

func TestSinglePublisherRefusesSecondPublisher(t *testing.T) {
	t.Parallel()
	const key = "cam-7f3a9c2e41d8"
	s := startServer(t, ProfileLenient, "single_publisher")
	first, err := dialPublisher(t, s, key+"?wsSecret=one", rtmp.PublishOptions{})
	require.NoError(t, err)

	// A raw client sees the server's words: the bare name echoed, like nginx-rtmp's "already publishing".
	raw := &testClient{Name: key + "?wsSecret=two"}
	st, err := raw.dial(s.Addr())
	require.Error(t, err)
	raw.close()
	require.Equal(t, "error", st.Level)
	require.Equal(t, "NetStream.Publish.BadName", st.Code)
	require.Equal(t, key+" is already publishing", st.Description)
	refused := waitEnded(t, s, 2, 5*time.Second)
	require.Equal(t, health.LayerPublish, refused.Verdict.Layer)
	require.Equal(t, "single_publisher", refused.Verdict.Rule)
	require.Equal(t, "already_publishing", refused.Verdict.Cause)
	require.Equal(t, ActionReject, refused.Verdict.Action)
	require.Equal(t, 1, refused.NameHolder)
	require.Equal(t, ClosedByServer, refused.Verdict.ClosedBy)
	require.False(t, refused.Published())
	tr, err := os.ReadFile(refused.Transcript)
	require.NoError(t, err)
	require.Contains(t, string(tr), `"type_name":"refusal"`)
	require.Contains(t, string(tr), "is already publishing")
	require.Contains(t, string(tr), `"rule":"single_publisher"`)
	require.NotContains(t, string(tr), key, "the transcript masks the echoed name")

	// fmspush's publisher: an L3 name_locked error, the key masked.
	_, err = dialPublisher(t, s, key, rtmp.PublishOptions{})
	requireNameLocked(t, err, key)

	// Another name is not held.
	other, err := dialPublisher(t, s, "other-name", rtmp.PublishOptions{})
	require.NoError(t, err)
	require.NoError(t, other.Close())

	// Once the holder has gone, the name is free.
	require.NoError(t, first.Close())
	ended := waitEnded(t, s, 1, 5*time.Second)
	require.Equal(t, ClosedByClient, ended.Verdict.ClosedBy)
	require.Equal(t, PeerFIN, ended.Verdict.PeerClose)
	again, err := dialPublisher(t, s, key, rtmp.PublishOptions{})
	require.NoError(t, err, "the name is free once its holder closed")
	require.NoError(t, again.Close())
}

// TestSinglePublisherFreedByServerReset: the emulator's own reset frees the
// name, and the verdict says the server closed the connection.
func TestSinglePublisherFreedByServerReset(t *testing.T) {
	t.Parallel()
	const key = "reset-key-2b7e151628"
	s := startServer(t, ProfileCloud)
	first, err := dialPublisher(t, s, key, rtmp.PublishOptions{})
	require.NoError(t, err)
	_, err = dialPublisher(t, s, key, rtmp.PublishOptions{})
	requireNameLocked(t, err, key)

	require.Equal(t, 1, s.Reset(func(x SessionInfo) bool { return x.ID == 1 }))
	ended := waitEnded(t, s, 1, 5*time.Second)
	require.Equal(t, "reset", ended.Verdict.Rule)
	require.Equal(t, ClosedByServer, ended.Verdict.ClosedBy)
	<-first.Done()
	again, err := dialPublisher(t, s, key, rtmp.PublishOptions{})
	require.NoError(t, err, "a reset frees the name")
	require.NoError(t, again.Close())
}

// TestStalledSessionReleasesNameWhenClientCloses: a session the emulator
// stopped reading (stall_after_publish) holds its name until the client
// closes (FIN) or resets (RST) the socket; the emulator notices that without
// reading, within peerCheckInterval, and a new publish of the name is taken.
func TestStalledSessionReleasesNameWhenClientCloses(t *testing.T) {
	t.Parallel()
	for _, how := range []string{PeerFIN, PeerRST} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			key := "stall-key-" + how + "-9d4c3b2a1f"
			s := startServer(t, ProfileCloud, "stall_after_publish=100ms", "fault_stream="+key)
			p, err := dialPublisher(t, s, key, rtmp.PublishOptions{WriteTimeout: 500 * time.Millisecond})
			require.NoError(t, err)
			waitSession(t, s, 5*time.Second, func(x SessionInfo) bool { return x.ID == 1 && x.Stalled })

			_, err = dialPublisher(t, s, key, rtmp.PublishOptions{})
			requireNameLocked(t, err, key) // a stalled session still holds the name

			var closedAt time.Time
			if how == PeerFIN {
				// A clean close: FCUnpublish, deleteStream and a FIN, all
				// queued behind nothing (the server's window is open).
				closedAt = time.Now()
				_ = p.Close()
			} else {
				// fmspush's stall: write until the server's zero window
				// blocks a write for WriteTimeout, then Close resets.
				tags := loadSample(t)
				var werr error
				for loop := uint32(0); werr == nil; loop++ {
					for _, tag := range tags {
						if werr = p.WriteTag(tag.typ, tag.ts+loop*10_000, tag.data); werr != nil {
							break
						}
					}
				}
				var re *rtmp.Error
				require.True(t, errors.As(werr, &re), "write error %v", werr)
				require.Equal(t, "stalled", re.Cause)
				closedAt = time.Now()
				_ = p.Close()
			}
			ended := waitEnded(t, s, 1, 5*time.Second)
			took := ended.EndedAt.Sub(closedAt)
			t.Logf("the stalled session ended %v after the client's %s", took.Round(time.Millisecond), how)
			require.Less(t, took, time.Second)
			require.True(t, ended.Stalled)
			require.Equal(t, ClosedByClient, ended.Verdict.ClosedBy, "verdict %+v", ended.Verdict)
			require.Equal(t, how, ended.Verdict.PeerClose)
			require.False(t, ended.Verdict.ByServer(), "verdict %+v", ended.Verdict)
			require.Equal(t, "client_closed", ended.Verdict.Cause)
			require.Equal(t, health.LayerUpkeep, ended.Verdict.Layer, "the stall's layer")
			require.True(t, strings.Contains(ended.Verdict.Detail, "stall_after_publish"), ended.Verdict.Detail)

			again, err := dialPublisher(t, s, key, rtmp.PublishOptions{})
			require.NoError(t, err, "the name is free once the stalled client closed")
			again.Reset()
		})
	}
}
