package health

import "time"

// State is where a stream's run loop is.
type State string

// The states of a stream.
const (
	StateStarting         State = "starting"           // first attempt under way
	StateLive             State = "live"               // the active path publishes and the target accepts frames
	StateFailingOver      State = "failing_over"       // the active path failed; switching to the other
	StateDegraded         State = "degraded"           // both paths failed recently; retrying with backoff
	StateWaitingForSource State = "waiting_for_source" // the source is away; no path is blamed
	StateStopped          State = "stopped"            // the stream was stopped (shutdown or reload)
	StateIdle             State = "idle"               // disabled in the config: deliberately not publishing
)

// Healthy reports whether the state counts as healthy for /healthz: live, or
// deliberately idle.
func (s State) Healthy() bool { return s == StateLive || s == StateIdle }

// ServiceStatus is the whole service's status document.
type ServiceStatus struct {
	Version string         `json:"version"`
	Started time.Time      `json:"started"`
	Config  ConfigStatus   `json:"config"`
	Streams []StreamStatus `json:"streams"`
}

// ConfigStatus says which config is running and whether the last reload failed.
type ConfigStatus struct {
	Path      string    `json:"path"`
	LoadedAt  time.Time `json:"loaded_at"`
	LastError string    `json:"last_error,omitempty"` // file:line:column and field of the last failed reload
	ErrorAt   time.Time `json:"last_error_at,omitzero"`
}

// StreamStatus is one stream's status; every URL in it is redacted.
type StreamStatus struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	State   State  `json:"state"`
	// Reason explains the current state in one sentence.
	Reason      string    `json:"reason"`
	Source      string    `json:"source"`
	Target      string    `json:"target"`
	Preferred   string    `json:"preferred"`
	ActivePath  string    `json:"active_path,omitempty"`
	ActiveSince time.Time `json:"active_since,omitzero"`
	// StartedAt is when this stream's run loop started: unchanged across
	// reloads that do not touch the stream.
	StartedAt    time.Time    `json:"started_at"`
	SourceStatus string       `json:"source_status,omitempty"`
	Paths        []PathStatus `json:"paths"`
	Counters     Counters     `json:"counters"`
	Failovers    []Failover   `json:"failovers,omitempty"`
	LastVerdicts []Verdict    `json:"last_verdicts,omitempty"`
	LastError    string       `json:"last_error,omitempty"`
}

// Counters are a stream's running totals.
type Counters struct {
	Failovers  int64 `json:"failovers"`
	Failbacks  int64 `json:"failbacks"`
	Reconnects int64 `json:"reconnects"`
	Attempts   int64 `json:"attempts"`
	BytesSent  int64 `json:"bytes_sent"`
	FramesSent int64 `json:"frames_sent"`
}

// Failover counts switches from one path to another caused by a layer.
type Failover struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Layer Layer  `json:"layer"`
	Count int64  `json:"count"`
}

// PathStatus is one path's readiness and history within a stream.
type PathStatus struct {
	Kind        string        `json:"kind"`
	Active      bool          `json:"active"`
	Ready       bool          `json:"ready"`
	CheckError  string        `json:"check_error,omitempty"`
	Circuit     string        `json:"circuit"` // closed, open, half_open
	Backoff     time.Duration `json:"backoff_ns"`
	NextAttempt time.Time     `json:"next_attempt,omitzero"`
	LastProbe   *ProbeSummary `json:"last_probe,omitempty"`
	LastVerdict *Verdict      `json:"last_verdict,omitempty"`
	Failures    int64         `json:"failures"`
}

// ProbeSummary is the outcome of one layered probe of a target.
type ProbeSummary struct {
	At time.Time `json:"at"`
	// Skipped is true when the probe did not run (the per-host connection
	// limit was reached); it carries no news about the target.
	Skipped  bool           `json:"skipped,omitempty"`
	OK       bool           `json:"ok"`
	Depth    Layer          `json:"depth"`
	Duration time.Duration  `json:"duration_ns"`
	Layers   []LayerSummary `json:"layers"`
	Verdict  *Verdict       `json:"verdict,omitempty"`
}

// LayerSummary is one layer's line of a probe.
type LayerSummary struct {
	Layer    Layer         `json:"layer"`
	OK       bool          `json:"ok"`
	Duration time.Duration `json:"duration_ns"`
	Note     string        `json:"note,omitempty"`
}
