package media

import (
	"os"
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
)

// BenchmarkParseSampleFLV measures parsing the 10 s sample (600 KB).
func BenchmarkParseSampleFLV(b *testing.B) {
	raw, err := os.ReadFile(testpeer.SamplePath(b))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseClip(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRebase measures rebasing one unit.
func BenchmarkRebase(b *testing.B) {
	r := NewRebaser(0)
	u := Unit{Codec: CodecH264}
	b.ReportAllocs()
	for b.Loop() {
		u.DTS += 40 * time.Millisecond
		u.PTS = u.DTS
		r.Rebase(u)
	}
}

// BenchmarkVideoFrameTag measures building the FLV body of a keyframe.
func BenchmarkVideoFrameTag(b *testing.B) {
	c := loadSample(b)
	k := firstVideo(c.Units)
	b.SetBytes(int64(k.Size()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VideoFrameTag(k, HEVCEnhanced); err != nil {
			b.Fatal(err)
		}
	}
}
