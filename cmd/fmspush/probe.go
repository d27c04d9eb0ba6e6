package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/prober"
	"github.com/fmspush/fmspush/redact"
	"github.com/fmspush/fmspush/rtmp"
	"github.com/fmspush/fmspush/supervisor"
)

// probeCommand triages one RTMP endpoint layer by layer. Exit status: 0 when
// every layer walked is ok, 1 when the target failed, 2 on bad usage.
func probeCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	publish := fs.Bool("publish", false, "walk L3: publish (then unpublish) on the given key")
	media := fs.Bool("media", false, "walk L4/L5: publish a few seconds of the embedded sample (implies -publish)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	timeout := fs.Duration("timeout", 0, "bound the whole probe (default 10s, 40s with -media)")
	flashVer := fs.String("flashver", "", "connect's flashVer (default "+rtmp.DefaultFlashVer+")")
	simple := fs.Bool("simple-handshake", false, "start with a simple handshake instead of a digest one")
	noBisect := fs.Bool("no-bisect", false, "do not retry with other handshakes, flashVers or names")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: fmspush probe [-publish] [-media] [-json] [-timeout 10s] rtmp://host/app/key")
		return 2
	}
	opts := prober.Options{Publish: *publish, Media: *media, Timeout: *timeout, NoBisect: *noBisect,
		Session: rtmp.PublishOptions{FlashVer: *flashVer, SimpleHandshake: *simple}}
	res, err := prober.Probe(context.Background(), fs.Arg(0), opts)
	if err != nil {
		fmt.Fprintln(stderr, "fmspush probe:", redact.Text(err.Error()))
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		fmt.Fprint(stdout, res.String())
	}
	if res.OK() {
		return 0
	}
	return 1
}

// probeStyle is how a path connects, so that its standby probe asks the
// target what the path itself would ask.
type probeStyle struct {
	session rtmp.PublishOptions
}

// probeFFmpegLike connects like ffmpeg: digest handshake, ffmpeg's flashVer
// unless the stream overrides it.
func probeFFmpegLike(st config.Stream) probeStyle {
	return probeStyle{session: rtmp.PublishOptions{FlashVer: st.RTMP.FlashVer, App: st.RTMP.App, StreamName: st.RTMP.PlayPath,
		TCURL: st.RTMP.TCURL, TLSConfig: streamTLS(st)}}
}

// probeNative connects with the native path's own session settings.
func probeNative(st config.Stream) probeStyle { return probeStyle{session: publishOptions(st)} }

// prober returns the standby probe of a path: up to probe_depth, never
// publishing on the live key (L3 and deeper go to probe_target), and never
// more often than the per-host limiter allows.
func (s *service) prober(st config.Stream, style probeStyle) supervisor.ProbeFunc {
	depth := st.Failover.ProbeDepth.Level()
	url := st.Target
	if depth >= 3 {
		url = st.Failover.ProbeTarget
	}
	host := redact.Host(st.Target)
	return func(ctx context.Context) health.ProbeSummary {
		if ok, _ := s.limiter.TryTake(host, st.Failover.AttemptsPerMinute); !ok {
			return health.ProbeSummary{At: time.Now(), Skipped: true}
		}
		opts := prober.Options{Session: style.session, NoBisect: true, Publish: depth >= 3, Media: depth >= 4, Sign: st.Signer()}
		res, err := prober.Probe(ctx, url, opts)
		if err != nil {
			v := &health.Verdict{Layer: health.LayerNetwork, Cause: "bad_url", Detail: redact.Text(err.Error()), At: time.Now()}
			return health.ProbeSummary{At: time.Now(), Verdict: v}
		}
		return summarize(res, depth)
	}
}

// summarize turns a probe result into the status's summary.
func summarize(res *prober.Result, depth int) health.ProbeSummary {
	sum := health.ProbeSummary{At: time.Now(), OK: res.OK(), Depth: health.Layer(depth + 1), Duration: res.Elapsed, Verdict: res.Verdict}
	for _, l := range res.Layers {
		if l.Status == prober.StatusSkipped {
			continue
		}
		note := l.Tried
		if l.Server != "" {
			note += "; server: " + l.Server
		}
		sum.Layers = append(sum.Layers, health.LayerSummary{Layer: l.Layer, OK: l.Status == prober.StatusOK, Duration: l.Elapsed, Note: note})
	}
	return sum
}
