package fmsim

import (
	"bytes"
	"testing"
)

// FuzzMediaParsers: no tag body, sequence header or frame panics the decoders.
func FuzzMediaParsers(f *testing.F) {
	for _, tag := range loadSample(f)[:8] {
		f.Add(tag.data)
	}
	f.Add([]byte{0x90, 'h', 'v', 'c', '1', 1, 2, 3})
	f.Add([]byte{0x1c, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := parseVideo(b); err == nil {
			_, _ = parseAVCConfig(p.data)
			_, _ = parseHEVCConfig(p.data)
			_ = checkNALUs(p.data, 4)
			_ = checkNALUs(p.data, 1)
		}
		if p, err := parseAudio(b); err == nil {
			_, _ = parseAACConfig(p.data)
		}
		_, _ = parseAVCConfig(b)
		_, _ = parseHEVCConfig(b)
	})
}

// FuzzDiff: arbitrary transcripts never panic the diff.
func FuzzDiff(f *testing.F) {
	f.Add([]byte(`{"dir":"in","type":20,"type_name":"CommandAMF0","command":"connect","amf":["connect",1,{"a":[1,{"b":null}]}]}`),
		[]byte(`{"dir":"end","verdict":{"layer":"L5","cause":"x"}}`))
	f.Add([]byte(`{"dir":"in","type":9,"kind":"avc_seq"}`), []byte(`{"dir":"in","type":4,"event":6}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		_, _ = DiffTranscripts(bytes.NewReader(a), bytes.NewReader(b))
		_, _ = DiffAll(bytes.NewReader(a), bytes.NewReader(b), 5)
	})
}
