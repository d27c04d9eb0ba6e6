package media

import (
	"bytes"
	"encoding/hex"
	"os"
	"testing"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/stretchr/testify/require"
)

// sampleHead returns the first units of the sample as a small FLV (frames
// cut to 24 bytes, so the fuzzer minimizes quickly), a seed that reaches
// every decoder.
func sampleHead(f *testing.F) ([]byte, *Clip) {
	b, err := os.ReadFile(testpeer.SamplePath(f))
	require.NoError(f, err)
	c, err := ParseClip(b)
	require.NoError(f, err)
	head := *c
	head.Units = c.Units[:12]
	var buf bytes.Buffer
	w, _ := NewFLVWriter(&buf, true, true)
	_ = w.WriteMetadata(MetadataFor(c.Video, c.Audio, HEVCLegacy).ECMAArray())
	_ = w.WriteVideoParams(0, *c.Video)
	_ = w.WriteAudioParams(0, *c.Audio)
	for _, u := range head.Units {
		_ = w.WriteUnit(cut(u, 24))
	}
	return buf.Bytes(), c
}

// FuzzFLV feeds arbitrary bytes to the FLV reader: errors are fine, panics
// and endless loops are not.
func FuzzFLV(f *testing.F) {
	seed, _ := sampleHead(f)
	f.Add(seed)
	f.Add(seed[:200])
	f.Add([]byte("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"))
	f.Add([]byte("FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00\x09\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00" +
		"\x91hvc1\x00\x00\x01\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewFLVReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		for i := 0; i < 10000; i++ {
			p, err := r.ReadPacket()
			if err != nil {
				if _, ok := err.(*UnsupportedError); ok {
					continue
				}
				return
			}
			if p.Unit != nil {
				_ = p.Unit.Size()
			}
		}
	})
}

// FuzzAVCConfig decodes arbitrary AVCDecoderConfigurationRecords (and the
// SPS inside them); a record that decodes must encode again.
func FuzzAVCConfig(f *testing.F) {
	_, c := sampleHead(f)
	rec, _ := AVCConfig(*c.Video)
	f.Add(rec)
	f.Add(rec[:8])
	f.Fuzz(func(t *testing.T, b []byte) {
		p, _, err := ParseAVCConfig(b)
		if err != nil {
			return
		}
		if len(p.SPS) >= 4 {
			_, err := AVCConfig(p)
			require.NoError(t, err, "decoded record does not encode")
		}
	})
}

// FuzzHEVCConfig decodes arbitrary HEVCDecoderConfigurationRecords.
func FuzzHEVCConfig(f *testing.F) {
	f.Add(hevcSeedRecord)
	f.Add(hevcSeedRecord[:30])
	f.Fuzz(func(t *testing.T, b []byte) {
		p, _, err := ParseHEVCConfig(b)
		if err != nil {
			return
		}
		_, _ = HEVCConfig(p)
	})
}

// FuzzAudioConfig decodes arbitrary AudioSpecificConfigs.
func FuzzAudioConfig(f *testing.F) {
	f.Add([]byte{0x12, 0x10})
	f.Add([]byte{0x11, 0x90})
	f.Add([]byte{0x2b, 0x92, 0x08, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseAudioConfig(b)
		if err == nil {
			require.True(t, p.SampleRate > 0 && p.Channels > 0, "accepted %+v", p)
		}
	})
}

// FuzzParamTracker feeds arbitrary NAL units as in-band parameter sets.
func FuzzParamTracker(f *testing.F) {
	_, c := sampleHead(f)
	f.Add(true, c.Video.SPS, c.Video.PPS, []byte{})
	f.Add(false, hevcSeedSPS, []byte{0x44, 0x01, 0xc1}, []byte{0x40, 0x01, 0x0c})
	f.Fuzz(func(t *testing.T, avc bool, a, b, d []byte) {
		codec := CodecH265
		if avc {
			codec = CodecH264
		}
		var tr ParamTracker
		_, _ = tr.Observe(Unit{Codec: codec, NALUs: [][]byte{a, b, d}})
		_, _ = tr.Observe(Unit{Codec: codec, NALUs: [][]byte{d, a}})
	})
}

// A real x265 hvcC record and SPS (320x240), from TestFLVRoundTripH265's encoder.
var (
	hevcSeedRecord = mustHex("0101600000009000000000003cf000fcfdf8f800000f03a00001001840010c01ffff016000000300900000" +
		"03000003003c928090a10001002942010101600000030090000003000003003ca00a080f16592a4932bc05a020000003002000" +
		"00030321a2000100074401c172b46240")
	hevcSeedSPS = mustHex("42010101600000030090000003000003003ca00a080f16592a4932bc05a02000000300200000030321")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// cut shortens a unit's payload and NAL units to at most n bytes each.
func cut(u Unit, n int) Unit {
	u.Payload = u.Payload[:min(n, len(u.Payload))]
	nalus := make([][]byte, len(u.NALUs))
	for i, b := range u.NALUs {
		nalus[i] = b[:min(n, len(b))]
	}
	u.NALUs = nalus
	return u
}
