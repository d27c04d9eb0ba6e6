package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/fmspush/fmspush/internal/testpeer"
)

// ServeCamera runs the RTSP test camera in this process until ctx ends: the
// gortsplib server of internal/testpeer on 127.0.0.1:0, fed by ffmpeg
// looping file at real time (H.264 + AAC, copied). It prints the camera's
// rtsp:// URL on one line once the stream is up. Readers pull it over TCP.
func ServeCamera(ctx context.Context, file string, out io.Writer) (err error) {
	t := &procTB{}
	defer t.cleanup()
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(procFatal); ok {
				err = f
				return
			}
			panic(r)
		}
	}()
	srv := testpeer.StartRTSP(t, "127.0.0.1:0")
	url := "rtsp://" + srv.Addr() + "/cam"
	testpeer.FeedRTSPArgs(t, srv, url, "-re", "-stream_loop", "-1", "-i", file, "-c", "copy")
	fmt.Fprintln(out, url)
	<-ctx.Done()
	return nil
}

// procFatal is a procTB's failure.
type procFatal string

func (f procFatal) Error() string { return string(f) }

// procTB lets a bench process use internal/testpeer's peers, which take a
// testing.TB: failures panic with procFatal (ServeCamera recovers them),
// cleanups run when the process's camera stops. Methods it does not define
// are not used by the peers it runs.
type procTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

func (t *procTB) Helper()                         {}
func (t *procTB) Name() string                    { return "bench" }
func (t *procTB) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (t *procTB) Fatal(args ...any)               { panic(procFatal(fmt.Sprint(args...))) }
func (t *procTB) Fatalf(format string, args ...any) {
	panic(procFatal(fmt.Sprintf(format, args...)))
}
func (t *procTB) Skipf(format string, args ...any) {
	panic(procFatal(fmt.Sprintf(format, args...)))
}

func (t *procTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *procTB) cleanup() {
	t.mu.Lock()
	fs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
