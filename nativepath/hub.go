package nativepath

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/nativepath/source"
)

// A publisher may fall behind the source by subscriberQueue units (about
// 10 s of 25 fps video with its audio) or subscriberBytes, whichever comes
// first, before it is cut off: memory stays bounded whatever the source sends.
const (
	subscriberQueue = 1024
	subscriberBytes = 16 << 20
)

// errSlowTarget ends a subscription whose publisher fell too far behind.
var errSlowTarget = errors.New("the target does not take media as fast as the source produces it")

// hub runs one source (source.Retry reconnects it with backoff), rebases its
// timestamps onto one continuous timeline, keeps the last GOP, and fans units
// out to subscribers. It is the one owner of the codec parameters: it
// derives them, once per change, from what the source announces and from
// in-band parameter sets, and stamps every unit with the current version
// (Unit.Params), so that the cache and the sessions never derive them
// again. The source's goroutine calls the Sink methods; the mutex guards
// what subscribers read.
type hub struct {
	source source.Source
	log    hclog.Logger
	gop    *media.GOPCache
	retry  source.Retry // its limiter settings; run fills in the rest

	mu sync.Mutex
	// params is the current version; tracker follows the video parameter
	// sets it is derived from.
	params  *media.Params
	tracker media.ParamTracker
	subs    map[*subscription]struct{}
	up      bool
	lastErr error
	changed chan struct{} // closed and replaced on every state change
	rebase  *media.Rebaser
	// awaitKey drops video after a source restart until a keyframe: a
	// publisher never gets frames that reference pictures it never saw.
	awaitKey bool
}

// subscription is one publisher's feed.
type subscription struct {
	units  chan media.Unit
	queued atomic.Int64 // bytes in units
	err    error        // set before units is closed
}

// next accounts for a received unit; ok is false once the hub ended the feed.
func (s *subscription) next(u media.Unit, ok bool) (media.Unit, bool) {
	if ok {
		s.queued.Add(-int64(u.Size()))
	}
	return u, ok
}

func newHub(src source.Source, maxBytes int64, log hclog.Logger) *hub {
	if maxBytes <= 0 {
		maxBytes = 4 << 20
	}
	return &hub{source: src, log: log, gop: media.NewGOPCache(int(maxBytes)), rebase: media.NewRebaser(0),
		subs: map[*subscription]struct{}{}, changed: make(chan struct{})}
}

// run drives the source until ctx ends.
func (h *hub) run(ctx context.Context) {
	retry := h.retry
	retry.Source, retry.Log, retry.OnDown = h.source, h.log, h.setDown
	_ = retry.Run(ctx, h)
	h.setDown(context.Canceled)
	h.closeAll(errors.New("the source stopped"))
}

func (h *hub) notify() {
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *hub) setDown(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.up, h.lastErr = false, err
	h.notify()
}

// SourceRestarted implements source.Restarter: the next unit opens a new
// timeline epoch, whatever its timestamp, and the cached GOP is dropped: a
// publisher that starts after the restart starts from the restarted
// source's first keyframe, never from frames of before the outage (which
// would show the old picture, then jump). Running subscriptions go on.
func (h *hub) SourceRestarted() {
	h.gop.Reset()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rebase.Discontinuity()
	h.awaitKey = h.video() != nil
}

// SetVideo implements source.Sink: a new version of the parameters when
// they differ from the current ones.
func (h *hub) SetVideo(p media.VideoParams) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tracker.Set(p)
	h.install(h.params.WithVideo(p))
}

// SetAudio implements source.Sink: a new version of the parameters when
// they differ from the current ones.
func (h *hub) SetAudio(p media.AudioParams) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.install(h.params.WithAudio(p))
}

// install makes next (unless nil: no change) the current parameters.
func (h *hub) install(next *media.Params) {
	if next != nil {
		h.params = next
		h.notify()
	}
}

// inBand derives new video parameters from a unit's in-band parameter
// sets, when they change them. A new SPS that does not parse keeps the old
// parameters.
func (h *hub) inBand(u media.Unit) {
	changed, err := h.tracker.Observe(u)
	if err != nil {
		h.log.Debug("ignoring in-band parameter sets", "error", err)
	}
	if changed {
		p, _ := h.tracker.Params()
		h.install(h.params.WithVideo(p))
	}
}

