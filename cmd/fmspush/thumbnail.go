package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/httpapi"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/nativepath"
)

// The console's thumbnails: each stream's picture is decoded at most every
// thumbEvery (a miss is remembered for thumbMissFor), one ffmpeg run a
// stream and thumbDecoders in all at once, each within thumbTimeout and
// thumbMaxBytes of output.
const (
	thumbEvery    = 5 * time.Second
	thumbMissFor  = time.Second
	thumbTimeout  = 5 * time.Second
	thumbMaxBytes = 2 << 20
	thumbDecoders = 2
	// thumbWidth is the width pictures are scaled down to (never up).
	thumbWidth = 480
)

// thumbnails implements httpapi.Thumbnailer: the latest keyframe of a
// stream's running camera session (its GOP cache), decoded by ffmpeg into
// a JPEG. It never starts a camera session: a stream whose session does not
// run has no picture.
type thumbnails struct {
	// FFmpeg is the ffmpeg binary (service.ffmpeg_path).
	FFmpeg string
	// Ingests returns the camera sessions of a stream.
	Ingests func(stream string) []*nativepath.Ingest
	// Log receives why a stream has no picture (debug).
	Log hclog.Logger

	once  sync.Once
	sem   chan struct{}
	mu    sync.Mutex
	cache map[string]*thumb
}

// thumb is one stream's cached picture; mu is held while it is decoded, so
// that concurrent requests share one ffmpeg run.
type thumb struct {
	mu   sync.Mutex
	at   time.Time // when jpeg (or the miss) was decoded
	jpeg []byte
	err  error
}

// Thumbnail implements httpapi.Thumbnailer.
func (t *thumbnails) Thumbnail(ctx context.Context, stream string) ([]byte, error) {
	t.once.Do(func() {
		t.sem = make(chan struct{}, thumbDecoders)
		t.cache = map[string]*thumb{}
		if t.Log == nil {
			t.Log = hclog.NewNullLogger()
		}
	})
	ingests := t.Ingests(stream)
	t.mu.Lock()
	e := t.cache[stream]
	if len(ingests) == 0 {
		delete(t.cache, stream) // the cache holds configured streams only
		t.mu.Unlock()
		return nil, fmt.Errorf("%w: no camera session of stream %s", httpapi.ErrNoPicture, stream)
	}
	if e == nil {
		e = &thumb{}
		t.cache[stream] = e
	}
	t.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	fresh := thumbEvery
	if e.jpeg == nil {
		fresh = thumbMissFor
	}
	if !e.at.IsZero() && time.Since(e.at) < fresh {
		return e.jpeg, e.err
	}
	e.jpeg, e.err = t.decode(ctx, ingests)
	e.at = time.Now()
	if e.err != nil {
		t.Log.Debug("no thumbnail", "stream", stream, "error", e.err)
	}
	return e.jpeg, e.err
}

// decode runs ffmpeg on the first cached keyframe of ingests.
func (t *thumbnails) decode(ctx context.Context, ingests []*nativepath.Ingest) ([]byte, error) {
	var flv []byte
	for _, in := range ingests {
		if key, video, ok := in.Keyframe(); ok {
			var err error
			if flv, err = keyframeFLV(key, video); err != nil {
				return nil, fmt.Errorf("%w: %v", httpapi.ErrNoPicture, err)
			}
			break
		}
	}
	if flv == nil {
		return nil, fmt.Errorf("%w: no running camera session with a keyframe", httpapi.ErrNoPicture)
	}
	bin, err := exec.LookPath(t.FFmpeg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", httpapi.ErrNoPicture, err)
	}
	select {
	case t.sem <- struct{}{}:
		defer func() { <-t.sem }()
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", httpapi.ErrNoPicture, ctx.Err())
	}
	return runDecoder(ctx, bin, flv)
}

// keyframeFLV is an FLV stream of one picture: the header, the video
// sequence header and the keyframe, at time 0. ffmpeg 5.1 reads H.264 only
// from FLV.
func keyframeFLV(key media.Unit, video *media.VideoParams) ([]byte, error) {
	if video.Codec != media.CodecH264 {
		return nil, fmt.Errorf("ffmpeg reads %s from FLV only with the enhanced format", video.Codec)
	}
	key.PTS -= key.DTS
	key.DTS = 0
	if key.PTS < 0 {
		key.PTS = 0
	}
	var b bytes.Buffer
	w, err := media.NewFLVWriter(&b, true, false)
	if err != nil {
		return nil, err
	}
	if err := w.WriteVideoParams(0, *video); err != nil {
		return nil, err
	}
	if err := w.WriteUnit(key); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// runDecoder decodes the first picture of flv into a JPEG with ffmpeg,
// within thumbTimeout and thumbMaxBytes.
func runDecoder(ctx context.Context, bin string, flv []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, thumbTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-hide_banner", "-loglevel", "error",
		"-f", "flv", "-i", "pipe:0",
		"-frames:v", "1", "-vf", fmt.Sprintf("scale='min(%d,iw)':-2", thumbWidth),
		"-f", "image2", "-c:v", "mjpeg", "-q:v", "5", "pipe:1")
	cmd.Stdin = bytes.NewReader(flv)
	var stderr limitedBuffer
	stderr.max = 1 << 10
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %v", httpapi.ErrNoPicture, err)
	}
	jpeg, rerr := io.ReadAll(io.LimitReader(out, thumbMaxBytes+1))
	if len(jpeg) > thumbMaxBytes {
		_ = cmd.Process.Kill()
	}
	werr := cmd.Wait()
	switch {
	case len(jpeg) > thumbMaxBytes:
		return nil, fmt.Errorf("%w: ffmpeg's picture is over %d bytes", httpapi.ErrNoPicture, thumbMaxBytes)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w: ffmpeg did not decode within %v", httpapi.ErrNoPicture, thumbTimeout)
	case werr != nil || rerr != nil:
		return nil, fmt.Errorf("%w: ffmpeg: %v %v: %s", httpapi.ErrNoPicture, werr, rerr, strings.TrimSpace(stderr.String()))
	case len(jpeg) < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8:
		return nil, fmt.Errorf("%w: ffmpeg wrote no JPEG", httpapi.ErrNoPicture)
	}
	return jpeg, nil
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

// Write implements io.Writer; it never fails.
func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

var _ httpapi.Thumbnailer = (*thumbnails)(nil)
