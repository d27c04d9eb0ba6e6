package testpeer_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/rtmp"
)

// sampleTags reads the sample's FLV tags.
func sampleTags(t *testing.T) []media.FLVTag {
	t.Helper()
	f, err := os.Open(testpeer.SamplePath(t))
	require.NoError(t, err)
	defer f.Close()
	r, err := media.NewFLVReader(f)
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

func dial(t *testing.T, url string) (*rtmp.Publisher, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := rtmp.Dial(ctx, url, rtmp.PublishOptions{})
	if err == nil {
		t.Cleanup(p.Reset)
	}
	return p, err
}

// TestNginxDropsIdlePublisherBehindFrozenProxy: a publisher whose network
// freezes (the proxy holds everything, no FIN, no RST) keeps its stream name
// at nginx-rtmp; a second publish of the key is refused "Already publishing"
// until drop_idle_publisher drops the silent session, and accepted after.
func TestNginxDropsIdlePublisherBehindFrozenProxy(t *testing.T) {
	const idle = 2 * time.Second
	n := testpeer.StartNginxWith(t, testpeer.NginxOptions{DropIdlePublisher: idle})
	proxy := testpeer.StartProxy(t, n.Addr())
	const key = "idlekey"
	direct := n.AppURL + "/" + key

	first, err := dial(t, proxy.URL(direct))
	require.NoError(t, err)
	tags := sampleTags(t)
	start := time.Now()
	for _, tag := range tags {
		if tag.Timestamp > 1000 {
			break
		}
		if wait := time.Duration(tag.Timestamp)*time.Millisecond - time.Since(start); wait > 0 {
			time.Sleep(wait) // pacing a real-time publish, not waiting for a condition
		}
		require.NoError(t, first.WriteTag(tag.Type, tag.Timestamp, tag.Data))
	}
	proxy.Freeze()
	frozenAt := time.Now()

	_, err = dial(t, direct)
	var re *rtmp.Error
	require.True(t, errors.As(err, &re), "second publisher: want *rtmp.Error, got %v", err)
	t.Logf("nginx refuses the second publisher: layer %s, cause %s, server words %q", re.Layer, re.Cause, re.ServerWords)
	require.Equal(t, health.LayerPublish, re.Layer)
	require.Equal(t, "name_locked", re.Cause)
	require.Contains(t, re.ServerWords, "NetStream.Publish.BadName")
	require.Contains(t, re.ServerWords, "Already publishing")
	require.Contains(t, n.ErrorLog(), "live: already publishing")

	testpeer.Eventually(t, idle+5*time.Second, "nginx to drop the idle publisher", func() bool {
		return strings.Contains(n.ErrorLog(), "live: drop idle publisher")
	})
	dropped := time.Since(frozenAt)
	t.Logf("nginx dropped the idle publisher %v after the freeze (drop_idle_publisher %v)", dropped.Round(10*time.Millisecond), idle)
	require.Greater(t, dropped, idle-500*time.Millisecond)

	again, err := dial(t, direct)
	require.NoError(t, err, "the key is free once nginx dropped the idle publisher")
	require.NoError(t, again.Close())

	// The frozen client still sees an open connection: nothing reached it.
	select {
	case <-first.Done():
		require.Fail(t, "the frozen publisher saw its connection end through a frozen proxy")
	default:
	}
	proxy.Thaw()
	select {
	case <-first.Done():
	case <-time.After(5 * time.Second):
		require.Fail(t, "after the thaw, the publisher never saw nginx's close")
	}
}
