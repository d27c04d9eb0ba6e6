package main

import (
	"fmt"
	"io"

	"github.com/fmspush/fmspush"
	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/supervisor"
)

func sampleBytes() []byte { return fmspush.Sample }

type probeStyle int

func probeFFmpegLike(st config.Stream) probeStyle { return 0 }

func (s *service) prober(st config.Stream, style probeStyle) supervisor.ProbeFunc { return nil }

func probeCommand(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "fmspush probe: not implemented yet")
	return 2
}

func probeNative(st config.Stream) probeStyle { return 1 }
