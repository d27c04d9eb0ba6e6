package media

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A video frame's tag body is built in one allocation: it runs for every
// frame of every native stream.
func TestVideoFrameTagOneAllocation(t *testing.T) {
	u := Unit{Codec: CodecH264, Key: true, NALUs: [][]byte{make([]byte, 30), make([]byte, 4000), make([]byte, 90000)}}
	for _, c := range []Codec{CodecH264, CodecH265} {
		u.Codec = c
		n := testing.AllocsPerRun(50, func() { _, _ = VideoFrameTag(u, HEVCEnhanced) })
		require.Equal(t, 1.0, n, "%v: %v allocations per frame", c, n)
		buf := make([]byte, 0, 100000)
		n = testing.AllocsPerRun(50, func() { buf, _ = AppendVideoFrameTag(buf[:0], u, HEVCEnhanced) })
		require.Zero(t, n, "%v: %v allocations per frame into a reused buffer", c, n)
	}
	b, err := VideoFrameTag(u, HEVCLegacy)
	require.NoError(t, err, "legacy H.265 body")
	require.Len(t, b, 5+3*4+30+4000+90000, "legacy H.265 body")
}
