package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/fleet"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/redact"
	"github.com/fmspush/fmspush/supervisor"
)

// fleetNode is the service's membership of a fleet (service { fleet { } }):
// the fleet's loop says which pushes this node runs (applyOwned), the
// service's reloads say which pushes there are (SetWanted).
type fleetNode struct {
	member *fleet.Member
	cancel context.CancelFunc
	done   chan error
}

// startFleet joins the fleet of cfg's fleet block, if any. Until the loop
// applies a first owned set, the node runs nothing.
func (s *service) startFleet(cfg *config.Config) {
	fc := cfg.Service.Fleet
	if fc == nil {
		return
	}
	s.owned = map[string]bool{}
	m := &fleet.Member{Endpoints: fc.Etcd, Prefix: fc.Prefix, Name: fc.Node, LeaseTTL: fc.LeaseTTL,
		Apply: s.applyOwned, Note: s.timelineNote, Logger: s.log.Named("fleet")}
	m.SetWanted(pushIDs(cfg))
	ctx, cancel := context.WithCancel(context.Background()) // outlives the service's ctx: Leave comes after the streams stopped
	s.fleet = &fleetNode{member: m, cancel: cancel, done: make(chan error, 1)}
	s.log.Info("fleet: joining", "node", fc.Node, "etcd", redact.URLs(fc.Etcd), "prefix", fc.Prefix, "lease_ttl", fc.LeaseTTL)
	go func() {
		err := m.Run(ctx)
		if err != nil && !errors.Is(err, fleet.ErrLeft) && !errors.Is(err, context.Canceled) {
			s.log.Error("fleet: stopped; this node runs no stream", "error", err)
		}
		s.fleet.done <- err
	}()
}

// leaveFleet hands the streams over after the service stopped them: the
// lease is revoked, the other nodes start them at once.
func (s *service) leaveFleet() {
	if s.fleet == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.fleet.member.Leave(ctx); err != nil {
		s.log.Warn("fleet: could not release the lease; the streams move when it expires", "error", err)
	}
	s.fleet.cancel()
	<-s.fleet.done
}

// applyOwned is the fleet's Apply: the running pushes become owned's. It
// returns once the others stopped.
func (s *service) applyOwned(owned []string) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if s.stopping {
		return
	}
	s.owned = map[string]bool{}
	for _, id := range owned {
		s.owned[id] = true
	}
	cfg := s.currentConfig()
	if cfg == nil {
		return
	}
	specs := s.specsFor(cfg)
	ch := s.manager.Apply(s.runCtx, specs)
	autoProcs.size(len(specs))
	s.log.Info("fleet: pushes applied", "owned", len(owned), "started", ch.Added, "stopped", ch.Removed)
}

// runs reports whether this node runs the push id now (always without a
// fleet); s.applyMu held.
func (s *service) runs(id string) bool { return s.owned == nil || s.owned[id] }

func pushIDs(cfg *config.Config) []string {
	ids := make([]string, 0, len(cfg.Streams))
	for _, st := range cfg.Streams {
		ids = append(ids, st.ID())
	}
	return ids
}

// withFleet adds the fleet's view to a status snapshot: the owner of each
// push, and the pushes other nodes run (state elsewhere).
func (s *service) withFleet(st *health.ServiceStatus, cfg *config.Config) {
	if s.fleet == nil {
		return
	}
	fs := s.fleet.member.Status()
	st.Fleet = &fs
	owners := map[string]string{}
	for _, o := range fs.Owners {
		owners[o.ID] = o.Node
	}
	here := map[string]bool{}
	for i := range st.Streams {
		here[st.Streams[i].ID()] = true
		st.Streams[i].Owner = fs.Node
	}
	if cfg == nil {
		return
	}
	for _, c := range cfg.Streams {
		if !here[c.ID()] {
			st.Streams = append(st.Streams, elsewhere(c, owners[c.ID()], fs))
		}
	}
	health.SortStreams(st.Streams)
}

// elsewhere is the status of a push this node does not run.
func elsewhere(c config.Stream, owner string, fs health.FleetStatus) health.StreamStatus {
	reason := fmt.Sprintf("run by fleet node %s", owner)
	switch {
	case fs.State == fleet.StateFenced:
		reason = "this node is fenced (" + fs.Reason + "); owner: " + orNone(owner)
	case owner == "":
		reason = "no fleet node owns it now (moving)"
	}
	return health.StreamStatus{Name: c.Name, TargetName: c.TargetName, Enabled: c.Enabled, State: health.StateElsewhere,
		Reason: reason, Source: redact.URL(c.Source), Target: redact.URL(c.TargetSpec), Owner: owner,
		Paths: []health.PathStatus{}}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// timelineNote is the fleet's note about a push this node owns: where its
// timestamps are ("LASTTS_MS@UNIX_MS"), so that the next owner continues
// them. The later of the push's timeline here (running, or stopped last)
// and the fleet's last note; with neither (claimed, not started yet),
// "nothing sent before now", which bounds what this node sends after.
func (s *service) timelineNote(id string) string {
	best := s.resumeOf(id)
	if tl, ok := s.manager.Timeline(id); ok && tl.At.After(best.At) {
		best = tl
	}
	if best.At.IsZero() {
		best.At = time.Now()
	}
	return fmt.Sprintf("%d@%d", best.LastTS.Milliseconds(), best.At.UnixMilli())
}

// resumeOf is the timeline the previous owner of push id left in its note
// (zero without a fleet or a note).
func (s *service) resumeOf(id string) supervisor.Timeline {
	if s.fleet == nil {
		return supervisor.Timeline{}
	}
	var ts, at int64
	if _, err := fmt.Sscanf(s.fleet.member.LastNote(id), "%d@%d", &ts, &at); err != nil || at <= 0 {
		return supervisor.Timeline{}
	}
	return supervisor.Timeline{LastTS: time.Duration(ts) * time.Millisecond, At: time.UnixMilli(at)}
}
