package media

import "sync"

// recentAudio is how many of the latest audio units the cache remembers so
// that audio stamped at or after a keyframe but received just before it
// still starts the new GOP.
const recentAudio = 8

// GOPSnapshot is what a new publish starts from: the parameters and the
// units since the last keyframe, the keyframe first. Units is empty when no
// whole GOP start is cached. Everything in it is read-only.
type GOPSnapshot struct {
	Video *VideoParams
	Audio *AudioParams
	Units []Unit
}

// GOPCache keeps the last GOP (from its keyframe, with the audio that goes
// with it), bounded in payload bytes. A GOP that outgrows the bound is
// dropped and the cache waits for the next keyframe: it never serves a GOP
// without its keyframe. Audio-only streams are not cached. The cache reads
// no parameter set: each unit carries its parameters (Unit.Params, set by
// their owner), and a snapshot's are those of its keyframe. One goroutine
// may Push while any number call Snapshot.
type GOPCache struct {
	maxBytes int

	mu      sync.Mutex
	units   []Unit // never reused in place: snapshots alias it
	bytes   int
	waiting bool
	recent  []Unit
	dropped int
}

// NewGOPCache returns a cache holding at most maxBytes of payload.
func NewGOPCache(maxBytes int) *GOPCache {
	return &GOPCache{maxBytes: maxBytes, waiting: true}
}

// Push adds a unit: a video keyframe starts a new GOP.
func (c *GOPCache) Push(u Unit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !u.Codec.IsVideo():
		c.pushAudio(u)
	case u.Key:
		c.startGOP(u)
	case !c.waiting:
		c.add(u)
	}
}

func (c *GOPCache) pushAudio(u Unit) {
	if len(c.recent) == recentAudio { // recent is private: shift in place
		copy(c.recent, c.recent[1:])
		c.recent = c.recent[:recentAudio-1]
	}
	c.recent = append(c.recent, u)
	if !c.waiting && u.DTS >= c.units[0].DTS {
		c.add(u)
	}
}

// startGOP begins a new GOP at keyframe k, carrying recent audio stamped at
// or after it.
func (c *GOPCache) startGOP(k Unit) {
	c.units, c.bytes, c.waiting = nil, 0, false
	c.add(k)
	for _, a := range c.recent {
		if a.DTS >= k.DTS && !c.waiting {
			c.add(a)
		}
	}
}

// add appends u, dropping the GOP if it outgrows the bound.
func (c *GOPCache) add(u Unit) {
	c.bytes += u.Size()
	if c.bytes > c.maxBytes {
		c.units, c.bytes, c.waiting = nil, 0, true
		c.dropped++
		return
	}
	c.units = append(c.units, u)
}

// Snapshot returns the cached GOP with the parameters of its keyframe. It
// is cheap (no unit is copied) and safe to call while another goroutine
// pushes.
func (c *GOPCache) Snapshot() GOPSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := GOPSnapshot{Units: c.units[:len(c.units):len(c.units)]}
	if len(s.Units) > 0 && s.Units[0].Params != nil {
		s.Video, s.Audio = s.Units[0].Params.Video, s.Units[0].Params.Audio
	}
	return s
}

// Reset forgets the cached GOP (for example when the source restarts with
// new timestamps).
func (c *GOPCache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.units, c.bytes, c.waiting, c.recent = nil, 0, true, nil
}

// Stats returns the cached unit count and bytes and how many GOPs were
// dropped for outgrowing the bound.
func (c *GOPCache) Stats() (units, bytes, dropped int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.units), c.bytes, c.dropped
}
