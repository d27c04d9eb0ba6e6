package nativepath

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/redact"
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

// hub runs one source (reconnecting it with backoff), rebases its
// timestamps into one continuous timeline, keeps the last GOP, and fans
// units out to subscribers. One goroutine (run) drives the source; the
// mutex guards what subscribers read.
type hub struct {
	source   Source
	maxBytes int64
	log      hclog.Logger

	mu       sync.Mutex
	video    *media.VideoParams
	audio    *media.AudioParams
	gop      []media.Unit // from the last video keyframe
	gopBytes int64
	subs     map[*subscription]struct{}
	up       bool
	lastErr  error
	changed  chan struct{} // closed and replaced on every state change
	rebase   rebaser
}

// subscription is one publisher's feed.
type subscription struct {
	units  chan media.Unit
	queued atomic.Int64 // bytes in units
	err    error        // set before units is closed
}

// next receives the next unit; ok is false once the hub ended the feed.
func (s *subscription) next(u media.Unit, ok bool) (media.Unit, bool) {
	if ok {
		s.queued.Add(-int64(u.Size()))
	}
	return u, ok
}

func newHub(src Source, maxBytes int64, log hclog.Logger) *hub {
	if maxBytes <= 0 {
		maxBytes = 4 << 20
	}
	return &hub{source: src, maxBytes: maxBytes, log: log, subs: map[*subscription]struct{}{}, changed: make(chan struct{})}
}

// run drives the source until ctx ends, reconnecting with backoff.
func (h *hub) run(ctx context.Context) {
	wait := 250 * time.Millisecond
	for ctx.Err() == nil {
		t0 := time.Now()
		err := h.source.Run(ctx, h)
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			err = errors.New("the source ended")
		}
		h.setDown(err)
		if time.Since(t0) > 10*time.Second {
			wait = 250 * time.Millisecond
		}
		h.log.Warn("source down; reconnecting", "error", redact.Text(err.Error()), "in", wait)
		if sleepCtx(ctx, wait) != nil {
			break
		}
		wait = min(wait*2, 5*time.Second)
	}
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
	h.rebase.sourceRestarted()
	h.notify()
}

// SetVideo implements Sink.
func (h *hub) SetVideo(p media.VideoParams) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.video = &p
	h.notify()
}

// SetAudio implements Sink.
func (h *hub) SetAudio(p media.AudioParams) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.audio = &p
	h.notify()
}

// WriteUnit implements Sink: rebase, cache, fan out.
func (h *hub) WriteUnit(u media.Unit) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u = h.rebase.apply(u)
	if !h.up {
		h.up, h.lastErr = true, nil
		h.notify()
	}
	h.cache(u)
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

// cache keeps the units since the last video keyframe, within maxBytes. A
// GOP over the bound is dropped whole: a GOP is never served without its
// keyframe.
func (h *hub) cache(u media.Unit) {
	if u.Codec.IsVideo() && u.Key {
		h.gop, h.gopBytes = h.gop[:0], 0
		h.notify()
	}
	if len(h.gop) == 0 && !(u.Codec.IsVideo() && u.Key) {
		if h.video != nil {
			return // wait for a keyframe
		}
	}
	size := int64(u.Size())
	if h.gopBytes+size > h.maxBytes {
		h.gop, h.gopBytes = h.gop[:0], 0
		return
	}
	h.gop = append(h.gop, u)
	h.gopBytes += size
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

// ready is a consistent view for a new publisher: the parameters and the
// cached GOP (starting at a keyframe).
type ready struct {
	video *media.VideoParams
	audio *media.AudioParams
	gop   []media.Unit
}

// startable reports whether a publisher can start now.
func (h *hub) startable() bool {
	if !h.up || (h.video == nil && h.audio == nil) {
		return false
	}
	return h.video == nil || len(h.gop) > 0
}

// subscribe waits until the source is up with a keyframe cached (or
// grace passes: the error says why the source is away), then returns the
// view and a live feed that continues right after the cached GOP.
func (h *hub) subscribe(ctx context.Context, grace time.Duration) (ready, *subscription, error) {
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		if h.startable() {
			r := ready{video: h.video, audio: h.audio, gop: append([]media.Unit(nil), h.gop...)}
			s := &subscription{units: make(chan media.Unit, subscriberQueue)}
			h.subs[s] = struct{}{}
			h.mu.Unlock()
			return r, s, nil
		}
		changed, lastErr := h.changed, h.lastErr
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return ready{}, nil, ctx.Err()
		case <-deadline.C:
			if lastErr == nil {
				lastErr = errors.New("no keyframe from the source yet")
			}
			return ready{}, nil, lastErr
		case <-changed:
		}
	}
}

// unsubscribe ends a subscription.
func (h *hub) unsubscribe(s *subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
	}
}

// state reports whether the source is up and, if not, why.
func (h *hub) state() (up bool, err error, changed <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.up, h.lastErr, h.changed
}
