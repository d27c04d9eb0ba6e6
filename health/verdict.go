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

	"github.com/fmspush/fmspush/rtmp"
)

// Layer is rtmp.Layer: one scale for every verdict.
type Layer = rtmp.Layer

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
	if l == rtmp.LayerMedia {
		return "the first frame"
	}
	return "publish"
}

// AsVerdict finds a *Verdict in err's chain, or converts an *rtmp.Error, or
// classifies err as LayerUnknown. It returns nil for a nil err.
func AsVerdict(err error) *Verdict {
	if err == nil {
		return nil
	}
	var v *Verdict
	if errors.As(err, &v) {
		return v
	}
	var re *rtmp.Error
	if errors.As(err, &re) {
		return FromRTMP(re)
	}
	return &Verdict{Layer: rtmp.LayerUnknown, Cause: "unclassified", Detail: err.Error(), At: time.Now(),
		SinceDial: -1, SincePublish: -1, SinceFirstFrame: -1}
}

// FromRTMP turns an rtmp session error into a Verdict, keeping its layer and timings.
func FromRTMP(e *rtmp.Error) *Verdict {
	v := &Verdict{
		Layer:           e.Layer,
		Cause:           e.Cause,
		ServerWords:     e.ServerWords,
		SinceDial:       e.SinceDial,
		SincePublish:    e.SincePublish,
		SinceFirstFrame: e.SinceFirstFrame,
		At:              time.Now(),
	}
	if e.Err != nil {
		v.Detail = e.Err.Error()
	}
	switch {
	case e.Layer == rtmp.LayerMedia && e.SinceFirstFrame >= 0:
		v.TimeToRST = e.SinceFirstFrame
	case e.Layer == rtmp.LayerUpkeep && e.SincePublish >= 0:
		v.TimeToRST = e.SincePublish
	}
	return v
}

// The layers, re-exported so that users of health need not import rtmp.
const (
	LayerUnknown   = rtmp.LayerUnknown
	LayerNetwork   = rtmp.LayerNetwork
	LayerHandshake = rtmp.LayerHandshake
	LayerConnect   = rtmp.LayerConnect
	LayerPublish   = rtmp.LayerPublish
	LayerUpkeep    = rtmp.LayerUpkeep
	LayerMedia     = rtmp.LayerMedia
	LayerSource    = rtmp.LayerSource
	LayerProcess   = rtmp.LayerProcess
)

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
