package nativepath

import (
	"context"
	"errors"
	"time"

	"github.com/fmspush/fmspush/delivery"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/redact"
	"github.com/fmspush/fmspush/rtmp"
)

// move is a server-directed move under way (Enhanced RTMP v2's
// NetConnection.Connect.ReconnectRequest): the new connection is made while
// the current one publishes on, and the session switches to it at the first
// video keyframe after it published. The session's loop owns it.
//
// A new server that refuses the publish because the name is still held
// (L3 name_locked: our current session holds it there, at a server that
// takes one publisher a name) gets break-before-make instead: at the next
// keyframe the current session is unpublished first, then the new one
// dialed while the hub holds the media, and the keyframe is its first frame.
type move struct {
	url    string // the new publish URL (print it redacted)
	at     time.Time
	ctx    context.Context
	cancel context.CancelFunc
	opts   rtmp.PublishOptions
	done   chan moveResult // the dial's one result (buffered)
	next   *rtmp.Publisher // the published new session, once done delivered it
	// breakFirst: the dial was refused name_locked; unpublish the current
	// session at the next keyframe, then dial.
	breakFirst bool
}

type moveResult struct {
	pub *rtmp.Publisher
	err error
}

// errStopped ends a publish whose context ended during a move's dial: Run
// returns nil for it, as for any stop.
var errStopped = errors.New("stopped during a move")

// dialing is the channel the dial's result comes on, nil when no dial is
// under way (no move, or its new session is already published).
func (s *session) dialing() <-chan moveResult {
	if s.move == nil || s.move.next != nil || s.move.breakFirst {
		return nil
	}
	return s.move.done
}

// nextPub is the new session waiting for its keyframe, or nil.
func (s *session) nextPub() *rtmp.Publisher {
	if s.move == nil {
		return nil
	}
	return s.move.next
}

// nextWake and nextDone are the new session's Wake and Done while it waits
// for its keyframe (nil channels otherwise): its acks and pings are answered
// meanwhile, and a server that drops it ends the move.
func (s *session) nextWake() <-chan struct{} {
	if n := s.nextPub(); n != nil {
		return n.Wake()
	}
	return nil
}

func (s *session) nextDone() <-chan struct{} {
	if n := s.nextPub(); n != nil {
		return n.Done()
	}
	return nil
}

// checkReconnect looks, after a Wake of the current session, for a
// ReconnectRequest, and starts a move for it: a dial of the new URL (the
// request's tcUrl, or the current one, with the same stream name), in a
// goroutine, with the path's publish options. One move at a time: a request
// that comes while one is under way is ignored (logged).
func (s *session) checkReconnect(ctx context.Context) {
	req, ok := s.pub.TakeReconnectRequest()
	if !ok {
		return
	}
	if s.move != nil {
		s.p.Logger.Info("the server asked to reconnect again while a move is under way; ignored", "request", req.String())
		return
	}
	to, err := rtmp.ReconnectURL(s.url, req.TCURL)
	if err == nil && s.p.Sign != nil {
		to, err = s.p.Sign.Sign(to, time.Now())
	}
	if err != nil {
		s.p.Logger.Warn("the server asked to reconnect to a URL that cannot be used; publishing on to the current server",
			"request", req.String(), "error", redact.Text(err.Error()))
		return
	}
	opts := s.p.Publish
	// The connect of the new server carries its own tcUrl and app: an
	// override of the configured target's does not apply there.
	opts.TCURL, opts.App = "", ""
	mctx, cancel := context.WithCancel(ctx)
	m := &move{url: to, at: time.Now(), ctx: mctx, cancel: cancel, opts: opts, done: make(chan moveResult, 1)}
	s.move = m
	s.p.Logger.Info("the server asked to reconnect: connecting to the new URL while publishing on to the current one",
		"to", redact.URL(to), "request", req.String())
	go func() {
		pub, err := rtmp.Dial(mctx, to, opts)
		m.done <- moveResult{pub, err}
	}()
}

// dialed takes the move's dial result: the new session waits for the next
// keyframe; a failed dial ends the move and the current session goes on.
func (s *session) dialed(res moveResult) {
	if res.err != nil {
		v := s.p.classify(res.err)
		if v.Cause == health.CauseNameLocked {
			s.move.breakFirst = true
			s.p.Logger.Info("the new server holds the stream name for the current session: unpublishing it at the next keyframe, then connecting",
				"to", redact.URL(s.move.url), "verdict", v.Error())
			return
		}
		s.p.Logger.Warn("moving to the URL the server asked for failed; publishing on to the current server",
			"to", redact.URL(s.move.url), "verdict", v.Error(), "after", time.Since(s.move.at).Round(time.Millisecond))
		s.move.cancel()
		s.move = nil
		return
	}
	s.move.next = res.pub
	s.p.Logger.Debug("the new server accepted the publish; switching at the next keyframe", "to", redact.URL(s.move.url))
}

