package fmsim

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"sort"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/redact"
	"github.com/fmspush/fmspush/rtmp"
)

// handshakeTimeout bounds the handshake of one session.
const handshakeTimeout = 10 * time.Second

// session is one client connection. Its run loop owns all of its state; one
// reader goroutine feeds it messages.
type session struct {
	srv  *Server
	ctx  context.Context
	log  hclog.Logger
	nc   net.Conn
	conn *rtmp.Conn
	tr   *transcript
	info SessionInfo

	in        chan *rtmp.Message
	readErr   chan error
	kick      chan struct{} // Server.Reset
	done      chan struct{}
	readerOut chan struct{}

	deadlines map[string]time.Time
	timer     *time.Timer

	sawRelease, sawFCPublish, unpublished bool
	lastAckOut                            uint64
	lastAckIn                             uint64 // BytesRead when the client was last acknowledged
	videoSeq, audioSeq, audioSeen         bool
	nalLen                                int
	lastKeyTS                             uint32 // media time of the last keyframe
	sawKey                                bool
	stallVerdict                          *Outcome
	verdict                               *Outcome
	holds                                 string // the bare stream name this session publishes
	peerClose                             string // PeerFIN or PeerRST once the client ended the connection
	// reconnectAsked is the reconnect_request_after/reconnect_tcurl pair the
	// session acted on ("" before): a change of either asks again.
	reconnectAsked string
}

// peerCheckInterval is how often a stalled session, which does not read,
// looks at its socket for the client's FIN or RST.
const peerCheckInterval = 50 * time.Millisecond

func newSession(srv *Server, id int, nc net.Conn) *session {
	now := time.Now()
	return &session{
		srv: srv, nc: nc,
		log:       srv.Logger.With("session", id),
		info:      SessionInfo{ID: id, Remote: nc.RemoteAddr().String(), Accepted: now},
		in:        make(chan *rtmp.Message),
		readErr:   make(chan error, 1),
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		readerOut: make(chan struct{}),
		deadlines: map[string]time.Time{},
		nalLen:    4,
	}
}

func (s *session) rules() *Rules { return s.srv.rules.Load() }

// run is the session: handshake, then the loop until a verdict.
func (s *session) run(ctx context.Context) {
	tr, err := openTranscript(s.srv.TranscriptDir, s.info.ID, s.info.Accepted)
	if err != nil {
		s.log.Warn("transcript", "error", err)
	}
	s.tr = tr
	if tr != nil {
		s.info.Transcript = tr.path
	}
	s.publish()
	s.ctx = ctx
	// Close interrupts whatever blocks: a silent handshake, a write to a client that does not read.
	stop := context.AfterFunc(ctx, func() { _ = s.nc.SetDeadline(time.Now()) })
	defer stop()
	if !s.handshake(ctx) {
		s.finish(false)
		return
	}
	s.conn = rtmp.NewConn(s.nc, rtmp.ConnOptions{})
	go s.readLoop()
	s.loop(ctx)
	s.finish(true)
}

func (s *session) handshake(ctx context.Context) bool {
	_ = s.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	res, err := rtmp.ServerHandshake(s.nc, rtmp.ServerHandshakeOptions{RequireDigest: s.rules().RequireDigest})
	_ = s.nc.SetDeadline(time.Time{})
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	s.info.Handshake = HandshakeInfo{Version: hex.EncodeToString(res.ClientVersion[:]), Digest: res.ClientDigest, Scheme: res.Scheme}
	s.tr.write(Entry{Dir: "in", TypeName: "C0C1", Handshake: &s.info.Handshake})
	switch {
	case err == nil && ctx.Err() == nil:
		return true
	case ctx.Err() != nil:
		s.end(Outcome{Layer: health.LayerHandshake, Cause: "server_closed", Action: ActionClose})
	case errors.Is(err, rtmp.ErrDigestRequired):
		s.end(Outcome{Layer: health.LayerHandshake, Rule: "require_digest", Cause: "digest_missing",
			Action: ActionClose, Detail: "C1 carries no valid digest; closed after C1"})
	default:
		s.peerClose = peerCloseOf(err)
		s.end(Outcome{Layer: health.LayerHandshake, Cause: "handshake_failed", Action: ActionNone, Detail: err.Error()})
	}
	return false
}

