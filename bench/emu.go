package bench

import (
	"time"

	"github.com/fmspush/fmspush/fmsim"
)

// Emulator is the strict FMS emulator the bench runs in its own process on
// a loopback port, so that the service's CPU and RSS are its own.
type Emulator struct {
	*fmsim.Server
}

// StartEmulator starts fmsim on 127.0.0.1:0 with profile (companion when
// empty) and, when transcripts is set, a transcript per session there.
func StartEmulator(profile, transcripts string) (*Emulator, error) {
	if profile == "" {
		profile = fmsim.ProfileCompanion
	}
	s := &fmsim.Server{Listen: "127.0.0.1:0", Profile: profile, TranscriptDir: transcripts}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return &Emulator{s}, nil
}

// Target is the publish URL of stream name.
func (e *Emulator) Target(name string) string { return e.URL("live", name) }

// Live returns, per stream name, the newest session that has accepted a
// frame and has not ended.
func (e *Emulator) Live() map[string]fmsim.SessionInfo {
	out := map[string]fmsim.SessionInfo{}
	for _, s := range e.Sessions() {
		if s.StreamName == "" || s.Ended || s.FirstFrameAt.IsZero() {
			continue
		}
		out[s.StreamName] = s
	}
	return out
}

// AllLive reports whether every name has a live session from the path
// (native when native, ffmpeg otherwise).
func (e *Emulator) AllLive(names []string, native bool) bool {
	live := e.Live()
	for _, n := range names {
		s, ok := live[n]
		if !ok || IsNative(s.FlashVer) != native {
			return false
		}
	}
	return true
}

// FirstFrameAfter returns the first frame time of the earliest session of
// stream name from the given path whose first frame is after t (zero if none).
func (e *Emulator) FirstFrameAfter(name string, native bool, t time.Time) (fmsim.SessionInfo, bool) {
	for _, s := range e.Sessions() {
		if s.StreamName == name && IsNative(s.FlashVer) == native && s.FirstFrameAt.After(t) {
			return s, true
		}
	}
	return fmsim.SessionInfo{}, false
}

// VideoFrames adds up the accepted video frames of every session of the
// given streams.
func (e *Emulator) VideoFrames(names map[string]bool) int {
	n := 0
	for _, s := range e.Sessions() {
		if names[s.StreamName] {
			n += s.VideoFrames
		}
	}
	return n
}