// video returns the current video parameters (nil before any).
func (h *hub) video() *media.VideoParams {
	if h.params == nil {
		return nil
	}
	return h.params.Video
}

// audio returns the current audio parameters (nil before any).
func (h *hub) audio() *media.AudioParams {
	if h.params == nil {
		return nil
	}
	return h.params.Audio
}

// WriteUnit implements source.Sink: derive parameters, rebase, cache, fan out.
func (h *hub) WriteUnit(u media.Unit) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if u.Codec.IsVideo() {
		if h.awaitKey && !u.Key {
			return
		}
		h.awaitKey = false
		h.inBand(u)
	}
	u.Params = h.params
	u = h.rebase.Rebase(u)
	h.gop.Push(u)
	if !h.up || (u.Key && u.Codec.IsVideo()) {
		h.up, h.lastErr = true, nil
		h.notify()
	}
	size := int64(u.Size())
	for s := range h.subs {
		if s.queued.Load()+size > subscriberBytes {
			h.drop(s, errSlowTarget)
			continue
		}
		select {
		case s.units <- u:
			s.queued.Add(size)
		default:
			h.drop(s, errSlowTarget)
		}
	}
}

func (h *hub) drop(s *subscription, err error) {
	delete(h.subs, s)
	s.err = err
	close(s.units)
}

func (h *hub) closeAll(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.drop(s, err)
	}
}

// startable returns the view a publisher starts from, if it can start now:
// the source is up and, with video, a GOP with its keyframe is cached.
func (h *hub) startable() (media.GOPSnapshot, bool) {
	if !h.up || (h.video() == nil && h.audio() == nil) {
		return media.GOPSnapshot{}, false
	}
	snap := h.gop.Snapshot()
	if h.video() != nil && len(snap.Units) == 0 {
		return snap, false
	}
	// The audio track is decided from what the source announced by now
	// (it may come after the keyframe).
	snap.Audio = h.audio()
	if snap.Video == nil {
		snap.Video = h.video()
	}
	return snap, true
}

// subscribe waits until a publisher can start (or grace passes: the error
// says why the source is away), then returns the view and a live feed that
// continues right after the cached GOP.
func (h *hub) subscribe(ctx context.Context, grace time.Duration) (media.GOPSnapshot, *subscription, error) {
	return h.subscribeUntil(ctx, grace, false)
}

// subscribeUntil is subscribe; with failFast it gives up as soon as the
// source is down with an error (a failed connection, an unreadable file)
// instead of waiting the grace for it to come back.
func (h *hub) subscribeUntil(ctx context.Context, grace time.Duration, failFast bool) (media.GOPSnapshot, *subscription, error) {
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		if snap, ok := h.startable(); ok {
			s := &subscription{units: make(chan media.Unit, subscriberQueue)}
			h.subs[s] = struct{}{}
			h.mu.Unlock()
			return snap, s, nil
		}
		changed, lastErr, up := h.changed, h.lastErr, h.up
		h.mu.Unlock()
		if failFast && !up && lastErr != nil {
			return media.GOPSnapshot{}, nil, lastErr
		}
		select {
		case <-ctx.Done():
			return media.GOPSnapshot{}, nil, ctx.Err()
		case <-deadline.C:
			if lastErr == nil {
				lastErr = errors.New("no keyframe from the source yet")
			}
			return media.GOPSnapshot{}, nil, lastErr
		case <-changed:
		}
	}
}

// unsubscribe ends a subscription.
func (h *hub) unsubscribe(s *subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

// away says why the source has been away for longer than grace, its last
// unit taken at lastUnit (nil while it is up or within grace): what ends a
// publish or a feed at the source.
func (h *hub) away(lastUnit time.Time, grace time.Duration) error {
	up, err := h.state()
	if up || time.Since(lastUnit) < grace {
		return nil
	}
	if err == nil {
		err = errors.New("no media")
	}
	return fmt.Errorf("source away for %v: %w", time.Since(lastUnit).Round(time.Millisecond), err)
}

// state reports whether the source is up and, if not, why.
func (h *hub) state() (up bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.up, h.lastErr
}
