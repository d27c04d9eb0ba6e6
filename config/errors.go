package config

import (
	"bytes"
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

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

// String renders "file:line:column: block: field: message" ("file: ..."
// for a problem of the whole file, at line 0).
func (p Problem) String() string {
	pos := p.Filename
	if p.Line > 0 {
		pos = fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
	}
	parts := []string{pos}
	for _, s := range []string{p.Block, p.Field, p.Message} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}

// Bounds on what a failed file reports, so that its error stays readable
// and small whatever the file holds (the status API, the logs).
const (
	// MaxProblems is how many problems an Error keeps: the first by position.
	MaxProblems = 10
	// MaxErrorText bounds the length of Error's text, in bytes.
	MaxErrorText = 4 << 10
	// maxMessage bounds one problem's message, in bytes.
	maxMessage = 512
)

// Error is what Parse and Load return when a file fails to decode or
// validate. Its text is one line listing the problems: the first
// MaxProblems, then "and N more"; at most MaxErrorText bytes.
type Error struct {
	// Problems are sorted by position: the first MaxProblems of the file.
	Problems []Problem
	// More counts the problems found after those.
	More int
}

// Error joins the problems with "; ", adds "and N more" when some were
// left out, and cuts the text at MaxErrorText bytes.
func (e *Error) Error() string {
	s := make([]string, 0, len(e.Problems)+1)
	for _, p := range e.Problems {
		s = append(s, p.String())
	}
	if e.More > 0 {
		s = append(s, fmt.Sprintf("and %d more", e.More))
	}
	return truncate(strings.Join(s, "; "), MaxErrorText)
}

// truncate cuts s to at most n bytes on a rune boundary, ending in "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// problems collects Problems while a file is decoded: the first MaxProblems
// by position, sorted, and the count of the others. What a file can make it
// hold is bounded, however many problems it has.
type problems struct {
	list []Problem
	more int
}

// add records a problem at rng. The message is passed through redact.Text as
// a last line of defence; callers never put a raw target into it.
func (ps *problems) add(rng hcl.Range, block, field, msg string) {
	p := Problem{
		Filename: rng.Filename,
		Line:     rng.Start.Line,
		Column:   rng.Start.Column,
		Block:    truncate(block, maxMessage),
		Field:    truncate(field, maxMessage),
	}
	// After all kept ones (ties keep the order of adding): counted only.
	i := len(ps.list)
	for i > 0 && comparePos(p, ps.list[i-1]) < 0 {
		i--
	}
	if i >= MaxProblems {
		ps.more++
		return
	}
	p.Message = truncate(redact.Text(msg), maxMessage) // redacted whole, then cut
	ps.list = slices.Insert(ps.list, i, p)
	if len(ps.list) > MaxProblems {
		ps.list = ps.list[:MaxProblems]
		ps.more++
	}
}

func comparePos(a, b Problem) int {
	return cmp.Or(cmp.Compare(a.Filename, b.Filename),
		cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
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
	return &Error{Problems: slices.Clone(ps.list), More: ps.more}
}
