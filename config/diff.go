package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"slices"
)

// forCompare returns s with the emulator-resolved URLs cleared: they follow
// the emulator's bound address, which Diff tracks as EmulatorChanged.
func (s Stream) forCompare() Stream {
	if isEmulatorURL(s.TargetSpec) {
		s.Target = ""
	}
	if isEmulatorURL(s.Failover.ProbeTargetSpec) {
		s.Failover.ProbeTarget = ""
	}
	if isEmulatorURL(s.BackupSpec) {
		s.Backup = ""
	}
	return s
}

// Equal reports whether s and other have the same settings, so that a reload
// leaves the stream running. An emulator:// target compares as written.
func (s Stream) Equal(other Stream) bool {
	return reflect.DeepEqual(s.forCompare(), other.forCompare())
}

// Fingerprint is a stable hash of the stream's settings (equal streams have
// equal fingerprints). It is derived from secrets: compare it, never show it.
func (s Stream) Fingerprint() string {
	b, err := json.Marshal(s.forCompare())
	if err != nil {
		panic("config: stream does not marshal: " + err.Error()) // plain data always marshals
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Changes is what a reload changes, by stream ID (Stream.ID: a target of a
// stream with target blocks is added, changed or removed on its own; each
// list sorted).
type Changes struct {
	// Added streams are new: start them.
	Added []string
	// Changed streams have new settings: restart them. A stream that targets
	// the emulator is changed too when the emulator is added, removed, moved
	// (listen) or its profile changes, since the emulator restarts; a change
	// of emulator rules alone leaves its streams alone.
	Changed []string
	// Removed streams are gone: stop them.
	Removed []string
	// ServiceChanged is true when the service block changed (listen address,
	// logging or ffmpeg path).
	ServiceChanged bool
	// EmulatorChanged is true when the emulator block was added, removed or
	// changed: restart the builtin emulator.
	EmulatorChanged bool
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return len(c.Added)+len(c.Changed)+len(c.Removed) == 0 && !c.ServiceChanged && !c.EmulatorChanged
}

// Diff compares two configurations; a nil one counts as empty (no streams,
// default service, no emulator). Unchanged streams appear in no list.
func Diff(old, new *Config) Changes {
	old, new = orEmpty(old), orEmpty(new)
	c := Changes{
		ServiceChanged:  !old.Service.Equal(new.Service),
		EmulatorChanged: !reflect.DeepEqual(old.Emulator, new.Emulator),
	}
	moved := emulatorRestarts(old.Emulator, new.Emulator)
	for _, n := range new.Streams {
		o, ok := old.Stream(n.ID())
		switch {
		case !ok:
			c.Added = append(c.Added, n.ID())
		case !o.Equal(n) || (moved && (o.UsesEmulator() || n.UsesEmulator())):
			c.Changed = append(c.Changed, n.ID())
		}
	}
	for _, o := range old.Streams {
		if _, ok := new.Stream(o.ID()); !ok {
			c.Removed = append(c.Removed, o.ID())
		}
	}
	slices.Sort(c.Added)
	slices.Sort(c.Changed)
	slices.Sort(c.Removed)
	return c
}

// emulatorRestarts reports whether a change from old to new restarts the
// emulator (so its sessions drop) rather than only switching its rules.
func emulatorRestarts(old, new *Emulator) bool {
	if old == nil || new == nil {
		return old != new
	}
	return old.Listen != new.Listen || old.Profile != new.Profile
}

func orEmpty(c *Config) *Config {
	if c == nil {
		return &Config{Service: defaultService()}
	}
	return c
}

// ResolveEmulator points every emulator:// target and probe target at addr,
// the emulator's bound address (needed when emulator.listen uses port 0).
// It does not change how streams compare in Diff.
func (c *Config) ResolveEmulator(addr string) {
	for i := range c.Streams {
		s := &c.Streams[i]
		if isEmulatorURL(s.TargetSpec) {
			s.Target = "rtmp://" + addr + "/" + s.TargetSpec[len(emulatorScheme):]
		}
		if isEmulatorURL(s.Failover.ProbeTargetSpec) {
			s.Failover.ProbeTarget = "rtmp://" + addr + "/" + s.Failover.ProbeTargetSpec[len(emulatorScheme):]
		}
		if isEmulatorURL(s.BackupSpec) {
			s.Backup = "rtmp://" + addr + "/" + s.BackupSpec[len(emulatorScheme):]
		}
	}
}
