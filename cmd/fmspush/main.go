// Command fmspush keeps camera feeds live on strict RTMP ingest.
//
//	fmspush run [-config PATH]       run the service (embedded default config when PATH is absent)
//	fmspush probe [flags] URL        triage an RTMP endpoint layer by layer
//	fmspush fmsim [flags]            run the strict FMS emulator
//	fmspush diff A.jsonl B.jsonl     first divergence between two emulator transcripts
//	fmspush version                  print the version
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	autoProcs.enable(os.Args[1:])
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: fmspush <command> [flags]

commands:
  run [-config PATH]      run the service (default: ./config.hcl if present, else the embedded default)
  probe [-publish] [-media] [-json] [-timeout 10s] URL
                          triage an RTMP endpoint layer by layer (never publishes without -publish)
  fmsim [-listen ADDR] [-profile lenient|cloud|companion] [-rule name=value ...] [-transcripts DIR]
                          run the strict FMS emulator
  diff A.jsonl B.jsonl    print the first divergence that matters between two transcripts
  version                 print the version
`

// dispatch runs one subcommand and returns the process exit code.
func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = runCommand(args[1:], stderr)
	case "probe":
		return probeCommand(args[1:], stdout, stderr)
	case "fmsim":
		err = fmsimCommand(args[1:], stdout, stderr)
	case "diff":
		return diffCommand(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "fmspush", version)
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "fmspush: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "fmspush:", err)
		return 1
	}
	return 0
}
