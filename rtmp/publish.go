package rtmp

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/redact"
)

// Defaults of PublishOptions.
const (
	DefaultFlashVer          = "FMLE/3.0 (compatible; FMSc/1.0)"
	DefaultOutChunkSize      = 4096
	DefaultStepTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultCloseTimeout      = 2 * time.Second
	DefaultMediaRejectWindow = time.Second
	DefaultPublishType       = "live"
)

// Transaction ids of the publish sequence, as ffmpeg numbers them.
const (
	tidConnect       = 1
	tidReleaseStream = 2
	tidFCPublish     = 3
	tidCreateStream  = 4
	tidPublish       = 5
)

// PublishOptions configure Dial. The zero value publishes like ffmpeg with an
// FMLE flashVer, a digest handshake and 4096-byte chunks.
type PublishOptions struct {
	// App, StreamName and TCURL override what ParseURL took from the URL.
	App, StreamName, TCURL string
	// FlashVer is connect's flashVer (DefaultFlashVer if empty).
	FlashVer string
	// SwfURL and PageURL are added to connect when set.
	SwfURL, PageURL string
	// SimpleHandshake sends a version-0 C1 without digest.
	SimpleHandshake bool
	// HandshakeVersion is C1's version when not simple (DefaultClientVersion if zero).
	HandshakeVersion [4]byte
	// ChunkSize is sent with SetChunkSize after connect (DefaultOutChunkSize if 0).
	ChunkSize uint32
	// HeaderPolicy chooses chunk header types (HeaderAuto by default).
	HeaderPolicy HeaderPolicy
	// PublishType is publish's third argument (DefaultPublishType if empty).
	PublishType string
	// H265 chooses Enhanced RTMP (default) or legacy codec id 12 for H.265.
	H265 media.HEVCMode
	// TLSConfig is used for rtmps; ServerName defaults to the URL's host (SNI).
	TLSConfig *tls.Config
	// StepTimeout bounds each setup step (dial, handshake, connect, publish)
	// on top of the context's deadline (DefaultStepTimeout if 0).
	StepTimeout time.Duration
	// WriteTimeout bounds each socket write (DefaultWriteTimeout if 0): a
	// write during which the server's TCP acknowledges nothing for this
	// long, after publish, fails the session as L4 "stalled".
	WriteTimeout time.Duration
	// CloseTimeout bounds how long Close waits for the server to close after
	// FCUnpublish and deleteStream (DefaultCloseTimeout if 0).
	CloseTimeout time.Duration
	// MediaRejectWindow: a close or reset this soon after the first coded
	// frame (or, before any, the first metadata/sequence header) is
	// classified L5, later ones L4 (DefaultMediaRejectWindow if 0).
	MediaRejectWindow time.Duration
	// Dialer dials TCP (a zero net.Dialer if nil).
	Dialer *net.Dialer
	// AckWindow, when positive, is sent to the server as our Window
	// Acknowledgement Size after connect: servers that honour it (nginx-rtmp,
	// SRS, FMS) then acknowledge every AckWindow bytes their application
	// reads, evidence of delivery that no kernel buffer blurs. 0 asks
	// nothing (ffmpeg asks nothing).
	AckWindow uint32
	// OnStatus, if set, is called from the reader goroutine with every
	// onStatus the server sends after NetStream.Publish.Start.
	OnStatus func(StatusInfo)
	// Reconnect advertises Enhanced RTMP v2's reconnect capability in
	// connect (capsEx with CapsExReconnect): the server may then send
	// NetConnection.Connect.ReconnectRequest, which the session keeps for
	// its owner (TakeReconnectRequest, signalled by Wake). Off, nothing is
	// advertised (as ffmpeg 5.1) and a request is ignored.
	Reconnect bool
}

