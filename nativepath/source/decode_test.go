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
	if err != nil {
		t.Fatal(err)
	}
	v := video[len(video)-1]
	var a *media.AudioParams
	if wantAudio {
		a = &audio[len(audio)-1]
	}
	must(t, fw.WriteMetadata(media.FLVMetadata(&v, a)))
	must(t, fw.WriteVideoParams(0, v))
	if a != nil {
		must(t, fw.WriteAudioParams(0, *a))
	}
	reb := media.NewRebaser(0)
	started := false
	for _, u := range units {
		started = started || (u.Codec.IsVideo() && u.Key)
		if started {
			must(t, fw.WriteUnit(reb.Rebase(u)))
		}
	}
	path := filepath.Join(t.TempDir(), "got.flv")
	must(t, os.WriteFile(path, buf.Bytes(), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "warning", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("ffmpeg decode: %v: %s", err, out)
	}
	p := testpeer.FFprobe(t, path)
	if pv := p.Video(); pv == nil || pv.CodecName != wantVideo || pv.Width != w || pv.Height != h {
		t.Fatalf("ffprobe video: %+v", pv)
	}
	if pa := p.Audio(); wantAudio && (pa == nil || pa.CodecName != "aac") {
		t.Fatalf("ffprobe audio: %+v", pa)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
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
	must(t, os.WriteFile(path, buf.Bytes(), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "warning", "-f", "hevc", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("ffmpeg decode: %v: %s", err, out)
	}
}
