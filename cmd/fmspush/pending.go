package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush"
	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/supervisor"
)

func sampleBytes() []byte { return fmspush.Sample }

func (s *service) nativePath(st config.Stream, log hclog.Logger) supervisor.PathSpec {
	return supervisor.PathSpec{Path: brokenPath{kind: "native", err: errors.New("the native path is not built yet")}}
}

type probeStyle int

func probeFFmpegLike(st config.Stream) probeStyle { return 0 }

func (s *service) prober(st config.Stream, style probeStyle) supervisor.ProbeFunc { return nil }

func probeCommand(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "fmspush probe: not implemented yet")
	return 2
}
