package testpeer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// HEVC is a short H.265 stream: its parameter sets and one NAL unit (a
// whole single-slice picture) per frame, without start codes.
type HEVC struct {
	VPS, SPS, PPS []byte
	Pictures      [][]byte
}

// EncodeHEVC encodes frames 320x240 test-pattern pictures with the real
// ffmpeg's libx265 (no B-frames) and splits the Annex B stream.
func EncodeHEVC(t testing.TB, frames int) HEVC {
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
	var nalus h264.AnnexB // the start-code format is the same for H.265
	if err := nalus.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	var h HEVC
	for _, n := range nalus {
		switch typ := (n[0] >> 1) & 0x3f; {
		case typ == 32:
			h.VPS = n
		case typ == 33:
			h.SPS = n
		case typ == 34:
			h.PPS = n
		case typ < 32:
			h.Pictures = append(h.Pictures, n)
		}
	}
	if len(h.Pictures) != frames || h.SPS == nil {
		t.Fatalf("x265 gave %d pictures for %d frames", len(h.Pictures), frames)
	}
	return h
}
