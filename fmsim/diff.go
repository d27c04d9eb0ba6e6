package fmsim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// Divergence is the first difference that matters between two transcripts.
type Divergence struct {
	// Same is true when the transcripts agree on everything compared.
	Same bool
	// Stream is which comparison found it: "in" (client messages), "out"
	// (server messages), "video" or "audio" (each track's first messages up to
	// its first coded frame) or "end" (upkeep answers and the session's verdict).
	Stream string
	// LineA and LineB are 1-based transcript lines (0: the transcript ended first).
	LineA, LineB int
	// WhatA and WhatB name the messages compared ("in CommandAMF0 connect").
	WhatA, WhatB string
	// Field is what differs ("message", "csid", "amf[2].flashVer", "verdict.cause").
	Field string
	// A and B are the two values of Field.
	A, B string
}

// String renders the divergence in two lines.
func (d Divergence) String() string {
	if d.Same {
		return "no divergence: the transcripts agree on everything compared"
	}
	what := d.WhatA
	if d.WhatA != d.WhatB {
		what = fmt.Sprintf("A %s / B %s", orNone(d.WhatA), orNone(d.WhatB))
	}
	return fmt.Sprintf("first divergence (%s, A line %d, B line %d): %s\n  %s: A %q, B %q",
		d.Stream, d.LineA, d.LineB, what, d.Field, d.A, d.B)
}

func orNone(s string) string {
	if s == "" {
		return "(nothing)"
	}
	return s
}

// PrintDivergence writes d for humans.
func PrintDivergence(w io.Writer, d Divergence) error {
	_, err := fmt.Fprintln(w, d.String())
	return err
}

// event is one normalized, comparable transcript item.
type event struct {
	line   int
	what   string
	fields map[string]string
}

// normalized is a transcript split into the streams compared separately, so
// that legitimate interleaving differences (a client pipelining commands,
// audio before video) do not count.
type normalized struct {
	streams map[string][]event
	lines   int
}

var diffStreams = []string{"in", "out", "video", "audio", "end"}

// DiffTranscripts compares two transcripts and returns the first divergence
// that matters, ignoring time offsets, timestamps, sizes, transaction ids,
// ports in URLs, volatile metadata (duration, data rates, encoder, filesize),
// acknowledgements and pings (compared only as "answered or not"), teardown
// commands (compared only as "unpublished or not": which of them arrive races
// with the client's close), and the order in which audio and video interleave.
func DiffTranscripts(a, b io.Reader) (Divergence, error) {
	ea, err := decodeEntries(a)
	if err != nil {
		return Divergence{}, fmt.Errorf("transcript A: %w", err)
	}
	eb, err := decodeEntries(b)
	if err != nil {
		return Divergence{}, fmt.Errorf("transcript B: %w", err)
	}
	return diffNormalized(normalize(ea), normalize(eb)), nil
}

