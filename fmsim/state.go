package fmsim

import (
	"context"
	"time"

	"github.com/fmspush/fmspush/health"
)

// Actions a verdict can take.
const (
	ActionNone   = "none"   // the client ended the session
	ActionRST    = "rst"    // TCP reset (SO_LINGER 0)
	ActionClose  = "close"  // orderly close (FIN)
	ActionReject = "reject" // an _error / onStatus error, then close
	ActionStall  = "stall"  // the server stopped reading
)

// Who ended the TCP connection (Outcome.ClosedBy) and how the client did (Outcome.PeerClose).
const (
	ClosedByClient = "client" // the emulator saw the client's FIN or RST first
	ClosedByServer = "server" // the emulator closed or reset the connection (or never saw the client's end)
	PeerFIN        = "fin"
	PeerRST        = "rst"
)

// Outcome is what ended a session: the layer, the rule that fired (empty when
// the client ended it), a short cause and how long after publish and after the
// first video frame it happened.
type Outcome struct {
	Layer  health.Layer `json:"layer"`
	Rule   string       `json:"rule,omitempty"`
	Cause  string       `json:"cause"`
	Action string       `json:"action"`
	Detail string       `json:"detail,omitempty"`
	At     time.Time    `json:"at"`
	// Offending is when the violation was seen (a media violation is answered RSTDelay later).
	Offending time.Time `json:"offending"`
	// SincePublish and SinceFirstFrame are measured at At; -1 when never reached.
	SincePublish    time.Duration `json:"since_publish_ns"`
	SinceFirstFrame time.Duration `json:"since_first_frame_ns"`
	// ClosedBy is ClosedByClient when the emulator saw the client end the
	// connection (PeerClose says how: PeerFIN or PeerRST), even while it was
	// not reading (a stalled session); otherwise ClosedByServer.
	ClosedBy  string `json:"closed_by"`
	PeerClose string `json:"peer_close,omitempty"`
}

// ByServer reports whether a rule of the server ended the session.
func (v *Outcome) ByServer() bool { return v != nil && v.Rule != "" }

// HandshakeInfo is what C0 C1 announced.
type HandshakeInfo struct {
	Version string `json:"version"` // C1 version field, hex
	Digest  bool   `json:"digest"`  // a valid client digest was found
	Scheme  int    `json:"scheme"`  // rtmp.SchemeA / SchemeB / SchemeNone
}

// SessionInfo is a snapshot of one session as the emulator saw it. Snapshots
// are values: later changes never alter one already returned.
type SessionInfo struct {
	ID         int
	Remote     string
	Transcript string // the transcript file, if TranscriptDir is set
	Accepted   time.Time
	Handshake  HandshakeInfo
	// App, TCURL and FlashVer come from connect.
	App, TCURL, FlashVer string
	// CapsEx is connect's capsEx (Enhanced RTMP v2 capability flags; 0 when
	// absent); ReconnectCapable is its Reconnect bit (0x01): whether the
	// client said it follows a ReconnectRequest.
	CapsEx           uint32
	ReconnectCapable bool
	// ReconnectRequestedAt is when reconnect_request_after last sent the
	// ReconnectRequest (zero if never); ReconnectWithheld is true when the
	// rule fired for a client that had not advertised the capability, so
	// nothing was sent.
	ReconnectRequestedAt time.Time
	ReconnectWithheld    bool
	// ReconnectRequests counts the ReconnectRequests sent.
	ReconnectRequests int
	// StreamName is the bare publish name (without the query). It is a stream
	// key: tests may compare it, nothing should log it.
	StreamName string
	StreamID   uint32 // what createStream returned
	// ConnectedAt, PublishedAt, FirstMediaAt, FirstFrameAt and EndedAt are zero until reached.
	ConnectedAt, PublishedAt, FirstMediaAt, FirstFrameAt, EndedAt time.Time
	// Metadata is the last onMetaData (never mutated after it is stored).
	Metadata map[string]any
	// VideoCodec ("h264", "hevc"), Width, Height and FrameRate come from the sequence header's SPS.
	VideoCodec    string
	Width, Height int
	FrameRate     float64
	// AudioCodec ("aac"), SampleRate and Channels come from the audio sequence header.
	AudioCodec           string
	SampleRate, Channels int
	// VideoFrames, KeyFrames and AudioFrames count the accepted coded frames.
	VideoFrames, KeyFrames, AudioFrames int
	// Timestamps of the accepted frames, and how often they went backwards.
	FirstVideoTS, LastVideoTS, FirstAudioTS, LastAudioTS uint32
	// LastFrameAt is when the last video frame was accepted (zero until one).
	LastFrameAt time.Time
	// FirstFrameKey is true when the first accepted video frame was a keyframe.
	FirstFrameKey                          bool
	VideoTSRegressions, AudioTSRegressions int
	// AcksReceived, PingsSent and PingResponses count upkeep messages.
	AcksReceived, PingsSent, PingResponses int
	BytesIn, BytesOut                      uint64
	// Stalled is true once stall_after_publish stopped the reading (it stays
	// true after the session ended stalled).
	Stalled bool
	// NameHolder is, when single_publisher refused this session's publish,
	// the id of the session that held the stream name.
	NameHolder int
	// Violation is a pending media-level verdict (the RST follows RSTDelay later).
	Violation *Outcome
	// Ended is true once the session is over; Verdict says why.
	Ended   bool
	Verdict *Outcome
}

