// Package prober is fmspush's active RTMP prober: it walks the layers L0-L5
// of a target the way a push would, bisects what the server wants, and
// reports one result per layer with the verdict of the first failure.
package prober

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/redact"
	"github.com/fmspush/fmspush/rtmp"
	"github.com/fmspush/fmspush/signurl"
)

// Probe defaults.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultMediaTimeout  = 40 * time.Second
	DefaultMediaDuration = 6 * time.Second // longer than the usual 5 s ack timeout
	// AltFlashVer is the non-FMLE flashVer the probe bisects with (a Flash player's).
	AltFlashVer = "LNX 9,0,124,2"
)

// Layer result statuses.
const (
	StatusOK      = "ok"
	StatusFail    = "fail"
	StatusSkipped = "skipped"
)

// Options configure Probe.
type Options struct {
	// Publish walks L3 (releaseStream, FCPublish, createStream, publish, then
	// FCUnpublish). Without it (and without Media) the probe stops after
	// connect and never publishes: safe on a live key.
	Publish bool
	// Media publishes MediaDuration of the embedded sample in real time to
	// test L4 (upkeep) and L5 (media). It implies Publish.
	Media bool
	// Timeout bounds the whole probe (DefaultTimeout, or
	// DefaultMediaTimeout with Media).
	Timeout time.Duration
	// MediaDuration is how long media is sent (DefaultMediaDuration).
	MediaDuration time.Duration
	// Session is the base of every attempt: flashVer, handshake, overrides, TLS.
	Session rtmp.PublishOptions
	// NoBisect skips the extra attempts that find out what the server wants.
	NoBisect bool
	// Sign, when set, signs the URL afresh right before every connection of
	// the probe, replacing any signature it carries (nil: the URL is used
	// as written).
	Sign *signurl.Auth
}

func (o *Options) defaults() {
	if o.Media {
		o.Publish = true
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
		if o.Media {
			o.Timeout = DefaultMediaTimeout
		}
	}
	if o.MediaDuration <= 0 {
		o.MediaDuration = DefaultMediaDuration
	}
	if o.Session.FlashVer == "" {
		o.Session.FlashVer = rtmp.DefaultFlashVer
	}
}

// LayerResult is what the probe learned at one layer.
type LayerResult struct {
	Layer  health.Layer `json:"layer"`
	Status string       `json:"status"` // ok, fail, skipped
	Tried  string       `json:"tried,omitempty"`
	Server string       `json:"server,omitempty"` // what the server did
	// Elapsed is how long the layer's step took (0 when unknown).
	Elapsed time.Duration `json:"elapsed_ns,omitempty"`
	// TimeToRST is when the server closed or reset: since dial for L0-L3,
	// since Publish.Start for L4, since the first coded frame for L5.
	TimeToRST time.Duration `json:"time_to_rst_ns,omitempty"`
}

// Result is the outcome of a probe: one result per layer L0-L5, what
// the bisection found out, and the verdict of the first failure (nil when
// every walked layer is ok).
type Result struct {
	URL      string          `json:"url"` // redacted
	Layers   []LayerResult   `json:"layers"`
	Findings []string        `json:"findings,omitempty"`
	Verdict  *health.Verdict `json:"verdict,omitempty"`
	Elapsed  time.Duration   `json:"elapsed_ns"`
}

// OK reports whether no walked layer failed.
func (r *Result) OK() bool { return r.Verdict == nil }

// Layer returns the result of layer l (L0-L5).
func (r *Result) Layer(l health.Layer) *LayerResult {
	for i := range r.Layers {
		if r.Layers[i].Layer == l {
			return &r.Layers[i]
		}
	}
	return nil
}

// String renders one line per layer, the findings and the verdict.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "probe %s (%dms)\n", r.URL, r.Elapsed.Milliseconds())
	for _, l := range r.Layers {
		fmt.Fprintf(&b, "%-3s %-9s %-7s", l.Layer, l.Layer.Title(), l.Status)
		if l.Elapsed > 0 {
			fmt.Fprintf(&b, " %5dms", l.Elapsed.Milliseconds())
		}
		if l.Tried != "" {
			fmt.Fprintf(&b, "  tried: %s", l.Tried)
		}
		if l.Server != "" {
			fmt.Fprintf(&b, "  server: %s", l.Server)
		}
		if l.TimeToRST > 0 {
			fmt.Fprintf(&b, "  (closed %dms after %s)", l.TimeToRST.Milliseconds(), rstFrom(l.Layer))
		}
		b.WriteByte('\n')
	}
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "finding: %s\n", f)
	}
	if r.Verdict != nil {
		fmt.Fprintf(&b, "verdict: %s\n", r.Verdict.Error())
	} else {
		b.WriteString("verdict: ok\n")
	}
	return b.String()
}

