package rtmp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bluenviron/gortmplib/pkg/amf0"
)

// AMF0 value types, re-exported so users of rtmp need not import amf0.
type (
	// AMFObject is an AMF0 object (ordered keys).
	AMFObject = amf0.Object
	// AMFObjectEntry is one key/value of an AMFObject or AMFECMAArray.
	AMFObjectEntry = amf0.ObjectEntry
	// AMFECMAArray is an AMF0 ECMA array (ordered keys), as onMetaData uses.
	AMFECMAArray = amf0.ECMAArray
	// AMFStrictArray is an AMF0 strict array.
	AMFStrictArray = amf0.StrictArray
	// AMFUndefined is the AMF0 undefined value.
	AMFUndefined = amf0.Undefined
)

// Bounds on what DecodeAMF and ParseCommand accept. The payload bounds the
// length of every string; the bounds below bound the number of values, so
// that decoding n bytes allocates O(n) plus a constant: without them one
// 16 MB message of AMF nulls decodes into 16 million values (a 256 MB slice).
// No command or metadata fmspush meets comes near them.
const (
	// MaxAMFDepth bounds how deeply objects and arrays may nest.
	MaxAMFDepth = 32
	// MaxAMFTopValues bounds the values at the top level of one message.
	MaxAMFTopValues = 1024
	// MaxAMFValues bounds the values of one message, nested ones included.
	MaxAMFValues = 4096
	// MaxCommandSize bounds the payload of a command message (type 20).
	MaxCommandSize = 64 << 10
)

// LimitError is a message refused because it exceeds one of the bounds
// above: what a hostile or broken peer sends. Cause is short, stable and
// snake_case: "command_too_large", "amf_too_many_values", "amf_too_deep".
// errors.Is matches it against ErrCommandTooLarge, ErrAMFTooManyValues and
// ErrAMFTooDeep by Cause.
type LimitError struct {
	Cause  string
	Detail string
}

func (e *LimitError) Error() string {
	if e.Detail == "" {
		return "rtmp: " + strings.ReplaceAll(e.Cause, "_", " ")
	}
	return "rtmp: " + e.Detail
}

// Is matches any *LimitError of the same Cause.
func (e *LimitError) Is(target error) bool {
	t, ok := target.(*LimitError)
	return ok && t.Cause == e.Cause
}

// The bounds' errors, for errors.Is.
var (
	ErrCommandTooLarge  error = &LimitError{Cause: "command_too_large"}
	ErrAMFTooManyValues error = &LimitError{Cause: "amf_too_many_values"}
	ErrAMFTooDeep       error = &LimitError{Cause: "amf_too_deep"}
)

// EncodeAMF encodes values as AMF0. Accepted types: float64 (and Go integer
// types, converted), bool, string, nil, AMFObject, AMFECMAArray,
// AMFStrictArray, AMFUndefined.
func EncodeAMF(values ...any) ([]byte, error) {
	data := make(amf0.Data, len(values))
	for i, v := range values {
		data[i] = normalizeAMF(v)
	}
	return data.Marshal()
}

// normalizeAMF converts Go integers to float64 (amf0 encodes only float64 numbers).
func normalizeAMF(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case uint32:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		return float64(x)
	case AMFObject:
		out := make(AMFObject, len(x))
		for i, e := range x {
			out[i] = AMFObjectEntry{Key: e.Key, Value: normalizeAMF(e.Value)}
		}
		return out
	case AMFECMAArray:
		return AMFECMAArray(normalizeAMF(AMFObject(x)).(AMFObject))
	case AMFStrictArray:
		out := make(AMFStrictArray, len(x))
		for i, e := range x {
			out[i] = normalizeAMF(e)
		}
		return out
	}
	return v
}

// DecodeAMF decodes every AMF0 value in b. Before decoding, it walks b
// without building values and refuses (a *LimitError) more than
// MaxAMFTopValues values at the top level, more than MaxAMFValues in all or
// nesting deeper than MaxAMFDepth, so that hostile input can exhaust neither
// the stack nor the heap.
func DecodeAMF(b []byte) ([]any, error) {
	if err := checkAMF(b); err != nil {
		return nil, err
	}
	d, err := amf0.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("rtmp: amf0: %w", err)
	}
	return []any(d), nil
}

// checkAMF walks the AMF0 structure without building values and fails when
// it exceeds a bound. Malformed input is left to the decoder to report: the
// walk is at least as lenient as amf0.Unmarshal, so the decoder fails no
// later than the walk and decodes no more values than were counted.
func checkAMF(b []byte) error {
	w := amfWalk{size: len(b)}
	for top := 1; len(b) > 0; top++ {
		if top > MaxAMFTopValues {
			return &LimitError{Cause: "amf_too_many_values",
				Detail: fmt.Sprintf("amf0 message of %d bytes has more than %d values at the top level", w.size, MaxAMFTopValues)}
		}
		var err error
		if b, err = w.skip(b, 0); err != nil {
			if le, ok := err.(*LimitError); ok {
				return le
			}
			return nil
		}
	}
	return nil
}

var errAMFShort = errors.New("short")

// amfWalk counts the values of one message.
type amfWalk struct {
	values int
	size   int // of the message, for the error text
}

