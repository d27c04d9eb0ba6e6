package media

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/stretchr/testify/require"
)

// The native path's media chain end to end: the sample looped three times,
// a camera clock reset in the middle, rebased, started from a GOP cache
// snapshot, written as FLV. The real ffmpeg reads it back without one
// warning (no non-monotonic DTS, no decode error) and the duration is the input's from
// the cached keyframe on.
func TestPipelineDecodesCleanly(t *testing.T) {
	testpeer.Need(t, "ffmpeg", "ffprobe")
	c := loadSample(t)
	l, err := NewLooper(c, nil)
	require.NoError(t, err)
	g := NewGOPCache(4 << 20)
	params := &Params{Epoch: 1, Video: c.Video, Audio: c.Audio}
	// Warm the cache with 5.5 s so the publish starts mid-stream at a keyframe.
	var u Unit
	for u.DTS < 5500*time.Millisecond {
		u, err = l.Next(context.Background())
		require.NoError(t, err)
		u.Params = params
		g.Push(u)
	}
	snap := g.Snapshot()
	r := NewRebaser(0)
	var out []Unit
	for _, s := range snap.Units {
		out = append(out, r.Rebase(s))
	}
	for u.DTS < 30*time.Second {
		u, err = l.Next(context.Background())
		require.NoError(t, err)
		cam := u
		if cam.DTS > 15*time.Second { // the camera's clock resets to 0 at 15 s
			cam.DTS -= 15 * time.Second
			cam.PTS -= 15 * time.Second
		}
		out = append(out, r.Rebase(cam))
	}
	require.Equal(t, 2, r.Epochs(), "one reset")
	path := filepath.Join(t.TempDir(), "chain.flv")
	var buf bytes.Buffer
	w, err := NewFLVWriter(&buf, true, true)
	require.NoError(t, err)
	require.NoError(t, w.WriteMetadata(MetadataFor(snap.Video, snap.Audio, HEVCLegacy).ECMAArray()))
	require.NoError(t, w.WriteVideoParams(0, *snap.Video))
	require.NoError(t, w.WriteAudioParams(0, *snap.Audio))
	for _, o := range out {
		require.NoError(t, w.WriteUnit(o))
	}
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msg, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "warning", "-i", path, "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, string(msg))
	require.Equal(t, "", strings.TrimSpace(string(msg)), "ffmpeg warnings")
	p := testpeer.FFprobe(t, path)
	require.InDelta(t, 30-4.023, p.DurationSeconds(), 0.2, "duration from the cached keyframe at 4.023 s to 30 s")
	require.Equal(t, 640, p.Video().Width)
}