func (s *session) readLoop() {
	defer close(s.readerOut)
	for {
		m, err := s.conn.ReadMessage()
		if err != nil {
			select {
			case s.readErr <- err:
			case <-s.done:
			}
			return
		}
		select {
		case s.in <- m:
		case <-s.done:
			return
		}
	}
}

func (s *session) loop(ctx context.Context) {
	s.timer = time.NewTimer(time.Hour)
	defer s.timer.Stop()
	s.rearm()
	rulesCh := s.srv.rulesChangedCh()
	for s.verdict == nil {
		in := s.in
		if s.info.Stalled {
			in = nil
		}
		select {
		case m := <-in:
			s.handle(m)
		case err := <-s.readErr:
			s.clientGone(err)
		case <-s.timer.C:
			s.fireDeadlines()
		case <-rulesCh:
			rulesCh = s.srv.rulesChangedCh()
			s.armFaults()
		case <-s.kick:
			s.end(Outcome{Layer: s.layer(), Rule: "reset", Cause: "reset", Action: ActionRST, Detail: "Server.Reset"})
		case <-ctx.Done():
			s.end(Outcome{Cause: "server_closed", Action: ActionClose, Layer: s.layer()})
		}
		s.publish()
	}
}

// layer is where the session is: the layer a client-side end happened at.
func (s *session) layer() health.Layer {
	switch {
	case s.info.ConnectedAt.IsZero():
		return health.LayerConnect
	case !s.info.Published():
		return health.LayerPublish
	case s.info.FirstFrameAt.IsZero():
		return health.LayerUpkeep
	}
	return health.LayerMedia
}

func (s *session) clientGone(err error) {
	if s.ctx.Err() != nil {
		s.end(Outcome{Cause: "server_closed", Action: ActionClose, Layer: s.layer()})
		return
	}
	s.peerClose = peerCloseOf(err)
	cause := "client_closed"
	if s.unpublished {
		cause = "unpublished"
	} else if !isClosed(err) {
		cause = "client_error"
	}
	detail, layer := redact.Text(err.Error()), s.layer()
	if s.info.Stalled {
		detail = "closed by the client while the server did not read (stall_after_publish): " + detail
		layer = health.LayerUpkeep // where the stall verdict is
	}
	s.end(Outcome{Layer: layer, Cause: cause, Action: ActionNone, Detail: detail})
}

// peerCloseOf tells, from a read error, whether the client closed (FIN) or
// reset (RST) the connection; "" for anything else (our own close, garbage).
func peerCloseOf(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
		return PeerRST
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return PeerFIN
	}
	return ""
}

// checkPeer, while the session is stalled (not reading), looks at the socket
// for the client's FIN or RST: a client that gave up on a stalled server
// ends the session (and frees its stream name) within peerCheckInterval.
func (s *session) checkPeer() {
	if !s.info.Stalled {
		return
	}
	how := peerGone(s.nc)
	if how == "" {
		s.after("peer_check", peerCheckInterval)
		return
	}
	s.peerClose = how
	what := map[string]string{PeerFIN: "closed (FIN)", PeerRST: "reset (RST)"}[how]
	s.end(Outcome{Layer: health.LayerUpkeep, Cause: "client_closed", Action: ActionNone,
		Detail: "the client " + what + " the connection while the server did not read (stall_after_publish)"})
}

// isClosed reports whether err means the peer went away (as opposed to
// sending something unreadable).
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// end records the verdict; the loop then stops and finish acts on it.
func (s *session) end(v Outcome) {
	if s.verdict != nil {
		return
	}
	if s.stallVerdict != nil && v.Rule == "" && s.peerClose == "" {
		v = *s.stallVerdict // a stalled session the server closes ends for the stall
	}
	now := time.Now()
	v.At = now
	if v.Offending.IsZero() {
		v.Offending = now
	}
	v.SincePublish = since(s.info.PublishedAt, now)
	v.SinceFirstFrame = since(s.info.FirstFrameAt, now)
	s.verdict = &v
}

func since(t, now time.Time) time.Duration {
	if t.IsZero() {
		return -1
	}
	return now.Sub(t)
}