func (w *amfWalk) skip(b []byte, depth int) ([]byte, error) {
	if depth > MaxAMFDepth {
		return nil, &LimitError{Cause: "amf_too_deep", Detail: fmt.Sprintf("amf0 nesting deeper than %d", MaxAMFDepth)}
	}
	if w.values++; w.values > MaxAMFValues {
		return nil, &LimitError{Cause: "amf_too_many_values",
			Detail: fmt.Sprintf("amf0 message of %d bytes has more than %d values", w.size, MaxAMFValues)}
	}
	if len(b) < 1 {
		return nil, errAMFShort
	}
	marker, b := b[0], b[1:]
	switch marker {
	case 0x00:
		return skipN(b, 8)
	case 0x01:
		return skipN(b, 1)
	case 0x02:
		if len(b) < 2 {
			return nil, errAMFShort
		}
		return skipN(b[2:], int(b[0])<<8|int(b[1]))
	case 0x05, 0x06:
		return b, nil
	case 0x08:
		if len(b) < 4 {
			return nil, errAMFShort
		}
		return w.skipProps(b[4:], depth)
	case 0x03:
		return w.skipProps(b, depth)
	case 0x0A:
		if len(b) < 4 {
			return nil, errAMFShort
		}
		n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		b = b[4:]
		for i := 0; i < n; i++ {
			var err error
			if b, err = w.skip(b, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, errAMFShort
}

func skipN(b []byte, n int) ([]byte, error) {
	if len(b) < n {
		return nil, errAMFShort
	}
	return b[n:], nil
}

func (w *amfWalk) skipProps(b []byte, depth int) ([]byte, error) {
	for {
		if len(b) < 2 {
			return nil, errAMFShort
		}
		kl := int(b[0])<<8 | int(b[1])
		b = b[2:]
		if kl == 0 {
			return skipN(b, 1)
		}
		var err error
		if b, err = skipN(b, kl); err != nil {
			return nil, err
		}
		if b, err = w.skip(b, depth+1); err != nil {
			return nil, err
		}
	}
}

// Command is an AMF0 command message body: name, transaction id, then the
// command object (often nil) and further arguments.
type Command struct {
	Name          string
	TransactionID float64
	Args          []any
}

// Encode encodes the command as an AMF0 payload.
func (c *Command) Encode() ([]byte, error) {
	vals := append([]any{c.Name, c.TransactionID}, c.Args...)
	return EncodeAMF(vals...)
}

// Message wraps the command in a TypeCommandAMF0 message on csid and stream id.
func (c *Command) Message(csid, streamID uint32) (*Message, error) {
	p, err := c.Encode()
	if err != nil {
		return nil, err
	}
	return &Message{ChunkStreamID: csid, Type: TypeCommandAMF0, StreamID: streamID, Payload: p}, nil
}

// ParseCommand decodes a TypeCommandAMF0 (or TypeDataAMF0, whose
// transaction id is then 0 and whose values after the name are Args) payload.
// A command larger than MaxCommandSize, or one beyond DecodeAMF's bounds, is
// a *LimitError.
func ParseCommand(m *Message) (*Command, error) {
	if m.Type == TypeCommandAMF0 && len(m.Payload) > MaxCommandSize {
		return nil, &LimitError{Cause: "command_too_large",
			Detail: fmt.Sprintf("command message of %d bytes is larger than the %d-byte limit", len(m.Payload), MaxCommandSize)}
	}
	vals, err := DecodeAMF(m.Payload)
	if err != nil {
		return nil, err
	}
	if len(vals) == 0 {
		return nil, errors.New("rtmp: empty command")
	}
	name, ok := vals[0].(string)
	if !ok {
		return nil, fmt.Errorf("rtmp: command name is %T, not a string", vals[0])
	}
	c := &Command{Name: name}
	rest := vals[1:]
	if m.Type == TypeCommandAMF0 && len(rest) > 0 {
		if tid, ok := rest[0].(float64); ok {
			c.TransactionID = tid
			rest = rest[1:]
		}
	}
	c.Args = rest
	return c, nil
}

// Arg returns the i-th argument or nil.
func (c *Command) Arg(i int) any {
	if i < 0 || i >= len(c.Args) {
		return nil
	}
	return c.Args[i]
}

// ObjectArg returns the first argument from i on that is an object or ECMA array, or nil.
func (c *Command) ObjectArg(i int) AMFObject {
	for ; i < len(c.Args); i++ {
		switch o := c.Args[i].(type) {
		case AMFObject:
			return o
		case AMFECMAArray:
			return AMFObject(o)
		}
	}
	return nil
}

// StatusInfo is the code/level/description of an onStatus or _result/_error info object.
type StatusInfo struct {
	Level, Code, Description string
}

// Status finds the info object in the command's arguments (the last object
// carrying a "code" or "level").
func (c *Command) Status() StatusInfo {
	var s StatusInfo
	for _, a := range c.Args {
		var o AMFObject
		switch x := a.(type) {
		case AMFObject:
			o = x
		case AMFECMAArray:
			o = AMFObject(x)
		default:
			continue
		}
		code, hasCode := o.GetString("code")
		level, hasLevel := o.GetString("level")
		if hasCode || hasLevel {
			s.Code, s.Level = code, level
			s.Description, _ = o.GetString("description")
		}
	}
	return s
}

// String renders "code (level): description", whatever is present.
func (s StatusInfo) String() string {
	out := s.Code
	if s.Level != "" {
		out += " (" + s.Level + ")"
	}
	if s.Description != "" {
		out += ": " + s.Description
	}
	return out
}
