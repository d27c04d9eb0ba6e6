package redact

import (
	"net/url"
	"slices"
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
//
// A literal is masked only as a whole word (not inside a longer run of
// letters and digits), and never when it is a protocol name or a word of
// ffmpeg's own vocabulary: Bilibili's documented "schedule=rtmp" must not
// turn every "[rtmp @ 0x…]" of ffmpeg's log into "[*** @ 0x…]". Those values
// are still masked wherever they stand in a URL or a key=value pair.
type Secrets struct {
	lits []string // longest first
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
	lits = slices.DeleteFunc(lits, func(l string) bool { return len(l) < MinSecret || commonWord(l) })
	sort.SliceStable(lits, func(i, j int) bool { return len(lits[i]) > len(lits[j]) })
	return &Secrets{lits: slices.Compact(lits)}
}

// commonWords are values too ordinary to be secrets as literals: protocol
// names and words ffmpeg and servers print on their own.
var commonWords = map[string]bool{
	"rtmp": true, "rtmps": true, "rtmpt": true, "rtmpe": true, "rtmpte": true, "rtmpts": true,
	"rtsp": true, "rtsps": true, "http": true, "https": true, "tcp": true, "udp": true, "tls": true,
	"srt": true, "flv": true, "live": true, "true": true, "false": true, "null": true, "none": true,
	"push": true, "pull": true, "play": true, "publish": true, "audio": true, "video": true,
	"stream": true, "default": true, "auto": true, "data": true, "error": true, "info": true,
}

func commonWord(s string) bool { return commonWords[strings.ToLower(s)] }

// Text masks s: URLs and key=value pairs (Text), then every literal secret.
func (s *Secrets) Text(t string) string {
	t = Text(t)
	if s == nil {
		return t
	}
	for _, lit := range s.lits {
		t = maskWord(t, lit)
	}
	return t
}

// maskWord replaces each occurrence of lit in t that is not part of a longer
// run of ASCII letters and digits.
func maskWord(t, lit string) string {
	var b strings.Builder
	done := 0
	for from := 0; ; {
		i := strings.Index(t[from:], lit)
		if i < 0 {
			break
		}
		i += from
		end := i + len(lit)
		if !wordByte(t, i-1) && !wordByte(t, end) {
			b.WriteString(t[done:i])
			b.WriteString(Mask)
			done = end
		}
		from = end
	}
	if done == 0 {
		return t
	}
	b.WriteString(t[done:])
	return b.String()
}

func wordByte(t string, i int) bool {
	if i < 0 || i >= len(t) {
		return false
	}
	c := t[i]
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
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