// finish carries out the verdict's action, stops the reader and publishes the end.
func (s *session) finish(readerStarted bool) {
	v := s.verdict
	if v.Action == ActionRST {
		if tc, ok := s.nc.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}
	_ = s.nc.Close()
	s.releaseName()
	close(s.done)
	if readerStarted {
		<-s.readerOut
	}
	v.ClosedBy, v.PeerClose = ClosedByServer, ""
	if s.peerClose != "" {
		v.ClosedBy, v.PeerClose = ClosedByClient, s.peerClose
	}
	s.info.Ended, s.info.EndedAt, s.info.Verdict = true, v.At, v
	s.tr.write(Entry{Dir: "end", Verdict: v})
	s.tr.close()
	s.publish()
	s.log.Info("session ended", "remote", s.info.Remote, "layer", v.Layer.String(), "rule", v.Rule, "cause", v.Cause,
		"action", v.Action, "detail", redact.Text(v.Detail), "video_frames", s.info.VideoFrames,
		"audio_frames", s.info.AudioFrames)
}

// releaseName frees the stream name this session publishes, if it holds one.
func (s *session) releaseName() {
	if s.holds != "" {
		s.srv.releaseName(s.holds, s.info.ID)
		s.holds = ""
	}
}

// publish stores the current snapshot on the server.
func (s *session) publish() {
	if s.conn != nil && !s.info.Stalled {
		// Frozen while stalled: the reader goroutine's read-ahead (one
		// message) is not taken by the session.
		s.info.BytesIn, s.info.BytesOut = s.conn.BytesRead(), s.conn.BytesWritten()
	}
	s.srv.update(s.info)
}

// --- deadlines -------------------------------------------------------------

func (s *session) at(key string, t time.Time) {
	s.deadlines[key] = t
	s.rearm()
}

func (s *session) after(key string, d time.Duration) { s.at(key, time.Now().Add(d)) }

func (s *session) cancel(key string) {
	if _, ok := s.deadlines[key]; ok {
		delete(s.deadlines, key)
		s.rearm()
	}
}

func (s *session) armed(key string) bool { _, ok := s.deadlines[key]; return ok }

