package testpeer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// HDSource describes the generated 1080p30 source.
type HDSource struct {
	Path     string
	Seconds  float64
	BitRate  int64 // container bit rate as ffprobe reports it
	Width    int
	Height   int
	FPS      float64
	FileSize int64
}

// Make1080p generates (once, cached in dir) a 10 s 1920x1080 30 fps
// H.264 (libx264 veryfast, 4 Mbit/s) + AAC FLV file. The picture is a test
// pattern with temporal noise so that the encoder spends the whole bit rate.
func Make1080p(ctx context.Context, dir string) (HDSource, error) {
	path := filepath.Join(dir, "src1080p30-4M.flv")
	if _, err := os.Stat(path); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return HDSource{}, err
		}
		tmp := fmt.Sprintf("%s.%d.tmp.flv", path, os.Getpid())
		cmd := exec.CommandContext(ctx, "ffmpeg", "-y", "-hide_banner", "-loglevel", "error",
			"-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
			"-filter_complex", "[0:v]noise=alls=10:allf=t[v]", "-map", "[v]", "-map", "1:a", "-t", "10",
			"-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M", "-maxrate", "4M", "-bufsize", "8M",
			"-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
			"-c:a", "aac", "-b:a", "128k", "-ac", "2", "-f", "flv", tmp)
		if out, err := cmd.CombinedOutput(); err != nil {
			return HDSource{}, fmt.Errorf("generate 1080p source: %v: %s", err, out)
		}
		if err := os.Rename(tmp, path); err != nil {
			return HDSource{}, err
		}
	}
	return probeSource(ctx, path)
}

func probeSource(ctx context.Context, path string) (HDSource, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "format=bit_rate,duration:stream=width,height,r_frame_rate", "-of", "default=nw=1", path).Output()
	if err != nil {
		return HDSource{}, fmt.Errorf("ffprobe %s: %w", path, err)
	}
	h := HDSource{Path: path}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "width":
			h.Width, _ = strconv.Atoi(v)
		case "height":
			h.Height, _ = strconv.Atoi(v)
		case "r_frame_rate":
			n, d, _ := strings.Cut(v, "/")
			a, _ := strconv.ParseFloat(n, 64)
			b, _ := strconv.ParseFloat(d, 64)
			if b > 0 {
				h.FPS = a / b
			}
		case "bit_rate":
			h.BitRate, _ = strconv.ParseInt(v, 10, 64)
		case "duration":
			h.Seconds, _ = strconv.ParseFloat(v, 64)
		}
	}
	if fi, err := os.Stat(path); err == nil {
		h.FileSize = fi.Size()
	}
	return h, nil
}

// HD1080p returns the generated 1080p30 4 Mbit/s source, made once per
// machine in the user's cache directory (test packages share it).
func HD1080p(t testing.TB) HDSource {
	t.Helper()
	Need(t, "ffmpeg", "ffprobe")
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	h, err := Make1080p(context.Background(), filepath.Join(dir, "fmspush-test"))
	if err != nil {
		t.Fatal(err)
	}
	return h
}
