package source

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
	"github.com/fmspush/fmspush/media"
	"github.com/stretchr/testify/require"
)

// decodesCleanly writes what the sink received (from its first keyframe,
// rebased) as FLV and has the real ffmpeg decode it: no warning at all, and
// ffprobe finds the codecs and picture size.
func decodesCleanly(t *testing.T, r *recorder, wantVideo string, w, h int, wantAudio bool) {
	t.Helper()
	testpeer.Need(t, "ffmpeg", "ffprobe")
	video, audio, units, _ := r.snapshot()
	var buf bytes.Buffer
	fw, err := media.NewFLVWriter(&buf, true, wantAudio)
	require.NoError(t, err)
	v := video[len(video)-1]
	var a *media.AudioParams
	if wantAudio {
		a = &audio[len(audio)-1]
	}
	require.NoError(t, fw.WriteMetadata(media.MetadataFor(&v, a, media.HEVCLegacy).ECMAArray()))
	require.NoError(t, fw.WriteVideoParams(0, v))
	if a != nil {
		require.NoError(t, fw.WriteAudioParams(0, *a))
	}
	reb := media.NewRebaser(0)
	started := false
	for _, u := range units {
		started = started || (u.Codec.IsVideo() && u.Key)
		if started {
			require.NoError(t, fw.WriteUnit(reb.Rebase(u)))
		}
	}
	path := filepath.Join(t.TempDir(), "got.flv")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "warning", "-i", path, "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "ffmpeg decode: %s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "ffmpeg decode")
	p := testpeer.FFprobe(t, path)
	pv := p.Video()
	require.NotNil(t, pv, "ffprobe video")
	require.True(t, pv.CodecName == wantVideo && pv.Width == w && pv.Height == h, "ffprobe video: %+v", pv)
	if wantAudio {
		pa := p.Audio()
		require.NotNil(t, pa, "ffprobe audio")
		require.Equal(t, "aac", pa.CodecName, "ffprobe audio: %+v", pa)
	}
}

// annexBDecodes writes video units as an Annex B elementary stream (ffmpeg
// 5.1 reads no H.265 in FLV) and has the real ffmpeg decode it cleanly.
func annexBDecodes(t *testing.T, units []media.Unit) {
	t.Helper()
	var buf bytes.Buffer
	for _, u := range units {
		for _, n := range u.NALUs {
			buf.Write([]byte{0, 0, 0, 1})
			buf.Write(n)
		}
	}
	path := filepath.Join(t.TempDir(), "got.hevc")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "warning", "-f", "hevc", "-i", path, "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, "ffmpeg decode: %s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "ffmpeg decode")
}
