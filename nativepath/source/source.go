// Package source pulls cameras into media units for the native path:
// rtsp:// and rtsps:// with gortsplib (TCP transport), rtmp:// and rtmps://
// with gortmplib, and in-memory clips. H.264, H.265 and AAC are carried;
// other codecs are reported as unsupported for FLV targets. URLs are
// redacted in every error and log line.
package source

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/media/sample"
	"github.com/fmspush/fmspush/redact"
)

// Sink receives what a source produces, in order, from one goroutine.
type Sink interface {
	// SetVideo announces (or changes) the video track's parameters.
	SetVideo(media.VideoParams)
	// SetAudio announces the audio track's parameters.
	SetAudio(media.AudioParams)
	// WriteUnit delivers one access unit with the source's own timestamps.
	WriteUnit(media.Unit)
}

// Source is one connection to a camera or a file. Run delivers into sink
// until ctx ends (nil) or the source fails or ends (an error saying why,
// already redacted). Reconnecting is the caller's business (see Retry).
type Source interface {
	Run(ctx context.Context, sink Sink) error
}

// ErrNoTrack is returned when a source has no track fmspush can carry.
var ErrNoTrack = errors.New("no H.264, H.265 or AAC track (unsupported for FLV targets)")

// ClipGrid paces the looped clips (file:, builtin:sample): their units
// come out at real time on a 100 ms grid, every unit due by then in one
// burst (three 30 fps frames and their audio: one socket write for the
// native session, one wake-up a grid for all the clips of the process)
// instead of one wake-up a frame. A clip is recorded media: a tenth of a
// second of delivery latency changes nothing for its viewers, while one
// stream's cost is counted in wake-ups (docs/performance.md). A unit is
// never sent before its time (audio at most one video frame early), and
// at most 100 ms after it.
const ClipGrid = 100 * time.Millisecond

// DefaultReadTimeout is how long a network source may stay silent.
const DefaultReadTimeout = 10 * time.Second

// New returns the source for a setting: rtsp://, rtsps://, rtmp://,
// rtmps://, builtin:sample, or file:PATH (a bare path is a file too; FLV or
// MP4, looped at real time).
func New(spec string, log hclog.Logger) (Source, error) {
	switch {
	case spec == "builtin:sample":
		l, err := sample.NewLooper(media.SystemClock)
		if err != nil {
			return nil, fmt.Errorf("builtin sample: %w", err)
		}
		l.Grid = ClipGrid
		return &Clip{Looper: l}, nil
	case strings.HasPrefix(spec, "builtin:"):
		return nil, fmt.Errorf("unknown builtin source %q (want builtin:sample)", spec)
	case !strings.Contains(spec, "://"):
		return File(strings.TrimPrefix(spec, "file:")), nil
	}
	return newNetwork(spec, log)
}

func newNetwork(rawURL string, log hclog.Logger) (Source, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("source %s: bad URL", redact.URL(rawURL))
	}
	switch strings.ToLower(u.Scheme) {
	case "rtsp", "rtsps":
		return &RTSP{URL: rawURL, Log: log}, nil
	case "rtmp", "rtmps":
		return &RTMP{URL: rawURL, Log: log}, nil
	}
	return nil, fmt.Errorf("source %s: unsupported scheme %q", redact.URL(rawURL), u.Scheme)
}

func logger(l hclog.Logger) hclog.Logger {
	if l == nil {
		return hclog.NewNullLogger()
	}
	return l
}

// event is one thing for the sink, passed from library callbacks to the
// goroutine that owns the sink.
type event struct {
	video *media.VideoParams
	audio *media.AudioParams
	unit  *media.Unit
}

func (e event) deliver(s Sink) {
	switch {
	case e.video != nil:
		s.SetVideo(*e.video)
	case e.audio != nil:
		s.SetAudio(*e.audio)
	case e.unit != nil:
		s.WriteUnit(*e.unit)
	}
}

// emitter hands events from callback goroutines to the sink's goroutine,
// blocking (backpressure) until the sink takes them or the run ends.
type emitter struct {
	ch     chan event
	done   <-chan struct{}
	direct Sink // set when callbacks already run on the sink's goroutine
}

func newEmitter(done <-chan struct{}) *emitter {
	return &emitter{ch: make(chan event, 64), done: done}
}

func (e *emitter) send(ev event) {
	if e.direct != nil {
		ev.deliver(e.direct)
		return
	}
	select {
	case e.ch <- ev:
	case <-e.done:
	}
}

// ticks converts a timestamp in clock-rate units to a duration without
// overflowing for long sessions.
func ticks(v int64, rate int) time.Duration {
	r := int64(rate)
	return time.Duration(v/r)*time.Second + time.Duration(v%r)*time.Second/time.Duration(r)
}

// File replays an FLV or MP4 file forever at real time. It opens the file
// each time it runs, so a file that is missing now is a source failure that
// heals when the file appears, not a configuration error.
type File string

// Run implements Source.
func (f File) Run(ctx context.Context, sink Sink) error {
	c, err := clips.open(string(f))
	if err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	l, err := media.NewLooper(c, media.SystemClock)
	if err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	l.Grid = ClipGrid
	return (&Clip{Looper: l}).Run(ctx, sink)
}

// clipCache shares parsed files between the streams (and restarts) that
// loop the same file: a clip is read-only, and a 1080p file is megabytes.
// A file whose size or modification time changed is read again.
type clipCache struct {
	mu    sync.Mutex
	clips map[string]cachedClip
}

type cachedClip struct {
	size  int64
	mtime time.Time
	clip  *media.Clip
}

var clips clipCache

func (c *clipCache) open(path string) (*media.Clip, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.clips[path]; ok && e.size == fi.Size() && e.mtime.Equal(fi.ModTime()) {
		return e.clip, nil
	}
	clip, err := media.OpenClip(path)
	if err != nil {
		return nil, err
	}
	if c.clips == nil {
		c.clips = make(map[string]cachedClip)
	}
	c.clips[path] = cachedClip{size: fi.Size(), mtime: fi.ModTime(), clip: clip}
	return clip, nil
}

// Clip replays a media.Looper (builtin sample, file:) as a Source.
type Clip struct {
	Looper *media.Looper
}

// Run implements Source: it announces the clip's parameters, then delivers
// units as the looper releases them until ctx ends.
func (c *Clip) Run(ctx context.Context, sink Sink) error {
	if v := c.Looper.Video(); v != nil {
		sink.SetVideo(*v)
	}
	if a := c.Looper.Audio(); a != nil {
		sink.SetAudio(*a)
	}
	for {
		u, err := c.Looper.Next(ctx)
		if err != nil {
			return nil
		}
		sink.WriteUnit(u)
	}
}

// sentinels are the errors a source error may wrap; any other cause is
// kept as redacted text only, so that no unwrapping reveals a credential.
var sentinels = []error{ErrNoTrack, context.Canceled, context.DeadlineExceeded}

// fail builds a source error: kind, redacted URL, step and redacted cause.
func fail(kind, rawURL, step string, err error) error {
	msg := fmt.Sprintf("%s source %s: %s", kind, redact.URL(rawURL), step)
	if err == nil {
		return errors.New(msg + " failed")
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return fmt.Errorf("%s: %w", msg, s)
		}
	}
	return errors.New(msg + ": " + redact.Text(err.Error()))
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }

var errEnded = errors.New("the source ended")
