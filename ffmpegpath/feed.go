package ffmpegpath

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
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
var feedInput = []string{"-f", "flv", "-i", "pipe:0"}

// fed is a run's feed: the reader, the pipe to ffmpeg's stdin and the
// goroutine copying one into the other.
type fed struct {
	feed  FeedStream
	stdin *os.File // ffmpeg's end, closed once ffmpeg has it
	w     *os.File
	done  chan struct{} // closed when the copy has ended

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
	return &fed{feed: rc, stdin: r, w: w, done: make(chan struct{})}, info
}

// pump copies the feed into ffmpeg's stdin until either ends. The feed's
// own error is recorded before ffmpeg sees the end of its input, so that
// the run classifies ffmpeg's exit with it.
func (f *fed) pump() {
	defer close(f.done)
	_, err := io.Copy(f.w, f.feed)
	if err != nil && !errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, os.ErrClosed) && !errors.Is(err, syscall.EPIPE) {
		f.mu.Lock()
		f.err = err
		f.mu.Unlock()
	}
	f.w.Close()
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
