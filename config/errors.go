package config

import (
	"bytes"
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/fmspush/fmspush/redact"
)

// Problem is one thing wrong in a configuration file, at a position.
type Problem struct {
	// Filename, Line and Column locate the problem (1-based).
	Filename string
	Line     int
	Column   int
	// Block is the block the problem is in: `stream "demo"`, "service",
	// "emulator", or "" at the top level or when unknown.
	Block string
	// Field is the attribute, dotted within nested blocks
	// ("failover.probe_interval"), or "" when the problem is the block's
	// (an unknown argument's name is in Message).
	Field string
	// Message says what is wrong; it holds no secret.
	Message string
}

// String renders "file:line:column: block: field: message".
func (p Problem) String() string {
	parts := []string{fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)}
	for _, s := range []string{p.Block, p.Field, p.Message} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}

// Error is what Parse and Load return when a file fails to decode or
// validate. Its text is one line listing every problem.
type Error struct {
	// Problems are sorted by position.
	Problems []Problem
}

// Error joins the problems with "; ".
func (e *Error) Error() string {
	s := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}

// problems collects Problems while a file is decoded.
type problems struct {
	list []Problem
}

// add records a problem at rng. The message is passed through redact.Text as
// a last line of defence; callers never put a raw target into it.
func (ps *problems) add(rng hcl.Range, block, field, msg string) {
	ps.list = append(ps.list, Problem{
		Filename: rng.Filename,
		Line:     rng.Start.Line,
		Column:   rng.Start.Column,
		Block:    block,
		Field:    field,
		Message:  redact.Text(msg),
	})
}

// addDiags records hcl diagnostics (syntax errors, gohcl's unknown or
// duplicate fields and type errors).
func (ps *problems) addDiags(diags hcl.Diagnostics, block, field string) {
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		f := field
		if f == "" {
			f = diagField(d)
		}
		ps.add(diagRange(d), block, f, diagMessage(d))
	}
}

// addSyntaxDiags records parse errors, naming the attribute defined on the
// line of each error when there is one.
func (ps *problems) addSyntaxDiags(diags hcl.Diagnostics, src []byte) {
	lines := bytes.Split(src, []byte("\n"))
	for _, d := range diags {
		rng := diagRange(d)
		field := ""
		if l := rng.Start.Line; l >= 1 && l <= len(lines) {
			if m := attrLine.FindSubmatch(lines[l-1]); m != nil {
				field = string(m[1])
			}
		}
		ps.addDiags(hcl.Diagnostics{d}, "", field)
	}
}

var attrLine = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=`)

var diagName = regexp.MustCompile(`(?:argument|attribute) named "([^"]+)"|[Bb]locks of type "([^"]+)"|[Dd]uplicate (\S+) block|argument "([^"]+)" was already set`)

// diagField finds the field an hcl diagnostic is about, if it names one.
func diagField(d *hcl.Diagnostic) string {
	m := diagName.FindStringSubmatch(d.Summary + " " + d.Detail)
	for _, g := range m[min(1, len(m)):] {
		if g != "" {
			return g
		}
	}
	return ""
}

func diagRange(d *hcl.Diagnostic) hcl.Range {
	switch {
	case d.Subject != nil:
		return *d.Subject
	case d.Context != nil:
		return *d.Context
	}
	return hcl.Range{}
}

func diagMessage(d *hcl.Diagnostic) string {
	if d.Detail == "" {
		return d.Summary
	}
	return d.Summary + ": " + d.Detail
}

// err returns nil, or an *Error with the problems sorted by position.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	slices.SortStableFunc(ps.list, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Filename, b.Filename),
			cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return &Error{Problems: ps.list}
}
