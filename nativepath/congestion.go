package nativepath

import (
	"time"

	"github.com/fmspush/fmspush/media"
)

// congestedHold is how long a stream stays "congested" after its last
// dropped frame: long enough that a link which keeps up only between drops
// (a capped link drops a GOP every 5-10 s) is not shown healthy in between.
const congestedHold = 15 * time.Second

// ownShare is the part of max_delay the sender's own queue may use: the
// rest is left to queues on the path that the sender cannot see (a
// bottleneck router's buffer, a proxy's), which the delay measured at the
// server includes.
const ownShare = 0.75

// dropper bounds the delivery delay on a link slower than the stream: when
// a frame written now would wait more than ownShare of maxDelay behind what
// is queued, it drops video, non-key frames and then whole GOPs, until a
// keyframe finds the wait back under half that; audio and sequence headers
// (written apart) always pass. It starts on the wait at the rate TCP drains
// while busy, and ends on the wait at the rate the server took lately (TCP
// is busy at most all of the time, so that wait is the longer): a writer
// that was itself held up for a second (nothing acknowledged because
// nothing was sent) is no slow link, while a link that is slow stays busy
// and gives both waits alike. On a loopback server that kept up, 24 KB
// over the 22 kbit/s taken in such a second read as a wait of 8.6 s and
// dropped a GOP.
type dropper struct {
	maxDelay time.Duration
	dropping bool
	lastDrop time.Time
}

// keep decides for one unit, given the waits it would have to be sent.
func (d *dropper) keep(u media.Unit, w waits, now time.Time) bool {
	if !u.Codec.IsVideo() || d.maxDelay <= 0 {
		return true
	}
	bound := time.Duration(float64(d.maxDelay) * ownShare)
	if !d.dropping && w.draining > bound {
		d.dropping = true
	}
	if d.dropping && u.Key && w.taken <= bound/2 {
		d.dropping = false
	}
	if d.dropping {
		d.lastDrop = now
		return false
	}
	return true
}

// congested reports whether frames are being dropped, or were lately.
func (d *dropper) congested(now time.Time) bool {
	return d.dropping || (!d.lastDrop.IsZero() && now.Sub(d.lastDrop) < congestedHold)
}

// rateWindow measures the media's own rate over the last rateSpan of wall
// time, in fixed buckets: what real time needs from the uplink.
type rateWindow struct {
	buckets [rateBuckets]int64
	stamp   [rateBuckets]int64 // the bucket's index in time, to expire it
}

const (
	rateBuckets = 8
	rateBucket  = 250 * time.Millisecond
	rateSpan    = rateBuckets * rateBucket
)

func (w *rateWindow) add(now time.Time, n int) {
	idx := now.UnixNano() / int64(rateBucket)
	i := idx % rateBuckets
	if w.stamp[i] != idx {
		w.stamp[i], w.buckets[i] = idx, 0
	}
	w.buckets[i] += int64(n)
}

// bitsPerSecond is the rate over the complete buckets of the span.
func (w *rateWindow) bitsPerSecond(now time.Time) float64 {
	idx := now.UnixNano() / int64(rateBucket)
	var sum int64
	for i := range w.buckets {
		if age := idx - w.stamp[i]; age >= 1 && age < rateBuckets {
			sum += w.buckets[i]
		}
	}
	return float64(sum*8) / (rateSpan - rateBucket).Seconds()
}
