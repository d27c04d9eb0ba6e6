package media

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var hevcOnce struct {
	sync.Once
	clip *Clip
	err  error
}

// hevcClip encodes one second of H.265 (320x240, 25 fps, no B-frames,
// keyframe every 25 frames) with the real ffmpeg/x265 and turns the Annex B
// output into a clip.
func hevcClip(t *testing.T) *Clip {
	t.Helper()
	testpeer.Need(t, "ffmpeg")
	hevcOnce.Do(func() { hevcOnce.clip, hevcOnce.err = encodeHEVC(t.TempDir()) })
	require.NoError(t, hevcOnce.err)
	return hevcOnce.clip
}

func encodeHEVC(dir string) (*Clip, error) {
	nalus, err := encodeAnnexB(dir, "hevc", "-t", "1", "-c:v", "libx265",
		"-x265-params", "bframes=0:keyint=25:log-level=error")
	if err != nil {
		return nil, err
	}
	return hevcUnits(nalus)
}

// encodeAnnexB encodes testsrc2 at 320x240 with the real ffmpeg into a raw
// Annex B stream of format and returns its NAL units.
func encodeAnnexB(dir, format string, args ...string) ([][]byte, error) {
	out := filepath.Join(dir, "x."+format)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append([]string{"-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"}, args...)
	cmd := exec.CommandContext(ctx, "ffmpeg", append(full, "-f", format, "-y", out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ffmpeg: %v: %s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(raw); err != nil {
		return nil, err
	}
	return nalus, nil
}

// hevcUnits groups H.265 NAL units into access units at each first slice.
func hevcUnits(nalus [][]byte) (*Clip, error) {
	p := VideoParams{Codec: CodecH265}
	c := &Clip{}
	var au [][]byte
	vcl := false
	flush := func() {
		if len(au) == 0 {
			return
		}
		d := time.Duration(len(c.Units)) * 40 * time.Millisecond
		c.Units = append(c.Units, Unit{Codec: CodecH265, DTS: d, PTS: d, Key: IsKeyframe(CodecH265, au), NALUs: au})
		au, vcl = nil, false
	}
	for _, n := range nalus {
		typ := h265.NALUType(n[0] >> 1 & 0x3f)
		switch {
		case typ == h265.NALUType_VPS_NUT && p.VPS == nil:
			p.VPS = n
		case typ == h265.NALUType_SPS_NUT && p.SPS == nil:
			p.SPS = n
		case typ == h265.NALUType_PPS_NUT && p.PPS == nil:
			p.PPS = n
		}
		firstSlice := typ < 32 && len(n) > 2 && n[2]&0x80 != 0
		startsAU := (typ >= 32 && typ <= 35) || typ == h265.NALUType_PREFIX_SEI_NUT
		if vcl && (firstSlice || startsAU) {
			flush()
		}
		vcl = vcl || typ < 32
		au = append(au, n)
	}
	flush()
	if err := p.parseSPS(); err != nil {
		return nil, err
	}
	c.Video = &p
	return c, nil
}

func testpeerNeedFFmpeg(t *testing.T) { testpeer.Need(t, "ffmpeg") }
