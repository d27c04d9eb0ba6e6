package rtmp

import (
	"fmt"
	"time"

	"github.com/fmspush/fmspush/health"
)

// Error is every failure of an RTMP session: the layer it happened at, a short
// machine cause, what the server said, and the timings that tell the layers
// apart. Texts in it never contain the stream key or auth values.
type Error struct {
	Layer health.Layer
	// Cause is short, stable and snake_case ("connection_refused", "handshake_closed",
	// "connect_rejected", "publish_bad_name", "reset_after_publish", "reset_after_first_frame").
	Cause string
	// ServerWords is the server's onStatus/_error code and description, if any.
	ServerWords string
	// SinceDial, SincePublish, SinceFirstFrame are measured when the failure was
	// seen; a negative value means the step was never reached.
	SinceDial       time.Duration
	SincePublish    time.Duration
	SinceFirstFrame time.Duration
	// Err is the underlying error (already redacted).
	Err error
}

// Error renders "L2 connect: connect_rejected [server: ...]: cause".
func (e *Error) Error() string {
	s := fmt.Sprintf("%s %s: %s", e.Layer, e.Layer.Title(), e.Cause)
	if e.ServerWords != "" {
		s += " [server: " + e.ServerWords + "]"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// NewError is an *Error at layer with no timings (every step not reached):
// a failure found before or outside a session.
func NewError(layer health.Layer, cause string, err error) *Error {
	return &Error{Layer: layer, Cause: cause, Err: err,
		SinceDial: health.NotReached, SincePublish: health.NotReached, SinceFirstFrame: health.NotReached}
}

// Verdict is the failure in the vocabulary of health, with its layer and
// timings; a reset's time after the step it followed (the first frame for
// L5, the publish for L4) is its TimeToRST. It makes *Error a
// health.Classified, so health.AsVerdict finds it in any chain.
func (e *Error) Verdict() *health.Verdict {
	v := health.NewVerdict(e.Layer, e.Cause, "")
	v.ServerWords = e.ServerWords
	v.SinceDial, v.SincePublish, v.SinceFirstFrame = e.SinceDial, e.SincePublish, e.SinceFirstFrame
	if e.Err != nil {
		v.Detail = e.Err.Error()
	}
	switch {
	case e.Layer == health.LayerMedia && e.SinceFirstFrame >= 0:
		v.TimeToRST = e.SinceFirstFrame
	case e.Layer == health.LayerUpkeep && e.SincePublish >= 0:
		v.TimeToRST = e.SincePublish
	}
	return v
}
