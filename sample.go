package fmspush

import _ "embed" // for go:embed

// Sample is the embedded sample (media/sample/sample.flv): H.264 640x360 at
// 25 fps with a keyframe every 2 s, AAC-LC stereo 44.1 kHz, about 10 s. It
// lets the service run with no camera. Parse it with package media.
//
//go:embed media/sample/sample.flv
var Sample []byte
