package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fmspush/fmspush/fmsim"
)

// fmsimCommand runs the strict FMS emulator until interrupted.
func fmsimCommand(args []string, stdout, stderr io.Writer) error {
	return fmt.Errorf("fmsim: %w", errUnimplemented) // wired to fmsim.RunCLI when it lands
}

// diffCommand prints the first divergence between two transcripts; it exits
// 0 when they agree, 1 when they diverge, 2 on bad input.
func diffCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: fmspush diff A.jsonl B.jsonl")
		return 2
	}
	a, err := os.Open(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "fmspush diff:", err)
		return 2
	}
	defer a.Close()
	b, err := os.Open(args[1])
	if err != nil {
		fmt.Fprintln(stderr, "fmspush diff:", err)
		return 2
	}
	defer b.Close()
	d, err := fmsim.DiffTranscripts(a, b)
	if err != nil {
		fmt.Fprintln(stderr, "fmspush diff:", err)
		return 2
	}
	if err := fmsim.PrintDivergence(stdout, d); err != nil {
		return 2
	}
	if d.Same {
		return 0
	}
	return 1
}

var errUnimplemented = errors.New("not implemented yet")
