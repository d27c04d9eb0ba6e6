package ffmpegpath

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Feed is the stream's media as an FLV byte stream that ffmpeg reads on its
// stdin instead of opening the source: the service then reads the camera
// once for every target and path (the native ingest), and the camera's URL
// and password are not on ffmpeg's command line. Only the exec driver reads
// a Feed; the libav driver opens the source itself.
type Feed interface {
	// Open starts one feed from a keyframe, with what it carries. An error
	// means the service's own session cannot give the media now (the
	// source is away, its format or codec is not one the native ingest
	// reads): the run then opens the source itself, as with no Feed.
	Open(ctx context.Context) (FeedStream, SourceInfo, error)
}

// FeedStream is one feed: its FLV bytes, and the media time they span.
type FeedStream interface {
	io.ReadCloser
	// Span is the media time from the feed's first unit to the last one
	// written so far: ffmpeg never sent the target more than that.
	Span() time.Duration
}

// feedMargin is added to a feed's span when the run ends: the last frame's
// own duration.
const feedMargin = 100 * time.Millisecond

// feedInput are ffmpeg's input arguments for a feed on stdin.
// -fpsprobesize 0: the feed's timestamps and onMetaData give the frame
// rate, and without it avformat_find_stream_info reads 40 video frames
// (twice its 20 for a millisecond time base) before ffmpeg connects: when
// the feed's cached GOP had few frames, a start waited for the rest at real
// time, up to 1.6 s of a failover to this path (docs/performance.md).
var feedInput = []string{"-fpsprobesize", "0", "-f", "flv", "-i", "pipe:0"}

// fed is a run's feed: the reader, the pipe to ffmpeg's stdin and the
// goroutine copying one into the other.
type fed struct {
	feed  FeedStream
	stdin *os.File // ffmpeg's end, closed once ffmpeg has it
	w     *os.File
	done  chan struct{} // closed when the copy has ended
	// lastData is when the feed last gave bytes (unix nanoseconds);
	// writing is set while they wait for ffmpeg to take them.
	lastData atomic.Int64
	writing  atomic.Bool

	mu  sync.Mutex
	err error // why the feed ended by itself: set before ffmpeg's stdin closes
}

// openFeed opens s.Feed; nil when there is none or it cannot start (the
// run then opens the source itself; the reason is logged).
func openFeed(ctx context.Context, s Settings) (*fed, SourceInfo) {
	if s.Feed == nil {
		return nil, SourceInfo{}
	}
	rc, info, err := s.Feed.Open(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.Logger.Info("ffmpeg opens the source itself: the stream's camera session cannot feed it now",
				"reason", NewRedactor(s.Source, s.Target, s.RTMPPlayPath).Text(err.Error()))
		}
		return nil, SourceInfo{}
	}
	r, w, err := os.Pipe()
	if err != nil {
		rc.Close()
		return nil, SourceInfo{}
	}
	f := &fed{feed: rc, stdin: r, w: w, done: make(chan struct{})}
	f.lastData.Store(time.Now().UnixNano())
	return f, info
}

// pump copies the feed into ffmpeg's stdin until either ends. The feed's
// own error is recorded before ffmpeg sees the end of its input, so that
// the run classifies ffmpeg's exit with it.
func (f *fed) pump() {
	defer close(f.done)
	err := f.copy()
	if err != nil && !errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, os.ErrClosed) && !errors.Is(err, syscall.EPIPE) {
		f.mu.Lock()
		f.err = err
		f.mu.Unlock()
	}
	f.w.Close()
}

// copy copies the feed into ffmpeg's stdin, noting when data came; nil at
// the feed's clean end.
func (f *fed) copy() error {
	buf := make([]byte, 64<<10)
	for {
		n, err := f.feed.Read(buf)
		if n > 0 {
			f.lastData.Store(time.Now().UnixNano())
			f.writing.Store(true)
			_, werr := f.w.Write(buf[:n])
			f.writing.Store(false)
			if werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// idle is how long the feed has given nothing (0 without a feed, and
// while ffmpeg has not taken what it gave: then ffmpeg is the one waiting).
func (f *fed) idle(now time.Time) time.Duration {
	if f == nil || f.writing.Load() {
		return 0
	}
	return now.Sub(time.Unix(0, f.lastData.Load()))
}

// close ends the feed and waits for the copy.
func (f *fed) close() {
	if f == nil {
		return
	}
	f.feed.Close()
	f.w.Close() // unblocks a write to an ffmpeg that never read
	<-f.done
}

// errFeed returns why the feed ended by itself, if it did (for Classify).
func (f *fed) errFeed() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
