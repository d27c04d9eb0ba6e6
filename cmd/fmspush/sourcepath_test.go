package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// A source that only ffmpeg reads (an MPEG-TS file: the native ingest
// takes FLV and MP4 files), native preferred, the service's defaults for
// the native path (source_grace 10 s): the native path fails at the source,
// the stream goes live on the ffmpeg path, which opens the file itself, and
// stays there: no failback to a path that cannot read the source, although
// its probes of the target pass (failback_after is 1 s here).
func TestSourceOnlyFFmpegReadsGoesLiveOnFFmpeg(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	ts := filepath.Join(t.TempDir(), "cam.ts")
	remux := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
		"-i", testpeer.SamplePath(t), "-c", "copy", "-f", "mpegts", ts)
	out, err := remux.CombinedOutput()
	require.NoError(t, err, "%s", out)
	cfg := failoverConfig("lenient", nil, "native", "")
	cfg = strings.Replace(cfg, `source = "builtin:sample"`, fmt.Sprintf("source = %q", "file:"+ts), 1)

	started := time.Now()
	r := startService(t, cfg)
	testpeer.Eventually(t, 30*time.Second, "live on ffmpeg", liveOn(r, "ffmpeg"))
	t.Logf("live on ffmpeg %v after the start", time.Since(started).Round(time.Millisecond))
	s := r.stream()
	native := pathOf(t, s, "native")
	require.NotNil(t, native.LastVerdict)
	require.Equal(t, health.LayerSource, native.LastVerdict.Layer, native.LastVerdict.Error())
	require.Zero(t, native.Failures, "a source verdict counted against native")
	require.Equal(t, "closed", native.Circuit)

	// No failback to native, which would interrupt the ffmpeg session.
	require.Never(t, func() bool { return !liveOn(r, "ffmpeg")() }, 5*time.Second, 100*time.Millisecond,
		"the stream left ffmpeg: %s", r.logs.String())
	s = r.stream()
	require.Zero(t, s.Counters.Failbacks)
	var published []string
	for _, ss := range r.emu().Sessions() {
		if ss.Published() {
			published = append(published, ss.FlashVer)
		}
	}
	require.Len(t, published, 1, "one publish session, ffmpeg's")
	require.NotEqual(t, nativeFlashVer, published[0])
	testpeer.Eventually(t, 10*time.Second, "ffmpeg's frames at the emulator", func() bool {
		return r.emu().Streams()["s"].VideoFrames > 50
	})
	require.Equal(t, health.StateLive, r.stream().State)
}

// pathOf is the status of one path of the stream.
func pathOf(t *testing.T, s health.StreamStatus, kind string) health.PathStatus {
	t.Helper()
	for _, p := range s.Paths {
		if p.Kind == kind {
			return p
		}
	}
	require.Failf(t, "no path", "no %s path in %+v", kind, s.Paths)
	return health.PathStatus{}
}
