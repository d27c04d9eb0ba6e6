package media

import (
	"os"
	"testing"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/stretchr/testify/require"
)

func sampleBytes(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(testpeer.SamplePath(t))
	require.NoError(t, err)
	return b
}

// A file cut inside a tag plays up to the cut, as ffmpeg plays it.
func TestTruncatedFLVPlaysUpToTheCut(t *testing.T) {
	b := sampleBytes(t)
	whole, err := ParseClip(b)
	require.NoError(t, err)
	c, err := ParseClip(b[:len(b)/2+7])
	require.NoError(t, err, "a truncated file")
	require.True(t, c.Truncated, "Truncated is set")
	require.True(t, len(c.Units) > len(whole.Units)/3 && len(c.Units) < len(whole.Units), "units: %v of %v", len(c.Units), len(whole.Units))
}

// A tag whose frame does not decode (a NALU length past the tag's end) is
// skipped; the rest of the file plays.
func TestDamagedTagIsSkipped(t *testing.T) {
	b := append([]byte(nil), sampleBytes(t)...)
	whole, err := ParseClip(b)
	require.NoError(t, err)
	frames := 0
	for off := 13; off+11 < len(b); {
		size := int(b[off+1])<<16 | int(b[off+2])<<8 | int(b[off+3])
		body := b[off+11 : off+11+size]
		if b[off] == FLVTagVideo && len(body) > 9 && body[1] == 1 {
			if frames++; frames == 10 {
				copy(body[5:9], []byte{0x7f, 0xff, 0xff, 0xff})
				break
			}
		}
		off += 11 + size + 4
	}
	c, err := ParseClip(b)
	require.NoError(t, err, "a file with a damaged tag")
	require.Equal(t, 1, c.Damaged, "damaged tags")
	require.Equal(t, len(whole.Units)-1, len(c.Units), "units")
}
