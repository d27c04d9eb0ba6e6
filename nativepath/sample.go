package nativepath

import "github.com/fmspush/fmspush"

func sampleBytes() []byte { return fmspush.Sample }
