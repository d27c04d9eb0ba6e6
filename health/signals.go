package health

import (
	"sync"
	"sync/atomic"
	"time"
)

// Signals are the runtime facts an active path reports while it publishes.
// A path writes them; the supervisor and the status API read them. All
// methods are safe for concurrent use.
type Signals struct {
	BytesSent    atomic.Int64 // payload bytes written to the target
	VideoFrames  atomic.Int64 // video frames written to the target
	AudioFrames  atomic.Int64 // audio frames written to the target
	AcksReceived atomic.Int64 // Acknowledgement messages from the server
	// LastTimestamp is the last media timestamp sent to the target, in ms.
	LastTimestamp atomic.Int64

	// Delivery evidence: what the server has taken, measured from TCP's own
	// accounting of the socket (and RTMP acks where the server sends them).

	// BytesAcked is how many bytes the server has taken (read) so far.
	BytesAcked atomic.Int64
	// LagMillis is the delivery lag: media written but not yet taken by the
	// server, in milliseconds of media.
	LagMillis atomic.Int64
	// DroppedFrames counts video frames dropped to keep the lag bounded.
	DroppedFrames atomic.Int64
	// ThroughputBps is the rate at which the server takes bytes, bits/s.
	ThroughputBps atomic.Int64
	// NeededBps is the media's own rate (what real time needs), bits/s.
	NeededBps atomic.Int64
	// UnackedFor is how long, in ms, nothing was taken while data waited.
	UnackedFor atomic.Int64

	lastProgress atomic.Int64 // unix nanoseconds of the last progress
	congested    atomic.Bool

	once sync.Once
	live chan struct{}
}

// NewSignals returns empty signals.
func NewSignals() *Signals { return &Signals{live: make(chan struct{})} }

// Progress records that media moved forward now.
func (s *Signals) Progress() { s.lastProgress.Store(time.Now().UnixNano()) }

// LastProgress is when media last moved forward (zero if never).
func (s *Signals) LastProgress() time.Time {
	n := s.lastProgress.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// MarkLive records that the target accepted the publish and the first frame
// went out. Later calls do nothing.
func (s *Signals) MarkLive() {
	s.once.Do(func() {
		s.Progress()
		close(s.live)
	})
}

// Live is closed once MarkLive was called.
func (s *Signals) Live() <-chan struct{} { return s.live }

// IsLive reports whether MarkLive was called.
func (s *Signals) IsLive() bool {
	select {
	case <-s.live:
		return true
	default:
		return false
	}
}

// SetCongested records whether the uplink is slower than the stream (the
// path is dropping frames or its lag is past its bound).
func (s *Signals) SetCongested(c bool) { s.congested.Store(c) }

// Congested reports what SetCongested last recorded.
func (s *Signals) Congested() bool { return s.congested.Load() }

// Frames is the number of video and audio frames sent.
func (s *Signals) Frames() int64 { return s.VideoFrames.Load() + s.AudioFrames.Load() }
