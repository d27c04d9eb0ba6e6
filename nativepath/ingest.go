package nativepath

import (
	"context"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/nativepath/source"
	"github.com/fmspush/fmspush/redact"
)

// Ingest is one camera session: the hub reading Source, started for its
// first user (a path's Warm or Run) and stopped after its last. The native
// paths of every target of a stream share one Ingest, so the camera sees
// one session whatever the number of targets. Settings must not change once
// it is in use.
type Ingest struct {
	// Source is builtin:sample, file:PATH (or a plain path), rtsp(s)://, rtmp(s)://.
	Source string
	// GOPCacheBytes bounds the cached GOP (default 4 MiB).
	GOPCacheBytes int64
	// Logger receives the ingest's log lines (default: discard).
	Logger hclog.Logger
	// Limiter and AttemptsPerMinute hold the source's reconnects to the
	// per-host limit, keyed by the source's host (nil: no limit).
	Limiter           source.Limiter
	AttemptsPerMinute int

	mu     sync.Mutex
	hub    *hub          // the running ingest
	users  int           // Warms and Runs holding hub
	cancel func()        // stops hub
	done   chan struct{} // closed when hub's goroutine returned
}

// Users is how many paths (a Warm or a Run each) hold the ingest now.
func (in *Ingest) Users() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.users
}

// acquire returns the running hub, starting it for the first user; release
// stops it after the last user, and waits for it.
func (in *Ingest) acquire() (*hub, func(), error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.hub == nil {
		log := in.Logger
		if log == nil {
			log = hclog.NewNullLogger()
		}
		src, err := openSource(in.Source, log.Named("source"))
		if err != nil {
			return nil, nil, err
		}
		h := newHub(src, in.GOPCacheBytes, log.Named("ingest"))
		h.retry = source.Retry{Limiter: in.Limiter, Host: redact.Host(in.Source), PerMinute: in.AttemptsPerMinute}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); h.run(ctx) }()
		in.hub, in.cancel, in.done = h, cancel, done
	}
	in.users++
	h := in.hub
	var once sync.Once
	return h, func() { once.Do(in.release) }, nil
}

func (in *Ingest) release() {
	in.mu.Lock()
	in.users--
	if in.users > 0 {
		in.mu.Unlock()
		return
	}
	cancel, done := in.cancel, in.done
	in.hub, in.cancel, in.done = nil, nil, nil
	in.mu.Unlock()
	cancel()
	<-done
}

// Keyframe returns the latest keyframe of the running camera session's GOP
// cache with the video parameters it was coded with; ok is false when no
// path holds the ingest (it never starts a camera session) or no keyframe
// is cached. The unit is read-only.
func (in *Ingest) Keyframe() (key media.Unit, video *media.VideoParams, ok bool) {
	in.mu.Lock()
	h := in.hub
	in.mu.Unlock()
	if h == nil {
		return media.Unit{}, nil, false
	}
	snap := h.gop.Snapshot()
	if len(snap.Units) == 0 || !snap.Units[0].Key || !snap.Units[0].Codec.IsVideo() || snap.Video == nil {
		return media.Unit{}, nil, false
	}
	return snap.Units[0], snap.Video, true
}