// DiffAll lists up to limit divergences (0: no limit), in the order of
// transcript A's lines: every differing field of every compared message, each
// stream compared until its messages stop lining up.
func DiffAll(a, b io.Reader, limit int) ([]Divergence, error) {
	ea, err := decodeEntries(a)
	if err != nil {
		return nil, fmt.Errorf("transcript A: %w", err)
	}
	eb, err := decodeEntries(b)
	if err != nil {
		return nil, fmt.Errorf("transcript B: %w", err)
	}
	na, nb := normalize(ea), normalize(eb)
	var out []Divergence
	for _, s := range diffStreams {
		out = append(out, allInStream(s, na.streams[s], nb.streams[s])...)
	}
	sort.SliceStable(out, func(i, j int) bool { return lineOrder(out[i].LineA, na.lines) < lineOrder(out[j].LineA, na.lines) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func allInStream(stream string, a, b []event) []Divergence {
	var out []Divergence
	for i := 0; i < len(a) || i < len(b); i++ {
		var ea, eb event
		if i < len(a) {
			ea = a[i]
		}
		if i < len(b) {
			eb = b[i]
		}
		d := Divergence{Stream: stream, LineA: ea.line, LineB: eb.line, WhatA: ea.what, WhatB: eb.what}
		if ea.what != eb.what {
			d.Field, d.A, d.B = "message", orNone(ea.what), orNone(eb.what)
			return append(out, d)
		}
		for _, f := range fieldDiffs(ea.fields, eb.fields) {
			d.Field, d.A, d.B = f[0], f[1], f[2]
			out = append(out, d)
		}
	}
	return out
}

func decodeEntries(r io.Reader) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

func diffNormalized(a, b normalized) Divergence {
	best := Divergence{Same: true}
	bestLine := 0
	for _, s := range diffStreams {
		d, ok := diffStream(a.streams[s], b.streams[s], a.lines, b.lines)
		if !ok {
			continue
		}
		d.Stream = s
		if best.Same || lineOrder(d.LineA, a.lines) < bestLine {
			best, bestLine = d, lineOrder(d.LineA, a.lines)
		}
	}
	return best
}

func lineOrder(l, total int) int {
	if l == 0 {
		return total + 1
	}
	return l
}

func diffStream(a, b []event, linesA, linesB int) (Divergence, bool) {
	for i := 0; i < len(a) || i < len(b); i++ {
		var ea, eb event
		if i < len(a) {
			ea = a[i]
		}
		if i < len(b) {
			eb = b[i]
		}
		d := Divergence{LineA: ea.line, LineB: eb.line, WhatA: ea.what, WhatB: eb.what}
		if ea.what != eb.what {
			d.Field, d.A, d.B = "message", orNone(ea.what), orNone(eb.what)
			return d, true
		}
		if f, va, vb, ok := diffFields(ea.fields, eb.fields); ok {
			d.Field, d.A, d.B = f, va, vb
			return d, true
		}
	}
	return Divergence{}, false
}

func diffFields(a, b map[string]string) (string, string, string, bool) {
	if d := fieldDiffs(a, b); len(d) > 0 {
		return d[0][0], d[0][1], d[0][2], true
	}
	return "", "", "", false
}

// fieldDiffs lists [field, a, b] for every field that differs, sorted by field.
func fieldDiffs(a, b map[string]string) [][3]string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out [][3]string
	for _, k := range keys {
		va, okA := a[k]
		vb, okB := b[k]
		if !okA {
			va = "(absent)"
		}
		if !okB {
			vb = "(absent)"
		}
		if va != vb {
			out = append(out, [3]string{k, va, vb})
		}
	}
	return out
}

// ignoredCommands are exchanged for bandwidth checks and padding only.
var ignoredCommands = map[string]bool{"_checkbw": true, "onBWDone": true, padCommand: true}

// teardownCommands end a publish.
var teardownCommands = map[string]bool{"FCUnpublish": true, "deleteStream": true, "closeStream": true}

// volatileMeta are metadata keys whose values differ between encoders without mattering.
var volatileMeta = map[string]bool{"duration": true, "filesize": true, "encoder": true,
	"videodatarate": true, "audiodatarate": true, "creationdate": true}

func normalize(entries []Entry) normalized {
	n := normalized{streams: map[string][]event{}, lines: len(entries)}
	tracks := map[string]*trackSummary{}
	var acks, pongs, pings int
	teardown := false
	for i, e := range entries {
		line := i + 1
		switch {
		case e.Dir == "end":
			n.add("end", line, "answers", map[string]string{"acks_sent": fmt.Sprint(acks > 0),
				"pings_answered": fmt.Sprint(pings == 0 || pongs > 0), "unpublished": fmt.Sprint(teardown)})
			n.add("end", line, "verdict", verdictFields(e.Verdict))
		case e.Handshake != nil:
			n.add(e.Dir, line, "handshake", map[string]string{"digest": fmt.Sprint(e.Handshake.Digest)})
		case e.Type == typeAck && e.Dir == "in":
			acks++
		case e.Type == typeUserControl && e.Event != nil && (*e.Event == 6 || *e.Event == 7):
			if e.Dir == "in" && *e.Event == 7 {
				pongs++
			} else if e.Dir == "out" && *e.Event == 6 {
				pings++
			}
		case e.Type == typeAudio || e.Type == typeVideo:
			if e.Dir == "in" {
				trackOf(tracks, e).add(&n, line, e)
			}
		case ignoredCommands[e.Command]:
		case e.Dir == "in" && teardownCommands[e.Command]:
			// Which teardown commands arrive races with the client's close: compare only whether one did.
			teardown = true
		default:
			n.add(e.Dir, line, e.Dir+" "+e.TypeName+" "+e.Command, messageFields(e))
		}
	}
	return n
}

func (n *normalized) add(stream string, line int, what string, f map[string]string) {
	n.streams[stream] = append(n.streams[stream], event{line: line, what: strings.TrimSpace(what), fields: f})
}

// trackSummary follows one media track: its first message and its kinds up to
// the first coded frame.
type trackSummary struct {
	name     string
	kinds    int
	lastKind string
	done     bool
}

func trackOf(m map[string]*trackSummary, e Entry) *trackSummary {
	name := "audio"
	if e.Type == typeVideo {
		name = "video"
	}
	t, ok := m[name]
	if !ok {
		t = &trackSummary{name: name}
		m[name] = t
	}
	return t
}

// add records the first message of the track (csid, msid, fmt, kind) and each
// new kind until the first coded frame.
func (t *trackSummary) add(n *normalized, line int, e Entry) {
	if t.done || e.Kind == t.lastKind {
		return
	}
	f := map[string]string{"kind": e.Kind}
	if t.kinds == 0 {
		f["csid"], f["msid"], f["fmt"] = fmt.Sprint(e.CSID), fmt.Sprint(e.MSID), fmt.Sprint(e.Fmt)
	}
	n.add(t.name, line, fmt.Sprintf("in %s #%d", t.name, t.kinds+1), f)
	t.kinds++
	t.lastKind = e.Kind
	t.done = isCodedKind(e.Kind) || t.kinds >= 4
}

func isCodedKind(k string) bool {
	return strings.Contains(k, "_nalu") || strings.Contains(k, "_frame") || k == "aac_raw" || k == "audio_other"
}

func verdictFields(v *Outcome) map[string]string {
	if v == nil {
		return map[string]string{"verdict": "(none)"}
	}
	return map[string]string{"verdict.layer": v.Layer.String(), "verdict.cause": v.Cause,
		"verdict.rule": v.Rule, "verdict.action": v.Action}
}

func messageFields(e Entry) map[string]string {
	f := map[string]string{"csid": fmt.Sprint(e.CSID), "msid": fmt.Sprint(e.MSID)}
	if e.Value != nil {
		f["value"] = fmt.Sprint(*e.Value)
	}
	if e.Event != nil {
		f["event"] = fmt.Sprint(*e.Event)
	}
	for i, v := range e.AMF {
		if i == 1 && (e.Type == typeCommandAMF0 || e.Type == typeCommandAMF3) {
			continue // the transaction id
		}
		flatten(f, fmt.Sprintf("amf[%d]", i), v, e.Command == "@setDataFrame" || e.Command == "onMetaData")
	}
	return f
}

var urlAuthority = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://)[^/]*`)

func flatten(f map[string]string, path string, v any, meta bool) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			f[path] = "{}"
		}
		for k, e := range x {
			if meta && volatileMeta[k] {
				continue // present or not, its value does not matter
			}
			flatten(f, path+"."+k, e, meta)
		}
	case []any:
		for i, e := range x {
			flatten(f, fmt.Sprintf("%s[%d]", path, i), e, meta)
		}
	case string:
		f[path] = urlAuthority.ReplaceAllString(x, "${1}HOST")
	default:
		f[path] = fmt.Sprint(x)
	}
}
