package media

import "testing"

// A video frame's tag body is built in one allocation: it runs for every
// frame of every native stream.
func TestVideoFrameTagOneAllocation(t *testing.T) {
	u := Unit{Codec: CodecH264, Key: true, NALUs: [][]byte{make([]byte, 30), make([]byte, 4000), make([]byte, 90000)}}
	for _, c := range []Codec{CodecH264, CodecH265} {
		u.Codec = c
		if n := testing.AllocsPerRun(50, func() { _, _ = VideoFrameTag(u, HEVCEnhanced) }); n != 1 {
			t.Fatalf("%v: %v allocations per frame", c, n)
		}
	}
	b, err := VideoFrameTag(u, HEVCLegacy)
	if err != nil || len(b) != 5+3*4+30+4000+90000 {
		t.Fatalf("legacy H.265 body: %d bytes, %v", len(b), err)
	}
}