// Published reports whether the session got NetStream.Publish.Start.
func (s SessionInfo) Published() bool { return !s.PublishedAt.IsZero() }

// StreamInfo gathers the sessions of one stream name.
type StreamInfo struct {
	Name     string
	Sessions []int // session ids, oldest first
	// VideoFrames and AudioFrames add up the accepted frames of all sessions.
	VideoFrames, AudioFrames int
	// Monotonic is false when some session's first video timestamp went below
	// the last one of an earlier session of the same name, or went backwards inside one.
	Monotonic bool
}

// Sessions returns a snapshot of every session so far, oldest first.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SessionInfo(nil), s.sessions...)
}

// Session returns the snapshot of session id.
func (s *Server) Session(id int) (SessionInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessionLocked(id)
}

// sessionLocked finds session id in the kept history; s.mu is held.
func (s *Server) sessionLocked(id int) (SessionInfo, bool) {
	i := id - s.firstID()
	if id < 1 || i < 0 || i >= len(s.sessions) {
		return SessionInfo{}, false
	}
	return s.sessions[i], true
}

// firstID is the id of the oldest session kept; s.mu is held.
func (s *Server) firstID() int { return s.dropped + 1 }

// Changed returns a channel closed at the next change of any session.
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changedCh()
}

func (s *Server) changedCh() chan struct{} {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// WaitFor blocks until pred holds for the sessions snapshot or ctx ends, and
// returns the snapshot pred accepted (or the last one with ctx's error).
func (s *Server) WaitFor(ctx context.Context, pred func([]SessionInfo) bool) ([]SessionInfo, error) {
	for {
		ch := s.Changed()
		snap := s.Sessions()
		if pred(snap) {
			return snap, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return snap, ctx.Err()
		}
	}
}

// WaitSession blocks until some session satisfies pred and returns the first
// such session (by id), or ctx's error.
func (s *Server) WaitSession(ctx context.Context, pred func(SessionInfo) bool) (SessionInfo, error) {
	var found SessionInfo
	_, err := s.WaitFor(ctx, func(ss []SessionInfo) bool {
		for _, x := range ss {
			if pred(x) {
				found = x
				return true
			}
		}
		return false
	})
	return found, err
}

// Streams gathers sessions by stream name.
func (s *Server) Streams() map[string]StreamInfo {
	out := map[string]StreamInfo{}
	var last = map[string]uint32{}
	for _, x := range s.Sessions() {
		if x.StreamName == "" {
			continue
		}
		st, ok := out[x.StreamName]
		if !ok {
			st = StreamInfo{Name: x.StreamName, Monotonic: true}
		}
		st.Sessions = append(st.Sessions, x.ID)
		st.VideoFrames += x.VideoFrames
		st.AudioFrames += x.AudioFrames
		if x.VideoFrames > 0 {
			if prev, seen := last[x.StreamName]; (seen && x.FirstVideoTS < prev) || x.VideoTSRegressions > 0 {
				st.Monotonic = false
			}
			last[x.StreamName] = x.LastVideoTS
		}
		out[x.StreamName] = st
	}
	return out
}

// update stores a session's snapshot and wakes the waiters.
func (s *Server) update(info SessionInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if info.ID < s.firstID() {
		return // fell out of the kept history
	}
	for s.firstID()+len(s.sessions) <= info.ID {
		s.sessions = append(s.sessions, SessionInfo{ID: s.firstID() + len(s.sessions)})
	}
	s.sessions[info.ID-s.firstID()] = info
	s.trimHistory()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// trimHistory forgets the oldest ended sessions beyond MaxSessions, so that
// an emulator running for days (the service's builtin one) stays bounded.
// s.mu is held.
func (s *Server) trimHistory() {
	if s.MaxSessions <= 0 {
		return
	}
	for len(s.sessions) > s.MaxSessions && s.sessions[0].Ended {
		s.sessions[0] = SessionInfo{}
		s.sessions = s.sessions[1:]
		s.dropped++
	}
}
