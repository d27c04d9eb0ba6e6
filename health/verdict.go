// Package health is fmspush's failure and status vocabulary: the
// classification of failures (Verdict), the runtime signals a path reports
// while it publishes (Signals), and the status types the supervisor publishes
// (ServiceStatus, StreamStatus, ProbeSummary). The active prober is package
// prober; the HTTP API and the Prometheus collector are package httpapi.
package health

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Verdict is what a failure of a path, a probe or a source means: the layer it
// happened at, a short machine cause and the timings that tell the layers apart.
// Every text in it is already redacted. A *Verdict is an error.
type Verdict struct {
	Layer  Layer  `json:"layer"`
	Cause  string `json:"cause"`  // short, stable, snake_case: "connection_refused", "reset_after_first_frame"
	Detail string `json:"detail"` // one redacted sentence for humans
	// ServerWords is what the server said (onStatus code and description, _error), if anything.
	ServerWords string `json:"server_words,omitempty"`
	// Path is "ffmpeg", "native" or "probe".
	Path string `json:"path,omitempty"`
	// SinceDial, SincePublish and SinceFirstFrame are measured at the failure;
	// a negative value means the step was never reached.
	SinceDial       time.Duration `json:"since_dial_ns"`
	SincePublish    time.Duration `json:"since_publish_ns"`
	SinceFirstFrame time.Duration `json:"since_first_frame_ns"`
	// TimeToRST is how long after publish (L4) or the first frame (L5) the server reset; zero otherwise.
	TimeToRST time.Duration `json:"time_to_rst_ns,omitempty"`
	At        time.Time     `json:"at"`
}

// Error renders the verdict as one line: "L5 media: reset_after_first_frame (RST 112ms after the first frame): detail".
func (v *Verdict) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", v.Layer, v.Layer.Title(), v.Cause)
	if v.TimeToRST > 0 {
		fmt.Fprintf(&b, " (RST %dms after %s)", v.TimeToRST.Milliseconds(), rstAnchor(v.Layer))
	}
	if v.ServerWords != "" {
		fmt.Fprintf(&b, " [server: %s]", v.ServerWords)
	}
	if v.Detail != "" {
		b.WriteString(": ")
		b.WriteString(v.Detail)
	}
	return b.String()
}

func rstAnchor(l Layer) string {
	if l == LayerMedia {
		return "the first frame"
	}
	return "publish"
}

// Classified is an error that knows its verdict: an *rtmp.Error, with its
// layer and timings.
type Classified interface {
	error
	Verdict() *Verdict
}

// AsVerdict finds a *Verdict in err's chain, or a Classified error's
// verdict, or classifies err as LayerUnknown. It returns nil for a nil err.
func AsVerdict(err error) *Verdict {
	if err == nil {
		return nil
	}
	var v *Verdict
	if errors.As(err, &v) {
		return v
	}
	var c Classified
	if errors.As(err, &c) {
		return c.Verdict()
	}
	return NewVerdict(LayerUnknown, "unclassified", err.Error())
}

// Causes that several packages produce and the supervisor acts on.
const (
	// CauseStalled (L4): the server took nothing for the stall timeout
	// while data waited to be delivered.
	CauseStalled = "stalled"
	// CauseNameLocked (L3): the server refused the publish because the name
	// is still held by a previous session ("already publishing", BadName
	// right after a switch); it frees when the server drops the stale one.
	CauseNameLocked = "name_locked"
)

// NotReached is the value of SinceDial, SincePublish and SinceFirstFrame
// for a step that was never reached.
const NotReached time.Duration = -1

// NewVerdict builds a verdict at now with no timings (every step not reached).
func NewVerdict(layer Layer, cause, detail string) *Verdict {
	return &Verdict{Layer: layer, Cause: cause, Detail: detail, At: time.Now(),
		SinceDial: NotReached, SincePublish: NotReached, SinceFirstFrame: NotReached}
}
