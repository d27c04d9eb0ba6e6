package main

import (
	"fmt"
	"sort"

	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/fmsim"
)

// emulator is the builtin strict FMS emulator started by the emulator block.
type emulator struct {
	srv *fmsim.Server
}

// Addr is the emulator's bound address.
func (e *emulator) Addr() string { return e.srv.Addr() }

func (s *service) startEmulator(cfg *config.Config) error {
	if cfg.Emulator == nil {
		return nil
	}
	srv := &fmsim.Server{
		Listen:  cfg.Emulator.Listen,
		Profile: string(cfg.Emulator.Profile),
		Rules:   ruleSpecs(cfg.Emulator.Rules),
		Logger:  s.log.Named("fmsim"),
		// The builtin emulator may run for days: keep a bounded history.
		MaxSessions: 1000,
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	s.emulator = &emulator{srv: srv}
	return nil
}

func ruleSpecs(rules map[string]string) []string {
	out := make([]string, 0, len(rules))
	for k, v := range rules {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func (s *service) stopEmulator() {
	if s.emulator != nil {
		_ = s.emulator.srv.Close()
		s.emulator = nil
	}
}

// restartEmulator applies a changed emulator block. When only the rules
// changed, the running emulator takes them without dropping sessions.
func (s *service) restartEmulator(cfg *config.Config) error {
	old := s.currentConfig().Emulator
	if s.emulator != nil && cfg.Emulator != nil && old != nil &&
		old.Listen == cfg.Emulator.Listen && old.Profile == cfg.Emulator.Profile {
		rules, err := fmsim.Profile(string(cfg.Emulator.Profile))
		if err != nil {
			return err
		}
		if err := rules.Apply(ruleSpecs(cfg.Emulator.Rules)...); err != nil {
			return fmt.Errorf("emulator rules: %w", err)
		}
		s.emulator.srv.SetRules(rules)
		return nil
	}
	s.stopEmulator()
	return s.startEmulator(cfg)
}
