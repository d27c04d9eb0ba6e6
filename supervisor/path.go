// Package supervisor runs each stream: one path active, the other standby,
// layered health, automatic failover and failback.
package supervisor

import (
	"context"
	"time"

	"github.com/fmspush/fmspush/health"
)

// Path is one way of pushing a stream's source to its target. ffmpegpath and
// nativepath implement it without importing this package.
type Path interface {
	// Kind names the path: "ffmpeg" or "native".
	Kind() string
	// Check reports cheaply whether the path's driver can run (ffmpeg binary
	// present and runnable, libav loaded). It never touches the target.
	Check(ctx context.Context) error
	// Run publishes the source to the target until ctx is cancelled (it then
	// returns nil after a clean unpublish) or the push fails; the error is then
	// a *health.Verdict (or converts with health.AsVerdict). base is the
	// timestamp the target's timeline continues from, so that a switch never
	// sends timestamps backwards. Run reports progress into sig and calls
	// sig.MarkLive once the target accepted the publish and the first frame.
	Run(ctx context.Context, base time.Duration, sig *health.Signals) error
}

// Warmer is a Path that can keep its ingest running while it stands by, so
// that a switch to it starts at once from the last keyframe. The supervisor
// calls Warm in its own goroutine for the stream's whole life.
type Warmer interface {
	Warm(ctx context.Context)
}
