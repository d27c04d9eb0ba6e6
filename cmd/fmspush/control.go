package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/httpapi"
	"github.com/fmspush/fmspush/supervisor"
)

// reloadOutcome is what POST /v1/reload answers.
type reloadOutcome struct {
	Reloaded bool     `json:"reloaded"`
	Added    []string `json:"added,omitempty"`
	Changed  []string `json:"changed,omitempty"`
	Removed  []string `json:"removed,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// apiToken is the control API's bearer token now ("": read-only).
func (s *service) apiToken() string {
	if cfg := s.currentConfig(); cfg != nil {
		return cfg.Service.APIToken
	}
	return ""
}

// controller is the service as the control API's httpapi.Controller.
type controller struct{ s *service }

// Command implements httpapi.Controller: action on a stream's target.
func (c controller) Command(ctx context.Context, stream, target, action string) (any, error) {
	cmd := supervisor.Command(action)
	if !slices.Contains(supervisor.Commands, cmd) {
		return nil, fmt.Errorf("%w: no action %q (want switch, pause, resume or probe)", httpapi.ErrNotFound, action)
	}
	id := health.PushID(stream, target)
	r, err := c.s.manager.Do(ctx, id, cmd)
	switch {
	case errors.Is(err, supervisor.ErrNoStream):
		return nil, fmt.Errorf("%w: %s", httpapi.ErrNotFound, c.s.notRunningHere(id))
	case errors.Is(err, supervisor.ErrNotApplicable), errors.Is(err, supervisor.ErrNotRunning):
		return nil, fmt.Errorf("%w: %v", httpapi.ErrConflict, err)
	case err != nil:
		return nil, err
	}
	return r, nil
}

// notRunningHere says why no stream id runs here: in a fleet, the node
// that runs it (or that none does while it moves), so that the caller can
// send the command there.
func (s *service) notRunningHere(id string) string {
	if s.fleet != nil {
		st := s.fleet.member.Status()
		for _, o := range st.Owners {
			if o.ID == id && o.Node != st.Node {
				return fmt.Sprintf("stream %q runs on fleet node %q, not on this node (%q): send the command there", id, o.Node, st.Node)
			}
		}
		if slices.Contains(st.Unowned, id) {
			return fmt.Sprintf("no fleet node runs stream %q right now (it is moving between nodes): try again in a moment", id)
		}
	}
	return fmt.Sprintf("no running stream %q", id)
}

// Reload implements httpapi.Controller: the config file read and applied
// now, by the watch loop (as SIGHUP).
func (c controller) Reload(ctx context.Context) (any, error) {
	s := c.s
	if s.ConfigPath == "" {
		return nil, fmt.Errorf("%w: the service runs the embedded default config, with no file to reload", httpapi.ErrConflict)
	}
	reply := make(chan reloadOutcome, 1)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	select {
	case s.reloads <- reply:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case out := <-reply:
		if out.Error != "" {
			return out, fmt.Errorf("%w: %s", httpapi.ErrConflict, out.Error)
		}
		return out, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// reloadNow reads the config file and applies it, as a SIGHUP would.
func (s *service) reloadNow(ctx context.Context) reloadOutcome {
	s.log.Info("control API: reloading config")
	ch, err := s.onUpdate(ctx, s.loadUpdate(), true)
	if err != nil {
		return reloadOutcome{Error: err.Error()}
	}
	return reloadOutcome{Reloaded: true, Added: ch.Added, Changed: ch.Changed, Removed: ch.Removed}
}
