package nativepath

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/fmspush/fmspush/internal/wake"
	"github.com/fmspush/fmspush/media"
)

// ErrFeedCodec: the stream's video is not one an FLV reader of ffmpeg 5.1
// takes (it reads H.264 from FLV, not H.265 in either carriage).
var ErrFeedCodec = errors.New("nativepath: the FLV feed carries H.264 only")

// feedCheck is how often a feed looks at the source while no unit comes.
const feedCheck = 500 * time.Millisecond

// FLVFeed is one reader of an Ingest's media as an FLV stream: the header,
// onMetaData and the sequence headers, then the units from the cached GOP's
// keyframe on, at the pace the source delivers them (a new sequence header
// before a unit whose parameters changed). The ffmpeg path reads it on
// ffmpeg's stdin, so that ffmpeg never opens the camera itself. Read ends
// with an error saying why when the source has been away for longer than
// the grace, or the hub ended the feed; Close ends it and releases the
// ingest. One goroutine writes it; Read and Close may be called from any
// one other goroutine.
type FLVFeed struct {
	// Video and Audio are the tracks at the feed's start (either may be nil).
	Video *media.VideoParams
	Audio *media.AudioParams

	r      *io.PipeReader
	cancel context.CancelFunc
	done   chan struct{}
	span   *atomic.Int64 // the writer's span so far, in nanoseconds
}

// OpenFLV starts a feed: it waits up to grace for the source to give a
// keyframe, and fails at once when the source is down with an error (the
// error says why), then writes from a goroutine until ctx ends, Close, or
// the source is away for longer than grace.
func (in *Ingest) OpenFLV(ctx context.Context, grace time.Duration) (*FLVFeed, error) {
	h, release, err := in.acquire()
	if err != nil {
		return nil, err
	}
	snap, sub, err := h.subscribeUntil(ctx, grace, true)
	if err != nil {
		release()
		return nil, err
	}
	if snap.Video != nil && snap.Video.Codec != media.CodecH264 {
		h.unsubscribe(sub)
		release()
		return nil, fmt.Errorf("%w (the source sends %s)", ErrFeedCodec, snap.Video.Codec)
	}
	r, w := io.Pipe()
	fctx, cancel := context.WithCancel(ctx)
	fw := &feedWriter{hub: h, sub: sub, grace: grace, pipe: w, first: -1}
	f := &FLVFeed{Video: snap.Video, Audio: snap.Audio, r: r, cancel: cancel, done: make(chan struct{}), span: &fw.span}
	go func() {
		defer close(f.done)
		defer release()
		defer h.unsubscribe(sub)
		w.CloseWithError(fw.run(fctx, snap))
	}()
	return f, nil
}

// Span is the media time from the feed's first unit to the last one written
// so far (what a reader can have been given at most).
func (f *FLVFeed) Span() time.Duration { return time.Duration(f.span.Load()) }

// Read reads the FLV stream.
func (f *FLVFeed) Read(p []byte) (int, error) { return f.r.Read(p) }

// Close ends the feed and waits for its writer.
func (f *FLVFeed) Close() error {
	f.cancel()
	f.r.CloseWithError(io.ErrClosedPipe)
	<-f.done
	return nil
}

// feedWriter is an FLVFeed's writing goroutine's state.
type feedWriter struct {
	hub   *hub
	sub   *subscription
	grace time.Duration
	pipe  *io.PipeWriter
	flv   *media.FLVWriter

	video    *media.VideoParams // the last sequence headers written
	audio    *media.AudioParams
	lastUnit time.Time
	first    time.Duration // the first unit's DTS (-1 before it)
	span     atomic.Int64  // the last unit's DTS past first, before it is written
}

// run writes the stream until ctx ends (nil: the reader sees EOF) or the
// source fails (the error the reader sees).
func (fw *feedWriter) run(ctx context.Context, snap media.GOPSnapshot) error {
	if err := fw.start(snap); err != nil {
		return err
	}
	check := wake.NewTicker(feedCheck) // on the process's clock, with the other checks
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-fw.sub.units:
			if _, ok = fw.sub.next(u, ok); !ok {
				return fw.ended(ctx)
			}
			if err := fw.write(u); err != nil {
				return err
			}
		case <-check.C:
			if err := fw.checkSource(); err != nil {
				return err
			}
		}
	}
}

// ended is the end of a feed the hub cut off: a reader that fell behind
// (ffmpeg blocked on a stalled target) is not told of a source failure:
// the feed stops and waits, and ffmpeg's own stall watch judges it; a
// source that stopped is the reader's error.
func (fw *feedWriter) ended(ctx context.Context) error {
	if errors.Is(fw.sub.err, errSlowTarget) {
		<-ctx.Done()
		return nil
	}
	return fmt.Errorf("the source stopped: %w", fw.sub.err)
}

// start writes the header, onMetaData and sequence headers, then the cached GOP.
func (fw *feedWriter) start(snap media.GOPSnapshot) error {
	fw.lastUnit = time.Now()
	var err error
	if fw.flv, err = media.NewFLVWriter(fw.pipe, snap.Video != nil, snap.Audio != nil); err != nil {
		return err
	}
	if err := fw.flv.WriteMetadata(media.MetadataFor(snap.Video, snap.Audio, media.HEVCLegacy).ECMAArray()); err != nil {
		return err
	}
	var at time.Duration
	if len(snap.Units) > 0 {
		at = snap.Units[0].DTS
	}
	if err := fw.headers(snap.Video, snap.Audio, at); err != nil {
		return err
	}
	for _, u := range snap.Units {
		if err := fw.write(u); err != nil {
			return err
		}
	}
	return nil
}

// headers writes the sequence headers of the tracks that changed.
func (fw *feedWriter) headers(v *media.VideoParams, a *media.AudioParams, at time.Duration) error {
	if v != nil && v != fw.video {
		fw.video = v
		if err := fw.flv.WriteVideoParams(at, *v); err != nil {
			return err
		}
	}
	if a != nil && a != fw.audio {
		fw.audio = a
		return fw.flv.WriteAudioParams(at, *a)
	}
	return nil
}

// write writes one unit, after new sequence headers when its track's
// parameters changed.
func (fw *feedWriter) write(u media.Unit) error {
	fw.lastUnit = time.Now()
	if u.DTS < 0 {
		return nil
	}
	if p := u.Params; p != nil {
		var v *media.VideoParams
		var a *media.AudioParams
		if u.Codec.IsVideo() {
			v = p.Video
		} else {
			a = p.Audio
		}
		if err := fw.headers(v, a, u.DTS); err != nil {
			return err
		}
	}
	if fw.first < 0 {
		fw.first = u.DTS
	}
	if sp := int64(u.DTS - fw.first); sp > fw.span.Load() {
		fw.span.Store(sp)
	}
	return fw.flv.WriteUnit(u)
}

// checkSource fails the feed once the source has been away for longer than
// the grace.
func (fw *feedWriter) checkSource() error { return fw.hub.away(fw.lastUnit, fw.grace) }
