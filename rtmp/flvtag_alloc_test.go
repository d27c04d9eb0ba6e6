package rtmp

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A video frame's tag body is built in one allocation (the bench found
// appending NAL units growing it several times per frame).
func TestVideoBodyOneAllocation(t *testing.T) {
	nalus := [][]byte{make([]byte, 30), make([]byte, 4000), make([]byte, 90000)}
	require.Equal(t, 1.0, testing.AllocsPerRun(50, func() { _ = AVCFrame(true, 40, nalus) }))
	require.Equal(t, 1.0, testing.AllocsPerRun(50, func() { _ = HEVCFrame(false, 0, nalus, H265Enhanced) }))
	b := AVCFrame(true, 40, nalus)
	require.Equal(t, 5+3*4+30+4000+90000, len(b))
	got, err := SplitAVCC(b[5:])
	require.NoError(t, err)
	require.Equal(t, 3, len(got))
}
