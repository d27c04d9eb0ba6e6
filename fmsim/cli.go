package fmsim

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"
)

// ErrDiverged is returned by RunDiffCLI when the transcripts differ.
var ErrDiverged = errors.New("transcripts diverge")

// ruleFlags collects repeated -rule name=value flags.
type ruleFlags []string

// String joins the collected specs (flag.Value).
func (r *ruleFlags) String() string { return strings.Join(*r, " ") }

// Set validates and collects one spec (flag.Value).
func (r *ruleFlags) Set(v string) error {
	var probe Rules
	if err := probe.Apply(v); err != nil {
		return err
	}
	*r = append(*r, v)
	return nil
}

// RunCLI is `fmspush fmsim`: it parses
// [-listen 127.0.0.1:1935] [-profile lenient|cloud|companion] [-rule name=value ...] [-transcripts DIR]
// and serves until SIGINT or SIGTERM.
func RunCLI(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return RunCLIContext(ctx, args, stdout, stderr)
}

// RunCLIContext is RunCLI serving until ctx ends.
func RunCLIContext(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fmsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:1935", "TCP address to listen on")
	profile := fs.String("profile", ProfileLenient, "rule profile: "+strings.Join(Profiles(), ", "))
	transcripts := fs.String("transcripts", "", "directory for one JSON-lines transcript per session")
	listRules := fs.Bool("list-rules", false, "print every rule with its meaning and exit")
	var rules ruleFlags
	fs.Var(&rules, "rule", "rule override name=value (repeatable; see -list-rules)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *listRules {
		return printRules(stdout)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("fmsim: unexpected arguments %q", fs.Args())
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "fmsim", Output: stderr, Level: hclog.Info})
	s := &Server{Listen: *listen, Profile: *profile, Rules: rules, TranscriptDir: *transcripts, Logger: log}
	if err := s.Start(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "fmsim (%s) listening on rtmp://%s/  rules: %s\n", s.profileName(), s.Addr(), s.CurrentRules())
	<-ctx.Done()
	return s.Close()
}

func printRules(w io.Writer) error {
	names := RuleNames()
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, err := fmt.Fprintf(w, "%-24s %s\n", k, names[k]); err != nil {
			return err
		}
	}
	for _, p := range Profiles() {
		r, _ := Profile(p)
		desc := r.String()
		if desc == "" {
			desc = "(no rule: accepts what nginx-rtmp accepts)"
		}
		fmt.Fprintf(w, "profile %-10s %s\n", p, desc)
	}
	return nil
}

// RunDiffCLI is `fmspush diff [-all] A.jsonl B.jsonl`: it prints the first
// divergence that matters (with -all, every divergence found) and returns
// ErrDiverged when there is one.
func RunDiffCLI(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	fs.SetOutput(stdout)
	all := fs.Bool("all", false, "list every divergence, not only the first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: fmspush diff [-all] A.jsonl B.jsonl")
	}
	a, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	b, err := os.ReadFile(fs.Arg(1))
	if err != nil {
		return err
	}
	if *all {
		return printAll(stdout, a, b)
	}
	d, err := DiffTranscripts(bytes.NewReader(a), bytes.NewReader(b))
	if err != nil {
		return err
	}
	if err := PrintDivergence(stdout, d); err != nil {
		return err
	}
	if !d.Same {
		return ErrDiverged
	}
	return nil
}

func printAll(w io.Writer, a, b []byte) error {
	ds, err := DiffAll(bytes.NewReader(a), bytes.NewReader(b), 0)
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		return PrintDivergence(w, Divergence{Same: true})
	}
	for _, d := range ds {
		fmt.Fprintf(w, "%-5s A:%-5d B:%-5d %-40s %s: A %q, B %q\n", d.Stream, d.LineA, d.LineB, d.WhatA, d.Field, d.A, d.B)
	}
	return ErrDiverged
}
