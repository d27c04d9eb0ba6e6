package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/fmspush/fmspush/fmsim"
)

// fmsimCommand runs the strict FMS emulator until interrupted.
func fmsimCommand(args []string, stdout, stderr io.Writer) error {
	return fmsim.RunCLI(args, stdout, stderr)
}

// diffCommand prints the first divergence between two transcripts; it exits
// 0 when they agree, 1 when they diverge, 2 on bad input.
func diffCommand(args []string, stdout, stderr io.Writer) int {
	err := fmsim.RunDiffCLI(args, stdout)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, fmsim.ErrDiverged):
		return 1
	default:
		fmt.Fprintln(stderr, "fmspush diff:", err)
		return 2
	}
}