func rstFrom(l health.Layer) string {
	switch l {
	case health.LayerUpkeep:
		return "publish"
	case health.LayerMedia:
		return "the first frame"
	}
	return "dial"
}

// walker runs one probe; it is used by one goroutine.
type walker struct {
	url  string
	opts Options
	res  *Result
}

// Probe walks the layers of an RTMP target the way a push would, one
// connection per attempt, and bisects what the server wants: a digest or a
// simple handshake, an FMLE or another flashVer, the publish name with or
// without its query and, for L5, media with or without audio and with full or
// minimal metadata. Without Publish (or Media) it never publishes. The error
// is non-nil only for a URL that cannot be parsed; failures of the target are
// in the result.
func Probe(ctx context.Context, rawURL string, opts Options) (*Result, error) {
	if _, err := rtmp.ParseURL(rawURL); err != nil {
		return nil, err
	}
	if opts.Sign != nil {
		if _, err := opts.Sign.Sign(rawURL, time.Now()); err != nil {
			return nil, fmt.Errorf("prober: %s: %w", redact.URL(rawURL), err)
		}
	}
	opts.defaults()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	start := time.Now()
	p := &walker{url: rawURL, opts: opts, res: &Result{URL: redact.URL(rawURL)}}
	for l := health.LayerNetwork; l <= health.LayerMedia; l++ {
		p.res.Layers = append(p.res.Layers, LayerResult{Layer: l, Status: StatusSkipped})
	}
	p.run(ctx)
	p.res.Elapsed = time.Since(start)
	return p.res, nil
}

func (p *walker) layer(l health.Layer) *LayerResult { return p.res.Layer(l) }

// target is the URL a connection made now dials: the probe's URL, signed
// afresh when Options.Sign is set (Probe checked that it signs). The
// publisher's redaction is built from the URL it dials, so the signature's
// values are masked in what the result keeps of errors and server words.
func (p *walker) target() string {
	if p.opts.Sign == nil {
		return p.url
	}
	signed, err := p.opts.Sign.Sign(p.url, time.Now())
	if err != nil {
		return p.url // not reached: Probe signed this URL before the walk
	}
	return signed
}

func (p *walker) find(format string, args ...any) {
	p.res.Findings = append(p.res.Findings, redact.Text(fmt.Sprintf(format, args...)))
}

// fail records the first failure as the verdict.
func (p *walker) fail(re *rtmp.Error) {
	lr := p.layer(re.Layer)
	if lr != nil {
		lr.Status = StatusFail
		lr.Server = describe(re)
		lr.TimeToRST = rstTime(re)
	}
	if p.res.Verdict == nil {
		v := re.Verdict()
		v.Path = "probe"
		if lr != nil && v.Detail == "" {
			v.Detail = lr.Server
		}
		p.res.Verdict = v
	}
}

func (p *walker) run(ctx context.Context) {
	sess := p.walkConnect(ctx)
	if sess == nil {
		return
	}
	if !p.opts.Publish {
		sess.Close()
		p.layer(health.LayerPublish).Tried = "nothing: publishing was not asked for"
		return
	}
	if !p.walkPublish(ctx, sess) {
		return
	}
	if !p.opts.Media {
		sess.Close()
		return
	}
	p.walkMedia(ctx, sess)
}

func asRTMP(err error) *rtmp.Error {
	var re *rtmp.Error
	if errors.As(err, &re) {
		return re
	}
	return rtmp.NewError(health.LayerUnknown, "unclassified", err)
}

// describe says what the server did in a few words.
func describe(re *rtmp.Error) string {
	s := re.Cause
	switch {
	case re.ServerWords != "":
		s = "answered " + re.ServerWords
	case rtmp.IsReset(re):
		s = "reset the connection (RST)"
	case strings.HasSuffix(re.Cause, "_closed"), strings.HasPrefix(re.Cause, "reset_after"):
		s = "closed the connection"
	case strings.HasSuffix(re.Cause, "_timeout"):
		s = "did not answer in time"
	case re.Cause == "connection_refused":
		s = "refused the connection"
	}
	return s
}

func rstTime(re *rtmp.Error) time.Duration {
	if re.ServerWords != "" || strings.HasSuffix(re.Cause, "_timeout") {
		return 0
	}
	switch {
	case re.Layer == health.LayerMedia && re.SinceFirstFrame >= 0:
		return re.SinceFirstFrame
	case re.Layer == health.LayerUpkeep && re.SincePublish >= 0:
		return re.SincePublish
	case re.Layer >= health.LayerHandshake && re.Layer <= health.LayerPublish && re.SinceDial > 0:
		return re.SinceDial
	}
	return 0
}
