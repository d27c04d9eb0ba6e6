// Package httpapi serves fmspush's status over HTTP (/healthz, /v1/streams,
// /v1/streams/{name}, /v1/streams/{name}/targets/{target}, /v1/fleet), the operator's
// console (a page at / that polls /v1/streams, and the streams' pictures at
// /v1/streams/{name}/thumbnail.jpg) and the control API, and exports the
// status to Prometheus (/metrics), from the snapshots of a StatusSource.
package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// StatusSource gives a consistent snapshot of the service's status.
type StatusSource interface {
	Snapshot() health.ServiceStatus
}

// API serves fmspush's status over HTTP: /healthz, /v1/streams,
// /v1/streams/{name} and /metrics. Everything it serves comes from Source's
// snapshots, which are already redacted.
type API struct {
	Source StatusSource
	// Control carries out the control API's requests (nil: read-only);
	// Token returns the bearer token they must carry now ("" or a nil
	// Token: read-only).
	Control Controller
	Token   func() string
	// Thumbnails gives the console's pictures (nil: none, the page works
	// without them).
	Thumbnails Thumbnailer
}

// Handler returns the HTTP handler with every route.
func (a *API) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{source: a.Source, now: time.Now})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.HandleFunc("GET /v1/streams", a.streams)
	mux.HandleFunc("GET /v1/streams/{name}", a.stream)
	mux.HandleFunc("GET /v1/streams/{name}/targets/{target}", a.target)
	mux.HandleFunc("GET /v1/fleet", a.fleet)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	a.routeControl(mux)
	a.routeConsole(mux)
	return mux
}

// The status API's server limits: every route answers a small JSON (or
// text) document at once, so a client gets ReadTimeout to send its request
// and the handler WriteTimeout to answer, and an idle keep-alive connection
// is closed after IdleTimeout (without it, every idle client would hold a
// descriptor and a goroutine for good).
//
// A streaming endpoint (server-sent events, a long poll) added later must not
// live under WriteTimeout: give it its own handling (an
// http.ResponseController deadline per write, or a separate server).
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 60 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// NewServer returns the HTTP server for handler with the limits above.
func NewServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// HealthReport is /healthz's body.
type HealthReport struct {
	Healthy   bool            `json:"healthy"`
	Unhealthy []UnhealthyItem `json:"unhealthy,omitempty"`
	// Warnings lists healthy streams that deliver with trouble (congested):
	// they do not make /healthz fail.
	Warnings []UnhealthyItem     `json:"warnings,omitempty"`
	Config   health.ConfigStatus `json:"config"`
}

// UnhealthyItem names a stream that is not live (or, in Warnings, live with
// trouble) and says why.
type UnhealthyItem struct {
	Stream string `json:"stream"`
	// Target names the stream's target when it has several.
	Target string       `json:"target,omitempty"`
	State  health.State `json:"state"`
	Reason string       `json:"reason"`
}

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	snap := a.Source.Snapshot()
	rep := HealthReport{Healthy: true, Config: snap.Config}
	for _, s := range snap.Streams {
		item := UnhealthyItem{Stream: s.Name, Target: s.TargetName, State: s.State, Reason: s.Reason}
		switch {
		case !s.State.Healthy():
			rep.Healthy = false
			rep.Unhealthy = append(rep.Unhealthy, item)
		case s.State.Warning():
			rep.Warnings = append(rep.Warnings, item)
		}
	}
	code := http.StatusOK
	if !rep.Healthy {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rep)
}

func (a *API) streams(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.Source.Snapshot())
}

// StreamTargets is /v1/streams/{name}'s body for a stream with target
// blocks: the status of each of its targets.
type StreamTargets struct {
	Name    string                `json:"name"`
	Targets []health.StreamStatus `json:"targets"`
}

// stream answers a single-target stream's status, or a StreamTargets.
func (a *API) stream(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var targets []health.StreamStatus
	for _, s := range a.Source.Snapshot().Streams {
		switch {
		case s.Name == name && s.TargetName == "":
			writeJSON(w, http.StatusOK, s)
			return
		case s.Name == name:
			targets = append(targets, s)
		}
	}
	if len(targets) > 0 {
		writeJSON(w, http.StatusOK, StreamTargets{Name: name, Targets: targets})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "no stream named " + name})
}

// target answers one target's status.
func (a *API) target(w http.ResponseWriter, r *http.Request) {
	name, target := r.PathValue("name"), r.PathValue("target")
	for _, s := range a.Source.Snapshot().Streams {
		if s.Name == name && s.TargetName == target {
			writeJSON(w, http.StatusOK, s)
			return
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "no target " + target + " of a stream named " + name})
}

// fleet answers the node's view of its fleet (health.FleetStatus): the
// live nodes, the owner of each stream target and since when; 404 without a
// fleet block.
func (a *API) fleet(w http.ResponseWriter, _ *http.Request) {
	f := a.Source.Snapshot().Fleet
	if f == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "this node is in no fleet (no service.fleet block)"})
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
