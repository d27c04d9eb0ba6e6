package health

import (
	"encoding/json"
	"time"
)

// The status types below marshal each duration twice: the nanosecond field
// they always had (backoff_ns, duration_ns, ...: programs read them), and a
// readable string next to it without the _ns ("backoff": "8s"), for people
// who read the JSON with curl. Decoding ignores the readable fields.

// ReadableDuration renders d as Go writes durations ("8s", "1.5s", "2m5s",
// "112.345ms"), rounded to what people read: whole seconds past a minute,
// milliseconds past a second, microseconds below. A negative d (a step
// never reached) renders as "".
func ReadableDuration(d time.Duration) string {
	switch {
	case d < 0:
		return ""
	case d >= time.Minute:
		d = d.Round(time.Second)
	case d >= time.Second:
		d = d.Round(time.Millisecond)
	case d >= time.Millisecond:
		d = d.Round(time.Microsecond)
	}
	return d.String()
}

// MarshalJSON adds "backoff" to the path's fields.
func (p PathStatus) MarshalJSON() ([]byte, error) {
	type plain PathStatus
	return json.Marshal(struct {
		plain
		Backoff string `json:"backoff"`
	}{plain(p), ReadableDuration(p.Backoff)})
}

// MarshalJSON adds "duration" to the probe's fields.
func (p ProbeSummary) MarshalJSON() ([]byte, error) {
	type plain ProbeSummary
	return json.Marshal(struct {
		plain
		Duration string `json:"duration"`
	}{plain(p), ReadableDuration(p.Duration)})
}

// MarshalJSON adds "duration" to the layer's fields.
func (l LayerSummary) MarshalJSON() ([]byte, error) {
	type plain LayerSummary
	return json.Marshal(struct {
		plain
		Duration string `json:"duration"`
	}{plain(l), ReadableDuration(l.Duration)})
}

// MarshalJSON adds "since_dial", "since_publish", "since_first_frame" (each
// left out for a step never reached) and "time_to_rst" (left out when zero)
// to the verdict's fields.
func (v Verdict) MarshalJSON() ([]byte, error) {
	type plain Verdict
	rst := ""
	if v.TimeToRST > 0 {
		rst = ReadableDuration(v.TimeToRST)
	}
	return json.Marshal(struct {
		plain
		SinceDial       string `json:"since_dial,omitempty"`
		SincePublish    string `json:"since_publish,omitempty"`
		SinceFirstFrame string `json:"since_first_frame,omitempty"`
		TimeToRST       string `json:"time_to_rst,omitempty"`
	}{plain(v), ReadableDuration(v.SinceDial), ReadableDuration(v.SincePublish), ReadableDuration(v.SinceFirstFrame), rst})
}

// MarshalJSON adds "lag" and "unacked_for" to the delivery's fields.
func (d Delivery) MarshalJSON() ([]byte, error) {
	type plain Delivery
	return json.Marshal(struct {
		plain
		Lag        string `json:"lag"`
		UnackedFor string `json:"unacked_for"`
	}{plain(d), ReadableDuration(time.Duration(d.LagMillis) * time.Millisecond),
		ReadableDuration(time.Duration(d.UnackedMillis) * time.Millisecond)})
}
