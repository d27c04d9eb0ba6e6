package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// scope decodes the attributes of one block, recording problems with the
// block's name and the dotted field name.
type scope struct {
	ps     *problems
	block  string // `stream "demo"`, "service", ...
	prefix string // "failover." inside a nested block
}

// nested returns the scope of a nested block.
func (s scope) nested(name string) scope {
	return scope{ps: s.ps, block: s.block, prefix: s.prefix + name + "."}
}

// fail records a problem with the attribute a.
func (s scope) fail(a *hcl.Attribute, format string, args ...any) {
	s.ps.add(a.Expr.Range(), s.block, s.prefix+a.Name, fmt.Sprintf(format, args...))
}

// failAt records a problem about field at rng (for a missing attribute).
func (s scope) failAt(rng hcl.Range, field, format string, args ...any) {
	s.ps.add(rng, s.block, s.prefix+field, fmt.Sprintf(format, args...))
}

// decode converts a's value into *out, reporting a type error as a problem.
func (s scope) decode(a *hcl.Attribute, out any) bool {
	diags := decodeValue(a.Expr, out)
	if diags.HasErrors() {
		for _, d := range diags {
			s.fail(a, "%s", diagMessage(d))
		}
		return false
	}
	return true
}

// str decodes an optional string attribute.
func (s scope) str(a *hcl.Attribute, def string) string {
	v, _ := s.strOK(a, def)
	return v
}

// strOK decodes an optional string attribute; ok is false after a problem.
func (s scope) strOK(a *hcl.Attribute, def string) (v string, ok bool) {
	if a == nil {
		return def, true
	}
	if !s.decode(a, &v) {
		return def, false
	}
	return v, true
}

// boolean decodes an optional bool attribute.
func (s scope) boolean(a *hcl.Attribute, def bool) bool {
	if a == nil {
		return def
	}
	var v bool
	if !s.decode(a, &v) {
		return def
	}
	return v
}

// integer decodes an optional whole number within [lo, hi].
func (s scope) integer(a *hcl.Attribute, def, lo, hi int64) int64 {
	if a == nil {
		return def
	}
	var v int64
	if !s.decode(a, &v) {
		return def
	}
	if v < lo || v > hi {
		s.fail(a, "%s = %d is out of range %d..%d", a.Name, v, lo, hi)
		return def
	}
	return v
}

// duration decodes an optional duration string ("30s") within [lo, hi]
// (lo = minPositive: greater than zero).
func (s scope) duration(a *hcl.Attribute, def, lo, hi time.Duration) time.Duration {
	if a == nil {
		return def
	}
	var text string
	if !s.decode(a, &text) {
		return def
	}
	d, err := time.ParseDuration(text)
	switch {
	case err != nil:
		s.fail(a, "bad duration %q: want a Go duration such as \"30s\", \"1m30s\", \"500ms\"", text)
		return def
	case d < lo || d > hi:
		s.fail(a, "%s = %q is out of range %s..%s", a.Name, text, shortDuration(lo), shortDuration(hi))
		return def
	}
	return d
}

// shortDuration writes d as Go does, without zero trailing units: "24h",
// "10m", "250ms", "1ns".
func shortDuration(d time.Duration) string {
	t := d.String()
	if strings.HasSuffix(t, "m0s") {
		t = strings.TrimSuffix(t, "0s")
	}
	if strings.HasSuffix(t, "h0m") {
		t = strings.TrimSuffix(t, "0m")
	}
	return t
}

// list decodes an optional list of strings; an empty list gives nil.
func (s scope) list(a *hcl.Attribute) []string {
	if a == nil {
		return nil
	}
	var v []string
	if !s.decode(a, &v) || len(v) == 0 {
		return nil
	}
	return v
}

// strmap decodes an optional map of strings; an empty map gives nil.
func (s scope) strmap(a *hcl.Attribute) map[string]string {
	if a == nil {
		return nil
	}
	var v map[string]string
	if !s.decode(a, &v) || len(v) == 0 {
		return nil
	}
	for k := range v {
		if strings.TrimSpace(k) == "" {
			s.fail(a, "empty key")
			return nil
		}
	}
	return v
}

// enum decodes an optional string attribute that must be one of allowed.
func enum[T ~string](s scope, a *hcl.Attribute, def T, allowed ...T) T {
	if a == nil {
		return def
	}
	v := T(s.str(a, string(def)))
	if slices.Contains(allowed, v) {
		return v
	}
	s.fail(a, "%q is not one of %s", string(v), oneOf(allowed))
	return def
}

func oneOf[T ~string](allowed []T) string {
	q := make([]string, len(allowed))
	for i, a := range allowed {
		q[i] = fmt.Sprintf("%q", string(a))
	}
	return strings.Join(q, ", ")
}