func (o *PublishOptions) defaults() {
	if o.FlashVer == "" {
		o.FlashVer = DefaultFlashVer
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = DefaultOutChunkSize
	}
	if o.PublishType == "" {
		o.PublishType = DefaultPublishType
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = DefaultStepTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	if o.MediaRejectWindow <= 0 {
		o.MediaRejectWindow = DefaultMediaRejectWindow
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{}
	}
}

// Stats are a Publisher's counters.
type Stats struct {
	BytesWritten  uint64 // bytes written after the handshake
	BytesRead     uint64 // bytes read after the handshake
	VideoFrames   int64  // video messages written (sequence headers included)
	AudioFrames   int64  // audio messages written (sequence headers included)
	AcksReceived  int64  // the server's Acknowledgements
	LastAck       uint32 // the server's last Acknowledgement sequence number
	AcksSent      int64  // our Acknowledgements
	PingsAnswered int64  // our PingResponses
	LastTimestamp uint32 // the last media timestamp written, ms
}

// Publisher is a client publish session: Dial walks L0-L3 (network,
// handshake, connect, publish), then the Write methods send media on the
// stream id the server returned. One reader goroutine reads acks, pings,
// SetChunkSize and a ReconnectRequest (TakeReconnectRequest) and watches
// for the server closing; its failure is kept as
// an *Error (Err, Done) and returned by the next write. The reader never
// writes: the socket's write side has one owner, the goroutine that calls
// the Write methods, Service and Close. It must call Service when Wake
// fires (acks and PingResponses queued by the reader) and after the units
// it buffered (BufferUnit). Frames must be given in timestamp order.
type Publisher struct {
	scratch   []byte // the tag body of the unit being written; owner-only
	opts      PublishOptions
	target    *Target
	conn      *Conn
	hs        HandshakeResult
	streamID  uint32
	dialAt    time.Time
	publishAt atomic.Int64 // unix ns, 0 until NetStream.Publish.Start
	firstAt   atomic.Int64 // unix ns of the first media message, 0 until then
	// firstFrameAt is the unix ns of the first coded frame, 0 until then.
	firstFrameAt atomic.Int64
	step         atomic.Uint32
	cmds         chan *Command
	done         chan struct{}
	closing      atomic.Bool
	errMu        sync.Mutex
	err          *Error
	words        atomic.Pointer[string]
	video        atomic.Int64
	audio        atomic.Int64
	lastTS       atomic.Uint32
	nextTID      atomic.Int64
	closeOnce    sync.Once
	steps        [health.LayerPublish + 1]time.Duration
	connected    StatusInfo                       // connect's _result info
	fmsVer       string                           // connect's _result fmsVer, if any
	published    StatusInfo                       // the Publish.Start info
	authQuery    string                           // publish authentication after the app and tcUrl in connect ("" without)
	rejected     *string                          // the description of connect's rejection, raw, if it was rejected
	reconnect    atomic.Pointer[ReconnectRequest] // the server's last ReconnectRequest, until taken

	secrets    *redact.Secrets // the key, play path and query values, masked in every text kept
	tcp        *net.TCPConn    // the TCP socket under TLS and wrappers: delivery evidence, linger
	quick      setupEnder      // the quick-ack wrapper, told when the setup is over (nil: none)
	sentBase   uint64          // TCP's byte count at BytesWritten 0; owner-only
	calibrated bool
}

// Dial connects to rawURL and publishes: TCP (and TLS for rtmps), handshake,
// connect, SetChunkSize, releaseStream + FCPublish + createStream, publish on
// the returned stream id, and waits for NetStream.Publish.Start. ctx bounds
// Dial only; every step also has opts.StepTimeout. Failures are *Error with
// the layer of the step that failed. Dial is Connect followed by Publish.
func Dial(ctx context.Context, rawURL string, opts PublishOptions) (*Publisher, error) {
	p, err := Connect(ctx, rawURL, opts)
	if err != nil {
		return nil, err
	}
	if err := p.Publish(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Connect walks L0-L2 only (network, handshake, connect and SetChunkSize)
// and returns a session that has not published anything: call Publish, or
// Close, which then just closes. Probes use it to stay off a live key.
//
// A URL with user:password ("rtmp://user:pass@host/app/key") answers a
// server's publish authentication (authmod=adobe or llnw, auth.go) as
// libavformat does, in at most three connects; a refused password is L3
// CauseAuthFailed, a server asking for credentials the URL lacks L3
// CauseAuthRequired.
func Connect(ctx context.Context, rawURL string, opts PublishOptions) (*Publisher, error) {
	opts.defaults()
	auth := newClientAuth(rawURL)
	first := time.Now()
	// sinceFirst: a failure's time since the dial is since the first
	// connect's, as ffmpeg's is.
	sinceFirst := func(err error) error {
		if e, ok := err.(*Error); ok && e.SinceDial >= 0 {
			e.SinceDial = time.Since(first)
		}
		return err
	}
	for {
		p, err := connectOnce(ctx, rawURL, opts, auth.query)
		if err == nil {
			return p, nil
		}
		if p == nil || p.rejected == nil {
			return nil, sinceFirst(err)
		}
		query, cause, why := auth.next(*p.rejected, p.target.App)
		switch {
		case cause != "":
			return nil, sinceFirst(p.newError(health.LayerPublish, cause, why))
		case query == "":
			return nil, sinceFirst(err)
		}
		auth.query = query
	}
}

// connectOnce is one connection's walk of L0-L2, with authQuery after the
// app and the tcUrl. On failure it returns the aborted session too (nil for
// a bad URL), whose rejected description Connect reads.
func connectOnce(ctx context.Context, rawURL string, opts PublishOptions, authQuery string) (*Publisher, error) {
	p := &Publisher{opts: opts, dialAt: time.Now(), cmds: make(chan *Command, 64), done: make(chan struct{}),
		authQuery: authQuery}
	p.nextTID.Store(tidPublish)
	p.secrets = redact.NewSecrets("", rawURL, opts.StreamName)
	t, err := ParseURL(rawURL)
	if err != nil {
		return nil, p.newError(health.LayerNetwork, "bad_url", err)
	}
	p.applyOverrides(t)
	if err := p.setup(ctx); err != nil {
		return p, err
	}
	return p, nil
}

// Publish walks L3 on a connected session: releaseStream, FCPublish,
// createStream, publish, and waits for NetStream.Publish.Start. On failure
// the connection is closed and the *Error returned (Close is then a no-op).
func (p *Publisher) Publish(ctx context.Context) error {
	if p.target.StreamName == "" {
		err := p.newError(health.LayerPublish, "no_stream_name", fmt.Errorf("%s has no stream name", p.target))
		p.abort()
		return err
	}
	nc := p.conn.NetConn()
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := p.publish(ctx); err != nil {
		p.abort()
		return err
	}
	p.markStep(health.LayerPublish)
	if err := p.awaitRefusal(ctx); err != nil {
		p.abort()
		return err
	}
	nc.SetWriteDeadline(time.Time{})
	if p.quick != nil {
		p.quick.endSetup()
	}
	return nil
}

// setupEnder is a connection wrapper that does something only during the
// setup's request/answer exchanges (quickAckConn).
type setupEnder interface{ endSetup() }

func (p *Publisher) applyOverrides(t *Target) {
	if p.opts.App != "" {
		t.App = p.opts.App
		t.TCURL = t.Scheme + "://" + net.JoinHostPort(t.Host, fmt.Sprint(t.Port)) + "/" + t.App
	}
	if p.opts.StreamName != "" {
		t.StreamName = p.opts.StreamName
	}
	if p.opts.TCURL != "" {
		t.TCURL = p.opts.TCURL
	}
	p.target = t
}

func (p *Publisher) setup(ctx context.Context) error {
	nc, err := p.dial(ctx)
	if err != nil {
		return err
	}
	p.markStep(health.LayerNetwork)
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := p.handshake(ctx, nc); err != nil {
		nc.Close()
		return err
	}
	p.markStep(health.LayerHandshake)
	p.conn = NewConn(nc, ConnOptions{AutoAck: true, DeferReplies: true, WriteTimeout: p.opts.WriteTimeout,
		HeaderPolicy: p.opts.HeaderPolicy})
	go p.readLoop()
	if err := p.connect(ctx); err != nil {
		p.abort()
		return err
	}
	p.markStep(health.LayerConnect)
	nc.SetDeadline(time.Time{})
	return nil
}

// markStep records when a layer's step completed.
func (p *Publisher) markStep(l health.Layer) {
	if int(l) < len(p.steps) {
		p.steps[l] = time.Since(p.dialAt)
	}
}

// StepDone is when (since dial) the step of layer l (L0-L3) completed, or 0
// if it has not. Read it after Connect or Publish returned.
func (p *Publisher) StepDone(l health.Layer) time.Duration {
	if int(l) < len(p.steps) {
		return p.steps[l]
	}
	return 0
}

// abort closes the connection after a failed setup and waits for the reader.
func (p *Publisher) abort() {
	p.closeOnce.Do(func() {
		p.closing.Store(true)
		p.conn.Close()
		<-p.done
	})
}

func (p *Publisher) stepContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, p.opts.StepTimeout)
}

func (p *Publisher) dial(ctx context.Context) (net.Conn, error) {
	p.step.Store(uint32(health.LayerNetwork))
	sctx, cancel := p.stepContext(ctx)
	defer cancel()
	nc, err := p.opts.Dialer.DialContext(sctx, "tcp", p.target.Addr())
	if err != nil {
		return nil, p.newError(health.LayerNetwork, dialCause(err), err)
	}
	p.tcp, _ = nc.(*net.TCPConn)
	nc = withQuickAck(nc)
	p.quick, _ = nc.(setupEnder)
	if p.target.Scheme != "rtmps" {
		return nc, nil
	}
	cfg := &tls.Config{}
	if p.opts.TLSConfig != nil {
		cfg = p.opts.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = p.target.Host
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(sctx); err != nil {
		nc.Close()
		return nil, p.newError(health.LayerNetwork, tlsCause(err), err)
	}
	return tc, nil
}

func dialCause(err error) string {
	switch netKind(err) {
	case "refused":
		return "connection_refused"
	case "timeout":
		return "dial_timeout"
	case "dns":
		return "dns_failed"
	case "canceled":
		return "canceled"
	}
	return "dial_failed"
}

func (p *Publisher) handshake(ctx context.Context, nc net.Conn) error {
	p.step.Store(uint32(health.LayerHandshake))
	deadline := time.Now().Add(p.opts.StepTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	res, err := ClientHandshake(nc, HandshakeOptions{Simple: p.opts.SimpleHandshake, Version: p.opts.HandshakeVersion})
	if err != nil {
		return p.newError(health.LayerHandshake, "handshake_"+netKind(err), err)
	}
	nc.SetDeadline(time.Time{})
	p.hs = res
	return nil
}

// Failure is an *Error for a failure the caller found on this session (a
// stall measured from the socket's accounting), with the session's timings
// and err redacted like the session's own errors.
func (p *Publisher) Failure(layer health.Layer, cause string, err error) *Error {
	return p.newError(layer, cause, err)
}

// newError builds an *Error with the session's timings and a redacted cause.
func (p *Publisher) newError(layer health.Layer, cause string, err error) *Error {
	e := &Error{Layer: layer, Cause: cause, Err: redactErr(err, p.secrets), SinceDial: time.Since(p.dialAt),
		SincePublish: health.NotReached, SinceFirstFrame: health.NotReached}
	if at := p.publishAt.Load(); at != 0 {
		e.SincePublish = time.Since(time.Unix(0, at))
	}
	if at := p.mediaAnchor(); at != 0 {
		e.SinceFirstFrame = time.Since(time.Unix(0, at))
	}
	if w := p.words.Load(); w != nil {
		e.ServerWords = p.secrets.Text(*w)
	}
	return e
}

func (p *Publisher) setWords(s StatusInfo) {
	w := s.String()
	p.words.Store(&w)
}

// mediaAnchor is when the first coded frame went out or, before any, the
// first media message (metadata, sequence header): what a media-level
// rejection answers. 0 before any media.
func (p *Publisher) mediaAnchor() int64 {
	if at := p.firstFrameAt.Load(); at != 0 {
		return at
	}
	return p.firstAt.Load()
}

// fail records the session's first terminal error and returns the recorded
// one. A reset replaces a plain close of the same layer: when the writer
// consumes the socket's ECONNRESET, the reader then sees only EOF.
func (p *Publisher) fail(e *Error) *Error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	if p.err == nil || (p.err.Layer == e.Layer && !IsReset(p.err) && IsReset(e)) {
		p.err = e
	}
	return p.err
}

// Err is the session's terminal error (an *Error), or nil while it is healthy.
func (p *Publisher) Err() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	if p.err == nil {
		return nil
	}
	return p.err
}

// Done is closed when the reader goroutine stops: the server closed or reset
// the connection, or Close was called.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// connectionError classifies a read or write failure by the step or the
// timing it happened at.
func (p *Publisher) connectionError(err error) *Error {
	kind := netKind(err)
	step := health.Layer(p.step.Load())
	if p.publishAt.Load() == 0 {
		return p.newError(step, step.Title()+"_"+kind, err)
	}
	if e := p.refusedPublish(kind, err); e != nil {
		return e
	}
	if kind == "timeout" {
		return p.newError(health.LayerUpkeep, "stalled", fmt.Errorf("the server took nothing for %v: %w", p.opts.WriteTimeout, err))
	}
	if at := p.mediaAnchor(); at != 0 && time.Since(time.Unix(0, at)) <= p.opts.MediaRejectWindow {
		return p.newError(health.LayerMedia, "reset_after_first_frame", err)
	}
	return p.newError(health.LayerUpkeep, "reset_after_publish", err)
}
