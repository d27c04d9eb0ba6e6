package testpeer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// EncodeHEVC encodes frames 320x240 test-pattern pictures with the real
// ffmpeg's libx265 (no B-frames) and returns the Annex B byte stream.
func EncodeHEVC(t testing.TB, frames int) []byte {
	t.Helper()
	Need(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), "t.hevc")
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", "testsrc2=size=320x240:rate=25", "-frames:v", strconv.Itoa(frames), "-c:v", "libx265",
		"-x265-params", "log-level=none:bframes=0", "-f", "hevc", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg with libx265: %v %s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
