package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/ffmpegpath"
	"github.com/fmspush/fmspush/nativepath"
	"github.com/fmspush/fmspush/supervisor"
)

// ingests hands the native paths of a stream's targets one shared
// nativepath.Ingest, so the camera sees one session whatever the number of
// targets. Targets whose ingest settings differ (a target's own
// native.gop_cache_bytes, say) get their own.
type ingests struct {
	mu    sync.Mutex
	all   map[[32]byte]*nativepath.Ingest
	names map[[32]byte]string // the stream of each ingest
}

// ingestKey is what an ingest is shared by: the stream and every setting
// of its camera session.
func ingestKey(st config.Stream) [32]byte {
	return sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%d", st.Name, st.Source,
		st.Native.GOPCacheBytes, st.Failover.AttemptsPerMinute))
}

// get returns st's ingest, making it on first use.
func (g *ingests) get(st config.Stream, limiter *supervisor.HostLimiter, log hclog.Logger) *nativepath.Ingest {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.all == nil {
		g.all = make(map[[32]byte]*nativepath.Ingest)
		g.names = make(map[[32]byte]string)
	}
	k := ingestKey(st)
	if in, ok := g.all[k]; ok {
		return in
	}
	in := &nativepath.Ingest{Source: st.Source, GOPCacheBytes: st.Native.GOPCacheBytes, Logger: log,
		Limiter: limiter, AttemptsPerMinute: st.Failover.AttemptsPerMinute}
	g.all[k], g.names[k] = in, st.Name
	return in
}

// of returns the ingests of the stream named name (several when its
// targets' session settings differ).
func (g *ingests) of(name string) []*nativepath.Ingest {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*nativepath.Ingest
	for k, in := range g.all {
		if g.names[k] == name {
			out = append(out, in)
		}
	}
	return out
}

// keep forgets the ingests no stream of cfg uses (a path still running on
// one keeps it alive until its last user releases it).
func (g *ingests) keep(cfg *config.Config) {
	want := make(map[[32]byte]bool, len(cfg.Streams))
	for _, st := range cfg.Streams {
		want[ingestKey(st)] = true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range g.all {
		if !want[k] {
			delete(g.all, k)
			delete(g.names, k)
		}
	}
}

// ingestFeed feeds the exec driver's ffmpeg from the stream's camera
// session (ffmpeg { input = "hub" }).
type ingestFeed struct {
	in    *nativepath.Ingest
	grace time.Duration
}

// Open implements ffmpegpath.Feed.
func (f ingestFeed) Open(ctx context.Context) (ffmpegpath.FeedStream, ffmpegpath.SourceInfo, error) {
	feed, err := f.in.OpenFLV(ctx, f.grace)
	if err != nil {
		return nil, ffmpegpath.SourceInfo{}, err
	}
	info := ffmpegpath.SourceInfo{Known: true, HasAudio: feed.Audio != nil}
	if feed.Audio != nil {
		info.AudioCodec = "aac"
	}
	return feed, info, nil
}
