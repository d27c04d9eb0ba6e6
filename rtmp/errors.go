package rtmp

import (
	"fmt"
	"time"
)

// Error is every failure of an RTMP session: the layer it happened at, a short
// machine cause, what the server said, and the timings that tell the layers
// apart. Texts in it never contain the stream key or auth values.
type Error struct {
	Layer Layer
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
