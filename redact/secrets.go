package redact

import (
	"net/url"
	"sort"
	"strings"
)

// MinSecret is the shortest literal secret replaced wherever it appears in
// text; a shorter one would mask ordinary words.
const MinSecret = 4

// Secrets masks one stream's literal secrets in any text: the stream key
// (the last path segment of an rtmp URL), every query value, passwords, and
// an explicit play path, after Text has masked URLs and key=value pairs.
// Servers echo these outside any URL ("KEY is already publishing").
type Secrets struct {
	r *strings.Replacer
}

// NewSecrets builds the masker for a stream: source and target URLs and
// extra literals (a play path, an app that is also a key).
func NewSecrets(source, target string, extra ...string) *Secrets {
	var lits []string
	lits = append(lits, URLSecrets(source, false)...)
	lits = append(lits, URLSecrets(target, true)...)
	for _, e := range extra {
		if e == "" {
			continue
		}
		lits = append(lits, e)
		if body, query, ok := strings.Cut(e, "?"); ok {
			lits = append(lits, body)
			lits = append(lits, queryValues(query)...)
		}
	}
	sort.Slice(lits, func(i, j int) bool { return len(lits[i]) > len(lits[j]) })
	var pairs []string
	for _, s := range lits {
		if len(s) >= MinSecret {
			pairs = append(pairs, s, Mask)
		}
	}
	return &Secrets{r: strings.NewReplacer(pairs...)}
}

// Text masks s: URLs and key=value pairs (Text), then every literal secret.
func (s *Secrets) Text(t string) string {
	t = Text(t)
	if s == nil {
		return t
	}
	return s.r.Replace(t)
}

// URLSecrets lists the secret parts of a URL: the password, every query
// value and, with name, the stream name (the last path segment).
func URLSecrets(raw string, name bool) []string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil
	}
	var out []string
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
	}
	_, path, _ := strings.Cut(rest, "/")
	body, query, _ := strings.Cut(path, "?")
	out = append(out, queryValues(query)...)
	if name {
		body = strings.TrimRight(body, "/")
		if i := strings.LastIndexByte(body, '/'); i >= 0 && i < len(body)-1 {
			out = append(out, body[i+1:])
		}
	}
	return out
}

func queryValues(query string) []string {
	var out []string
	for _, pair := range strings.FieldsFunc(query, func(r rune) bool { return r == '&' || r == '?' || r == '/' }) {
		if _, v, ok := strings.Cut(pair, "="); ok {
			out = append(out, v)
		} else {
			out = append(out, pair)
		}
	}
	return out
}
