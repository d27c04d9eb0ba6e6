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
	StatePaused           State = "paused"             // paused by an operator's request: deliberately not publishing
	// StateCongested: the active path is live but the uplink takes less than
	// the stream needs; the path drops frames to keep the delay bounded. It
	// delivers, so it is healthy, with a warning.
	StateCongested State = "congested"
	// StateNameLocked: the server refused the publish because a previous
	// session of this stream still holds the name; the stream retries on a
	// short schedule until the server frees it (not healthy).
	StateNameLocked State = "name_locked"
)

// States lists every state, in the order above: the values a state-set
// metric has a series for.
func States() []State {
	return []State{StateStarting, StateLive, StateFailingOver, StateDegraded, StateWaitingForSource,
		StateStopped, StateIdle, StateCongested, StateNameLocked}
}

// Healthy reports whether the state counts as healthy for /healthz: live
// (congested included: it delivers with a bounded delay), or deliberately idle.
func (s State) Healthy() bool {
	return s == StateLive || s == StateCongested || s == StateIdle || s == StatePaused || s == StateElsewhere
}

// Warning reports whether a healthy state deserves a warning in /healthz.
func (s State) Warning() bool { return s == StateCongested }

// ServiceStatus is the whole service's status document.
type ServiceStatus struct {
	Version string         `json:"version"`
	Started time.Time      `json:"started"`
	Config  ConfigStatus   `json:"config"`
	Streams []StreamStatus `json:"streams"`
	// Fleet is this node's view of its fleet (nil without a fleet block).
	Fleet *FleetStatus `json:"fleet,omitempty"`
}

// ConfigStatus says which config is running and whether the last reload failed.
type ConfigStatus struct {
	Path      string    `json:"path"`
	LoadedAt  time.Time `json:"loaded_at"`
	LastError string    `json:"last_error,omitempty"` // file:line:column and field of the last failed reload
	ErrorAt   time.Time `json:"last_error_at,omitzero"`
	// Reloads counts the configs applied after the first one; ReloadFailures
	// the reloads refused (the running config kept).
	Reloads        int64 `json:"reloads"`
	ReloadFailures int64 `json:"reload_failures"`
}

// LastReloadOK reports whether the last reload (or the first load) was
// applied: no error since the config running now was loaded.
func (c ConfigStatus) LastReloadOK() bool {
	return c.LastError == "" || c.ErrorAt.Before(c.LoadedAt)
}

// StreamStatus is one stream's status; every URL in it is redacted.
type StreamStatus struct {
	Name string `json:"name"`
	// TargetName names the target of a stream with several target blocks
	// (empty for the single-target form).
	TargetName string `json:"target_name,omitempty"`
	Enabled    bool   `json:"enabled"`
	State      State  `json:"state"`
	// Reason explains the current state in one sentence.
	Reason    string `json:"reason"`
	Source    string `json:"source"`
	Target    string `json:"target"`
	Preferred string `json:"preferred"`
	// Ingest is "primary" or "backup" for a target with a cold backup
	// ingest: where the paths publish now.
	Ingest      string    `json:"ingest,omitempty"`
	ActivePath  string    `json:"active_path,omitempty"`
	ActiveSince time.Time `json:"active_since,omitzero"`
	// LiveSince is when the active path's session went live (zero while
	// no session is live).
	LiveSince time.Time `json:"live_since,omitzero"`
	// StartedAt is when this stream's run loop started: unchanged across
	// reloads that do not touch the stream.
	StartedAt    time.Time    `json:"started_at"`
	SourceStatus string       `json:"source_status,omitempty"`
	Paths        []PathStatus `json:"paths"`
	// Delivery is what the server takes of the active session (nil when no
	// session is running): live values at the time of the snapshot.
	Delivery  *Delivery  `json:"delivery,omitempty"`
	Counters  Counters   `json:"counters"`
	Failovers []Failover `json:"failovers,omitempty"`
	// VerdictCounts counts the verdicts of the paths' sessions by path,
	// layer and cause, since the stream's run loop started.
	VerdictCounts []VerdictCount `json:"verdict_counts,omitempty"`
	LastVerdicts  []Verdict      `json:"last_verdicts,omitempty"`
	LastError     string         `json:"last_error,omitempty"`
	// Owner is, in a fleet, the node that owns this stream target: this
	// node for the ones it runs; another for those in StateElsewhere ("":
	// no fleet, or no node owns it now).
	Owner string `json:"owner,omitempty"`
}

// ID names the stream's push: Name, or "Name/TargetName" for a target
// of a stream with several.
func (s StreamStatus) ID() string { return PushID(s.Name, s.TargetName) }

