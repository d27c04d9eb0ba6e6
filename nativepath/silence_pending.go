package nativepath

import "github.com/fmspush/fmspush/media"

// silenceParams and silenceFrame are filled by package media's silent AAC
// generator; until then the silent audio policies send no audio.
func silenceParams() media.AudioParams { return media.AudioParams{Codec: media.CodecAAC, Config: []byte{0x12, 0x10}, SampleRate: 44100, Channels: 2} }

func silenceFrame() []byte { return nil }
