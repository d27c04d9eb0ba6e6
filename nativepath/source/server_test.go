package source

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fmspush/fmspush/media"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a Sink that records everything, safe to inspect from tests.
type recorder struct {
	mu       sync.Mutex
	video    []media.VideoParams
	audio    []media.AudioParams
	units    []media.Unit
	restarts int
}

func (r *recorder) SetVideo(p media.VideoParams) {
	r.mu.Lock()
	r.video = append(r.video, p)
	r.mu.Unlock()
}
func (r *recorder) SetAudio(p media.AudioParams) {
	r.mu.Lock()
	r.audio = append(r.audio, p)
	r.mu.Unlock()
}
func (r *recorder) WriteUnit(u media.Unit) { r.mu.Lock(); r.units = append(r.units, u); r.mu.Unlock() }
func (r *recorder) SourceRestarted()       { r.mu.Lock(); r.restarts++; r.mu.Unlock() }

// count returns keyframes and audio units received.
func (r *recorder) count() (keys, audio int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.units {
		switch {
		case u.Codec == media.CodecAAC:
			audio++
		case u.Key:
			keys++
		}
	}
	return keys, audio
}

func (r *recorder) snapshot() ([]media.VideoParams, []media.AudioParams, []media.Unit, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]media.VideoParams(nil), r.video...), append([]media.AudioParams(nil), r.audio...),
		append([]media.Unit(nil), r.units...), r.restarts
}

// runSource runs src in the background; stop cancels it and returns Run's
// result.
func runSource(src Source, sink Sink) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- src.Run(ctx, sink) }()
	return func() error {
		cancel()
		select {
		case err := <-res:
			return err
		case <-time.After(15 * time.Second):
			return fmt.Errorf("Run did not return after cancel")
		}
	}
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}
