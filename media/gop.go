package media

import "sync"

// recentAudio is how many of the latest audio units the cache remembers so
// that audio stamped at or after a keyframe but received just before it
// still starts the new GOP.
const recentAudio = 8

// GOPSnapshot is what a new publish starts from: the parameter sets and the
// units since the last keyframe, the keyframe first. Units is empty when no
// whole GOP start is cached. Everything in it is read-only.
type GOPSnapshot struct {
	Video *VideoParams
	Audio *AudioParams
	Units []Unit
}

// GOPCache keeps the last GOP (from its keyframe, with the audio that goes
// with it) and the current parameter sets, bounded in payload bytes. A GOP
// that outgrows the bound is dropped and the cache waits for the next
// keyframe: it never serves a GOP without its keyframe. Audio-only streams
// are not cached. One goroutine may Push while any number call Snapshot.
type GOPCache struct {
	maxBytes int

	mu      sync.Mutex
	tracker ParamTracker
	video   *VideoParams
	audio   *AudioParams
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

// SetVideoParams installs parameters from a sequence header and reports
// whether they changed.
func (c *GOPCache) SetVideoParams(p VideoParams) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.tracker.Set(p) {
		return false
	}
	c.video = &p
	return true
}

// SetAudioParams installs the audio parameters.
func (c *GOPCache) SetAudioParams(p AudioParams) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.audio = &p
}

// Push adds a unit. For video it reports whether the unit carried in-band
// parameter sets that differ from the current ones (the sequence header
// must be resent; Snapshot already has the new sets).
func (c *GOPCache) Push(u Unit) (paramsChanged bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !u.Codec.IsVideo() {
		c.pushAudio(u)
		return false
	}
	if changed, err := c.tracker.Observe(u); err == nil && changed {
		p, _ := c.tracker.Params()
		c.video, paramsChanged = &p, true
	}
	switch {
	case u.Key:
		c.startGOP(u)
	case !c.waiting:
		c.add(u)
	}
	return paramsChanged
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

// Snapshot returns the current parameters and GOP. It is cheap (no unit is
// copied) and safe to call while another goroutine pushes.
func (c *GOPCache) Snapshot() GOPSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return GOPSnapshot{Video: c.video, Audio: c.audio, Units: c.units[:len(c.units):len(c.units)]}
}

// Reset forgets the cached GOP (for example when the source restarts with
// new timestamps); parameters stay until new ones arrive.
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