// nextLost ends a move whose new session the new server dropped before the
// switch: the current session goes on.
func (s *session) nextLost() {
	err := s.move.next.Close()
	s.p.Logger.Warn("the new server dropped the publish before the switch; publishing on to the current server",
		"to", redact.URL(s.move.url), "verdict", s.p.classify(err).Error())
	s.move.cancel()
	s.move = nil
}

// keyframeMove switches at u (rebased: a video keyframe, or any unit of a
// stream without video) when the move is ready.
func (s *session) keyframeMove(u media.Unit) error {
	var v *media.VideoParams
	if u.Params != nil {
		v = u.Params.Video
	}
	switch {
	case s.move.next != nil:
		return s.switchOver(u.DTS, v)
	case s.move.breakFirst:
		return s.breakAndMove(u.DTS, v)
	}
	return nil
}

// switchOver moves the publish to the new session at a keyframe (ts, its
// timestamp on the target's timeline, continued from the current session's:
// no step): onMetaData and the sequence headers first, then the keyframe
// (by the caller). The old session is then ended as a normal exit ends it
// (unpublish, half-close, a wait for the server's close), in the
// background: the session waits for it before it returns.
func (s *session) switchOver(ts time.Duration, video *media.VideoParams) error {
	old, m := s.pub, s.move
	s.move = nil
	m.cancel()
	s.pub, s.url = m.next, m.url
	// Per-connection state starts afresh; the signals' counters carry on.
	s.bytesAckedCarry = s.sig.BytesAcked.Load()
	s.acksCarry = s.sig.AcksReceived.Load()
	s.meter = delivery.Meter{StallTimeout: s.p.StallTimeout}
	s.acks = ackWatch{}
	s.ackWindow = 0 // the new connection was dialed with the configured window
	s.queue = queueView{}
	s.ackedBase = 0
	s.drop = dropper{maxDelay: s.drop.maxDelay}
	s.moves++
	_ = old.Service() // units still waiting in its send buffer go out first
	s.closers.Add(1)
	go func() {
		defer s.closers.Done()
		old.Close()
	}()
	s.p.Logger.Info("moved to the new server at a keyframe", "to", redact.URL(m.url), "ts", ts,
		"since_request", time.Since(m.at).Round(time.Millisecond), "moves", s.moves)
	if err := s.observe(time.Now()); err != nil {
		return err
	}
	if video == nil {
		video = s.sentVideo
	}
	if err := s.pub.WriteMetadata(media.MetadataFor(video, s.audioOut, s.p.Publish.H265)); err != nil {
		return err
	}
	if video != nil {
		s.sentVideo = video
		if err := s.pub.WriteVideoConfig(*video, ts); err != nil {
			return err
		}
	}
	if s.audioOut != nil {
		return s.pub.WriteAudioConfig(*s.audioOut, ts)
	}
	return nil
}

// breakAndMove is the break-before-make move at a keyframe: the current
// session is unpublished (a normal exit's Close) so that the new server
// frees the name, then the new session is dialed while the hub holds the
// media, and switchOver continues the timeline on it. A failed dial ends
// the publish with its verdict: there is no session left to go on with.
func (s *session) breakAndMove(ts time.Duration, video *media.VideoParams) error {
	m := s.move
	_ = s.pub.Service()
	s.pub.Close()
	pub, err := rtmp.Dial(m.ctx, m.url, m.opts)
	if err != nil && m.ctx.Err() != nil {
		s.move = nil
		return errStopped // the path is being stopped: no verdict
	}
	if err != nil {
		s.p.Logger.Warn("moving to the URL the server asked for failed after the current session was unpublished",
			"to", redact.URL(m.url), "verdict", s.p.classify(err).Error())
		s.move = nil
		m.cancel()
		return err
	}
	m.next = pub
	return s.switchOver(ts, video)
}

// endMove ends a move still under way when the session ends: the dial is
// cancelled and waited for, a new session already published is closed
// (unpublished) as the current one is.
func (s *session) endMove() {
	m := s.move
	if m == nil {
		return
	}
	s.move = nil
	m.cancel()
	if m.next == nil && !m.breakFirst {
		res := <-m.done
		m.next = res.pub
	}
	if m.next != nil {
		m.next.Close()
	}
}
