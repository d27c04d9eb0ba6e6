package fmsim

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"

	"github.com/fmspush/fmspush/redact"
)

// Entry is one line of a session transcript: a message in either direction,
// the handshake, or the verdict that ended the session.
type Entry struct {
	// TMs is the time since the TCP accept, in milliseconds.
	TMs int64 `json:"t_ms"`
	// Dir is "in" (client to server), "out" (server to client) or "end" (the verdict line).
	Dir  string `json:"dir"`
	CSID uint32 `json:"csid,omitempty"`
	// Fmt is the chunk header type of the message's first chunk (0-3).
	Fmt       uint8  `json:"fmt"`
	MSID      uint32 `json:"msid"`
	Type      uint8  `json:"type"`
	TypeName  string `json:"type_name"`
	Timestamp uint32 `json:"ts"`
	Size      int    `json:"size"`
	// Command is the AMF command or data name ("connect", "@setDataFrame").
	Command string `json:"command,omitempty"`
	// AMF is the decoded AMF0 body, redacted.
	AMF []any `json:"amf,omitempty"`
	// Value is the number a protocol control or user control message carries.
	Value *uint32 `json:"value,omitempty"`
	// Event is the user control event type.
	Event *uint16 `json:"event,omitempty"`
	// Kind is the media packet kind ("avc_seq", "avc_nalu key", "aac_seq", "aac_raw", ...).
	Kind string `json:"kind,omitempty"`
	// Handshake describes C1 (on the handshake line).
	Handshake *HandshakeInfo `json:"handshake,omitempty"`
	// Verdict is set on the final line.
	Verdict *Outcome `json:"verdict,omitempty"`
	// Note is free text (redacted), e.g. a media validation failure.
	Note string `json:"note,omitempty"`
}

// RTMP message types.
const (
	typeSetChunkSize  = 1
	typeAbort         = 2
	typeAck           = 3
	typeUserControl   = 4
	typeWindowAckSize = 5
	typePeerBandwidth = 6
	typeAudio         = 8
	typeVideo         = 9
	typeDataAMF3      = 15
	typeCommandAMF3   = 17
	typeDataAMF0      = 18
	typeCommandAMF0   = 20
	typeAggregate     = 22
)

var typeNames = map[uint8]string{
	typeSetChunkSize: "SetChunkSize", typeAbort: "Abort", typeAck: "Acknowledgement",
	typeUserControl: "UserControl", typeWindowAckSize: "WindowAckSize", typePeerBandwidth: "SetPeerBandwidth",
	typeAudio: "Audio", typeVideo: "Video", typeDataAMF3: "DataAMF3", typeCommandAMF3: "CommandAMF3",
	typeDataAMF0: "DataAMF0", typeCommandAMF0: "CommandAMF0", typeAggregate: "Aggregate",
}

func typeName(t uint8) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type%d", t)
}

// transcript writes one JSON line per entry to a file. A nil *transcript
// discards everything.
type transcript struct {
	f       *os.File
	w       *bufio.Writer
	enc     *json.Encoder
	start   time.Time
	secrets []string // raw strings to mask wherever they appear
	path    string
}

// openTranscript creates DIR/<start>-<id>.jsonl; an empty dir returns nil.
func openTranscript(dir string, id int, start time.Time) (*transcript, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, fmt.Sprintf("%s-%04d.jsonl", start.UTC().Format("20060102T150405"), id))
	f, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(f)
	return &transcript{f: f, w: w, enc: json.NewEncoder(w), start: start, path: p}, nil
}

// addSecret makes a publish name (and its bare key) masked: exactly equal
// strings always, and inside longer strings when it is long enough not to
// mask innocent words.
func (t *transcript) addSecret(name string) {
	if t == nil || name == "" {
		return
	}
	bare, _ := SplitName(name)
	for _, s := range []string{name, bare} {
		if s != "" && !slices.Contains(t.secrets, s) {
			t.secrets = append(t.secrets, s)
		}
	}
	sort.Slice(t.secrets, func(i, j int) bool { return len(t.secrets[i]) > len(t.secrets[j]) })
}

func (t *transcript) write(e Entry) {
	if t == nil {
		return
	}
	e.TMs = time.Since(t.start).Milliseconds()
	if e.AMF != nil {
		e.AMF = redactAMF(e.AMF, t.redactString).([]any)
	}
	e.Note = t.redactString(e.Note)
	_ = t.enc.Encode(e)
}

func (t *transcript) redactString(s string) string {
	if len(s) > maxTranscriptString {
		s = fmt.Sprintf("%s...(%d bytes)", s[:32], len(s))
	}
	for _, sec := range t.secrets {
		if s == sec {
			return redactName(sec)
		}
	}
	for _, sec := range t.secrets {
		if len(sec) >= minSecretLen {
			s = strings.ReplaceAll(s, sec, redactName(sec))
		}
	}
	if strings.Contains(s, "authmod=") {
		// A connect's app or tcUrl under publish auth: user, challenges
		// and response masked as query values.
		s = redact.URL(s)
	}
	return redact.Text(s)
}

// maxTranscriptString is the longest string a transcript line shows whole (padding is longer).
const maxTranscriptString = 1024

// minSecretLen is the shortest secret masked inside longer strings.
const minSecretLen = 8

func (t *transcript) close() {
	if t == nil {
		return
	}
	_ = t.w.Flush()
	_ = t.f.Close()
}

// redactName masks a publish name: the key becomes *** and every query value ***.
func redactName(name string) string {
	const prefix = "rtmp://h/a/"
	if name == "" {
		return name
	}
	return strings.TrimPrefix(redact.URL(prefix+name), prefix)
}

// jsonAMF converts decoded AMF0 values into JSON-friendly ones: objects and
// ECMA arrays become maps, undefined becomes the string "undefined", and
// non-finite numbers become strings.
func jsonAMF(v any) any {
	switch x := v.(type) {
	case amf0.Object:
		return entriesMap(x)
	case amf0.ECMAArray:
		return entriesMap(amf0.Object(x))
	case amf0.StrictArray:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonAMF(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonAMF(e)
		}
		return out
	case amf0.Data:
		return jsonAMF([]any(x))
	case amf0.Undefined:
		return "undefined"
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
		return x
	}
	return v
}

func entriesMap(o amf0.Object) map[string]any {
	m := make(map[string]any, len(o))
	for _, e := range o {
		m[e.Key] = jsonAMF(e.Value)
	}
	return m
}

// redactAMF applies f to every string in a JSON-friendly AMF value.
func redactAMF(v any, f func(string) string) any {
	switch x := v.(type) {
	case string:
		return f(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactAMF(e, f)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = redactAMF(e, f)
		}
		return out
	}
	return v
}

// ReadTranscript reads a transcript's entries.
func ReadTranscript(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decodeEntries(f)
}