func (s *session) rearm() {
	if s.timer == nil {
		return
	}
	var first time.Time
	for _, t := range s.deadlines {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if first.IsZero() {
		s.timer.Stop()
		return
	}
	s.timer.Reset(max(time.Until(first), 0))
}

func (s *session) fireDeadlines() {
	now := time.Now()
	var due []string
	for k, t := range s.deadlines {
		if !t.After(now) {
			due = append(due, k)
		}
	}
	sort.Slice(due, func(i, j int) bool { return s.deadlines[due[i]].Before(s.deadlines[due[j]]) })
	for _, k := range due {
		delete(s.deadlines, k)
		s.onDeadline(k)
		if s.verdict != nil {
			return
		}
	}
	s.rearm()
}

func (s *session) onDeadline(key string) {
	switch key {
	case "ping":
		s.sendPing()
	case "ping_timeout":
		s.end(Outcome{Layer: health.LayerUpkeep, Rule: "ping_timeout", Cause: "ping_timeout", Action: ActionRST,
			Detail: "no PingResponse within " + s.rules().PingTimeout.String()})
	case "ack_timeout":
		s.end(Outcome{Layer: health.LayerUpkeep, Rule: "require_acks", Cause: "ack_timeout", Action: ActionRST,
			Detail: "no Acknowledgement within " + s.rules().ackTimeout().String() + " of crossing the window"})
	case "audio_within":
		if !s.audioSeen {
			s.violate("audio_within", "audio_missing", "no audio within "+s.rules().AudioWithin.String()+" of the first video frame")
		}
	case "violation":
		v := *s.info.Violation
		v.Action = ActionRST
		s.end(v)
	case "peer_check":
		s.checkPeer()
	default:
		s.onFault(key)
	}
}

func (s *session) onFault(key string) {
	switch key {
	case "rst_after_media":
		s.end(Outcome{Layer: health.LayerMedia, Rule: key, Cause: key, Action: ActionRST, Detail: "fault injection"})
	case "rst_after_first_frame":
		s.end(Outcome{Layer: health.LayerMedia, Rule: key, Cause: key, Action: ActionRST, Detail: "fault injection"})
	case "reconnect_request_after":
		s.sendReconnectRequest()
	case "close_after_publish":
		s.end(Outcome{Layer: health.LayerUpkeep, Rule: key, Cause: "closed_after_publish", Action: ActionClose, Detail: "fault injection"})
	case "stall_after_publish":
		s.info.Stalled = true
		s.cancel("ping")
		s.cancel("ping_timeout")
		s.cancel("ack_timeout")
		s.stallVerdict = &Outcome{Layer: health.LayerUpkeep, Rule: key, Cause: "stalled", Action: ActionStall,
			Detail: "fault injection: the server stopped reading", Offending: time.Now()}
		s.log.Info("stalled (fault injection)")
		s.after("peer_check", peerCheckInterval)
	}
}

// armFaults (re)arms the fault timers from the current rules and the
// session's anchors. A fault whose time already passed fires at once.
func (s *session) armFaults() {
	r := s.rules()
	on := r.faultApplies(s.info.FlashVer, s.info.StreamName) && s.info.Published()
	s.armFault("rst_after_media", on, r.RSTAfterMedia, s.info.FirstMediaAt)
	s.armFault("rst_after_first_frame", on, r.RSTAfterFirstFrame, s.info.FirstFrameAt)
	s.armFault("stall_after_publish", on && !s.info.Stalled, r.StallAfterPublish, s.info.PublishedAt)
	if s.info.Stalled && (!on || r.StallAfterPublish <= 0) {
		s.unstall()
	}
	s.armFault("close_after_publish", on, r.CloseAfterPublish, s.info.PublishedAt)
	asked := s.reconnectAsked == reconnectKey(r)
	s.armFault("reconnect_request_after", on && !asked, r.ReconnectRequestAfter, s.info.PublishedAt)
}

// reconnectKey names the reconnect rules a request was made for.
func reconnectKey(r *Rules) string {
	return r.ReconnectRequestAfter.String() + " " + r.ReconnectTCURL
}

// sendReconnectRequest asks the client to reconnect (Enhanced RTMP v2), to
// reconnect_tcurl when set, if its connect advertised the capability; the
// session then goes on as before until the client ends it.
func (s *session) sendReconnectRequest() {
	s.reconnectAsked = reconnectKey(s.rules())
	if !s.info.ReconnectCapable {
		s.info.ReconnectWithheld = true
		s.tr.write(Entry{Dir: "out", TypeName: "withheld", Note: "reconnect_request_after: the client did not advertise capsEx Reconnect"})
		s.log.Info("reconnect request withheld: the client did not advertise it", "capsex", s.info.CapsEx)
		return
	}
	info := status("status", rtmp.CodeReconnectRequest, "The streaming server is undergoing updates.")
	tcURL := s.rules().ReconnectTCURL
	if tcURL != "" {
		info = append(info, rtmp.AMFObjectEntry{Key: "tcUrl", Value: tcURL})
	}
	s.send(s.command(rtmp.CSIDCommand, 0, "onStatus", 0, nil, info))
	s.info.ReconnectRequestedAt = time.Now()
	s.info.ReconnectRequests++
	s.log.Info("reconnect requested (fault injection)", "tcurl", redact.URL(tcURL))
}

// unstall resumes reading once the stall rule is switched off.
func (s *session) unstall() {
	s.info.Stalled, s.stallVerdict = false, nil
	s.cancel("peer_check")
	if r := s.rules(); r.PingInterval > 0 {
		s.after("ping", r.PingInterval)
	}
	s.checkWindow()
	s.log.Info("reading again (stall rule off)")
}

func (s *session) armFault(key string, on bool, d time.Duration, anchor time.Time) {
	if !on || d <= 0 || anchor.IsZero() {
		s.cancel(key)
		return
	}
	s.at(key, anchor.Add(d))
}

// violate records a media-level violation (the first one wins) and answers it
// with a RST RSTDelay later.
func (s *session) violate(rule, cause, detail string) {
	if s.info.Violation != nil {
		return
	}
	now := time.Now()
	s.info.Violation = &Outcome{Layer: health.LayerMedia, Rule: rule, Cause: cause, Action: ActionRST,
		Detail: detail, Offending: now, SincePublish: since(s.info.PublishedAt, now),
		SinceFirstFrame: since(s.info.FirstFrameAt, now)}
	s.tr.write(Entry{Dir: "in", TypeName: "violation", Note: rule + ": " + detail})
	s.log.Info("media violation", "rule", rule, "cause", cause, "detail", redact.Text(detail))
	s.after("violation", s.rules().RSTDelay)
}