// PushID names a stream's push to one target: stream, or
// "stream/target" for a target of a stream with target blocks (names hold
// no '/'). Status, the supervisor's Manager and the control API key pushes
// by it, as config.Stream.ID does.
func PushID(stream, target string) string {
	if target == "" {
		return stream
	}
	return stream + "/" + target
}

// Counters are a stream's running totals.
type Counters struct {
	Failovers  int64 `json:"failovers"`
	Failbacks  int64 `json:"failbacks"`
	Reconnects int64 `json:"reconnects"`
	Attempts   int64 `json:"attempts"`
	BytesSent  int64 `json:"bytes_sent"`
	FramesSent int64 `json:"frames_sent"`
	// BytesAcked is the bytes the server has taken, over every session.
	BytesAcked int64 `json:"bytes_acked"`
	// DroppedFrames is the video frames dropped to keep the delay bounded,
	// over every session.
	DroppedFrames int64 `json:"dropped_frames"`
	// NameLockRetries counts the attempts made again because the server still
	// held the stream name for a previous session.
	NameLockRetries int64 `json:"name_lock_retries"`
}

// Delivery is the delivery evidence of the session publishing now, read from
// its Signals.
type Delivery struct {
	LagMillis     int64 `json:"lag_ms"`         // media written but not yet taken by the server, ms of media
	BytesAcked    int64 `json:"bytes_acked"`    // bytes the server has taken in this session
	DroppedFrames int64 `json:"dropped_frames"` // video frames dropped in this session to bound the lag
	ThroughputBps int64 `json:"throughput_bps"` // rate at which the server takes bytes, bits/s
	NeededBps     int64 `json:"needed_bps"`     // the media's own rate, bits/s
	UnackedMillis int64 `json:"unacked_for_ms"` // how long nothing was taken while data waited, ms
	Congested     bool  `json:"congested"`      // the uplink is slower than the stream
}

// DeliveryOf reads sig's delivery evidence.
func DeliveryOf(sig *Signals) *Delivery {
	return &Delivery{
		LagMillis: sig.LagMillis.Load(), BytesAcked: sig.BytesAcked.Load(), DroppedFrames: sig.DroppedFrames.Load(),
		ThroughputBps: sig.ThroughputBps.Load(), NeededBps: sig.NeededBps.Load(), UnackedMillis: sig.UnackedFor.Load(),
		Congested: sig.Congested(),
	}
}

// Failover counts switches from one path to another caused by a layer.
type Failover struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Layer Layer  `json:"layer"`
	Count int64  `json:"count"`
}

// VerdictCount counts a stream's verdicts of one path, layer and cause.
// Cause is one of a fixed vocabulary of snake_case words; a cause outside it
// (or past the cap on distinct kinds) is counted as CauseOther.
type VerdictCount struct {
	Path  string `json:"path"`
	Layer Layer  `json:"layer"`
	Cause string `json:"cause"`
	Count int64  `json:"count"`
}

// CauseOther is the cause a VerdictCount gives a verdict whose own cause
// cannot be a label value: not a short snake_case word, or one kind too many.
const CauseOther = "other"

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
	// DroppedFrames is the video frames this path dropped to bound the
	// delay, over every session of the path.
	DroppedFrames int64 `json:"dropped_frames"`
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

// StateElsewhere: in a fleet, another node owns this stream target and
// publishes it (StreamStatus.Owner names it); this node deliberately does not.
const StateElsewhere State = "elsewhere"

// FleetStatus is a fleet node's view of its fleet (GET /v1/fleet): the live
// nodes, who owns each stream target and since when, and this node's
// standing (its lease).
type FleetStatus struct {
	// Node is this node's name.
	Node string `json:"node"`
	// State is this node's standing: joining (no lease yet), member (it
	// holds a live lease), fenced (its lease could not be renewed for half
	// its TTL: it publishes nothing until it can) or left (it released its
	// streams on a planned stop).
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// LeaseTTL is the lease's time to live; LastKeepAlive when a renewal of
	// it last succeeded (sent then, answered).
	LeaseTTL      time.Duration `json:"lease_ttl_ns"`
	LastKeepAlive time.Time     `json:"last_keepalive,omitzero"`
	// Nodes are the live nodes (registered with a live lease), by name.
	Nodes []FleetNode `json:"nodes"`
	// Owners lists every owned stream target by ID.
	Owners []FleetOwner `json:"owners"`
	// Unowned lists the configured stream targets no node owns now (being
	// moved).
	Unowned []string `json:"unowned,omitempty"`
}

// FleetNode is one live node of a fleet.
type FleetNode struct {
	Name  string    `json:"name"`
	Since time.Time `json:"since"`
}

// FleetOwner says which node owns a stream target (a push ID) and since when.
type FleetOwner struct {
	ID    string    `json:"id"`
	Node  string    `json:"node"`
	Since time.Time `json:"since"`
}
