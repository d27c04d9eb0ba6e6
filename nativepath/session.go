package nativepath

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fmspush/fmspush/delivery"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/pause"
	"github.com/fmspush/fmspush/internal/wake"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/rtmp"
)

// Silent audio is AAC-LC 44.1 kHz stereo, what most platforms expect.
const (
	silenceRate     = 44100
	silenceChannels = 2
)

// deliveryPeriod is how often a session reads TCP's accounting of its
// socket: the resolution of stall detection and of the delivery lag.
const deliveryPeriod = 100 * time.Millisecond

// deliveryEarly is how much earlier than deliveryPeriod after the last
// check a unit's write may run the next one: with media flowing (a frame
// every 20-40 ms) the checks ride on the writes, every 60-100 ms, and the
// check timer never fires; it fires only when no unit came for
// deliveryIdle (a source away), and then every deliveryIdle. A stream then
// costs wake-ups for its frames, not for its timers. (A socket that takes
// nothing blocks the write, and every check, until the write deadline,
// whatever the timer.)
const (
	deliveryEarly = 40 * time.Millisecond
	deliveryIdle  = 500 * time.Millisecond
)

// session is one publish: it writes the cached GOP, then the live feed,
// rebased so that the target's timeline continues from base. Its goroutine
// is the only writer of the publisher's socket.
type session struct {
	p    *Path
	pub  *rtmp.Publisher
	sig  *health.Signals
	hub  *hub
	sub  *subscription
	base time.Duration
	url  string // the URL pub was dialed with (a move's, after one)

	rebase *media.Rebaser
	// sentVideo and sentAudio are the parameters of the last sequence
	// headers sent: a unit whose parameters (the hub's, Unit.Params) differ
	// brings a new header first.
	sentVideo *media.VideoParams
	sentAudio *media.AudioParams
	audioOut  *media.AudioParams // the audio track's parameters last announced (silence's or the source's)
	audio     bool               // the source's audio units are passed on
	silence   *media.SilenceGenerator
	lastUnit  time.Time

	meter     delivery.Meter
	acks      ackWatch
	ackWindow uint32        // the Window Acknowledgement Size asked of the server now
	lastMark  time.Duration // timestamp of the last frame written
	queue     queueView     // what waits in TCP, and how fast it drains
	ackedBase uint64        // TCP's count of what was taken before the first media
	drop      dropper
	rate      rateWindow // the media's own rate (offered bytes, dropped ones included)
	checkedAt time.Time  // the last delivery and source check (check)
	pauses    *pause.Tracker
	// lastIn is the hub timestamp of the last video and audio unit taken,
	// to continue a new subscription right after it (skipBacklog).
	lastIn [2]time.Duration
	taken  [2]bool

	// move is a server-directed move under way (move.go); moves counts
	// those done. closers are the old sessions still being ended.
	move    *move
	moves   int
	closers sync.WaitGroup
	// bytesAckedCarry and acksCarry are the signals' BytesAcked and
	// AcksReceived at the last move: the new connection counts on from them.
	bytesAckedCarry, acksCarry int64
}

// run publishes until ctx ends or the push fails, and closes the session
// on every exit: a reset after a stall, a clean unpublish otherwise.
func (s *session) run(ctx context.Context, snap media.GOPSnapshot) error {
	err := s.publish(ctx, snap)
	s.endMove()
	if v, ok := err.(*health.Verdict); ok && v.Cause == health.CauseStalled {
		s.pub.Reset()
	} else {
		s.pub.Close()
	}
	s.closers.Wait()
	return err
}

func (s *session) publish(ctx context.Context, snap media.GOPSnapshot) error {
	s.meter.StallTimeout = s.p.StallTimeout
	s.drop = dropper{maxDelay: s.p.MaxDelay}
	s.pauses = pause.NewTracker(s.p.Pauses, time.Now())
	if err := s.observe(time.Now()); err != nil {
		return err
	}
	if err := s.start(snap); err != nil {
		return s.p.classify(err)
	}
	for _, u := range snap.Units {
		if err := s.write(u); err != nil {
			return s.p.classify(err)
		}
	}
	return s.loop(ctx)
}

// loop owns the session: media from the hub (buffered a burst at a time,
// written when no further unit waits), replies the reader queued, and the
// delivery and source checks.
func (s *session) loop(ctx context.Context) error {
	s.checkedAt = time.Now()
	check := wake.NewTimer(deliveryIdle)
	defer check.Stop()
	s.checkReconnect(ctx) // a request during setup: Dial took its Wake
	for {
		if len(s.sub.units) == 0 {
			if err := s.endBurst(check); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.pub.Done():
			return s.p.classify(s.pub.Err())
		case <-s.pub.Wake():
			if err := s.pub.Service(); err != nil {
				return s.p.classify(err)
			}
			s.checkReconnect(ctx)
		case res := <-s.dialing():
			s.dialed(res)
		case <-s.nextWake():
			if err := s.move.next.Service(); err != nil {
				s.nextLost()
			}
		case <-s.nextDone():
			s.nextLost()
		case u, ok := <-s.sub.units:
			if u, ok = s.sub.next(u, ok); !ok {
				if resumed, err := s.skipBacklog(ctx); resumed || err != nil {
					if err != nil {
						return s.p.classify(err)
					}
					continue
				}
				return s.subscriptionEnded()
			}
			if err := s.write(u); err != nil {
				if errors.Is(err, errStopped) {
					return nil
				}
				return s.p.classify(err)
			}
		case <-check.C:
			// The timer's value is when it was due, also when it comes
			// after a pause: read the clock.
			if err := s.check(time.Now(), check); err != nil {
				return err
			}
		}
	}
}

// check runs the periodic checks (a pause of the service, TCP's delivery
// view, the source's absence) and arms the check timer deliveryIdle after
// it: pushed back at every check, it fires only when no write came for
// that long (a timer of the process's clock: pushing it back costs no
// wake-up, which a runtime timer's stale heap entry would).
func (s *session) check(now time.Time, t *wake.Timer) error {
	s.checkedAt = now
	t.Reset(deliveryIdle)
	s.checkPause(now)
	if err := s.observe(now); err != nil {
		return err
	}
	if err := s.tuneAckWindow(now); err != nil {
		return s.p.classify(err)
	}
	return s.checkSource()
}

// ackWindowNow is the window asked of the server on this connection.
func (s *session) ackWindowNow() uint32 {
	if s.ackWindow == 0 {
		return s.p.Publish.AckWindow
	}
	return s.ackWindow
}

// tuneAckWindow asks the server for a wider (or narrower) window when the
// media's rate puts acks far from ackSpacing apart (ackWindowFor). A path
// that asks for no acks asks for none later either.
func (s *session) tuneAckWindow(now time.Time) error {
	cur := s.ackWindowNow()
	if cur == 0 {
		return nil
	}
	rate := s.rate.bitsPerSecond(now)
	if rate <= 0 {
		return nil
	}
	want := ackWindowFor(rate, s.p.Publish.AckWindow)
	if !retuneAckWindow(cur, want) {
		return nil
	}
	if err := s.pub.AskAcks(want); err != nil {
		return err
	}
	s.ackWindow = want
	return nil
}

// endBurst writes what the units of a burst left in the send buffer (a
// video frame and the audio released with it: one write), once no further
// unit waits, and runs the delivery checks if they are due: they ride on
// the writes while media flows.
func (s *session) endBurst(check *wake.Timer) error {
	if s.pub.Conn().Buffered() == 0 {
		return nil
	}
	if err := s.pub.Service(); err != nil {
		return s.p.classify(err)
	}
	if now := time.Now(); now.Sub(s.checkedAt) >= deliveryPeriod-deliveryEarly {
		return s.check(now, check)
	}
	return nil
}

// start sends onMetaData and the sequence headers.
func (s *session) start(snap media.GOPSnapshot) error {
	s.lastUnit = time.Now()
	s.rebase = media.NewRebaser(s.base)
	audio, err := s.audioParams(snap.Audio)
	if err != nil {
		return err
	}
	if err := s.pub.WriteMetadata(media.MetadataFor(snap.Video, audio, s.p.Publish.H265)); err != nil {
		return err
	}
	if snap.Video != nil {
		s.sentVideo = snap.Video
		if err := s.pub.WriteVideoConfig(*snap.Video, s.base); err != nil {
			return err
		}
	}
	if audio != nil {
		s.sentAudio, s.audioOut = snap.Audio, audio
		return s.pub.WriteAudioConfig(*audio, s.base)
	}
	return nil
}

// audioParams decides the audio track: the source's, generated silence, or none.
func (s *session) audioParams(src *media.AudioParams) (*media.AudioParams, error) {
	policy := s.p.Audio
	if policy == media.AudioDrop {
		return nil, nil
	}
	if policy == media.AudioSilent || (policy == media.AudioSilentIfMissing && src == nil) {
		g, err := media.NewSilenceGenerator(silenceRate, silenceChannels)
		if err != nil {
			return nil, err
		}
		s.silence = g
		p := g.Params()
		return &p, nil
	}
	s.audio = src != nil
	return src, nil
}

// write sends one unit (with the silence due before it) at its rebased
// timestamp, unless the delivery lag asks to drop it.
func (s *session) write(u media.Unit) error {
	s.lastUnit = time.Now()
	tr := trackOf(u)
	s.lastIn[tr], s.taken[tr] = u.DTS, true
	if !u.Codec.IsVideo() && !s.audio {
		return nil
	}
	u = s.rebase.Rebase(u)
	// A move switches at a video keyframe; a stream with no video, at any unit.
	if s.move != nil && u.Key && (u.Codec.IsVideo() || s.sentVideo == nil) {
		if err := s.keyframeMove(u); err != nil {
			return err
		}
	}
	s.rate.add(s.lastUnit, u.Size())
	if err := s.paramsChanged(u); err != nil {
		return err
	}
	units := []media.Unit{u}
	if s.silence != nil && u.Codec.IsVideo() {
		units = s.silence.Feed(u)
	}
	for _, out := range units {
		if !s.keep(out) {
			s.sig.DroppedFrames.Add(1)
			continue
		}
		if err := s.pub.BufferUnit(out); err != nil {
			return err
		}
		s.account(out)
	}
	return nil
}

// keep asks the dropper whether u goes out, given the wait a frame written
// now would have behind TCP's queue, and logs when dropping starts or
// ends.
func (s *session) keep(u media.Unit) bool {
	w := s.queue.waits(s.pub.Sent(), s.lastUnit)
	was := s.drop.dropping
	keep := s.drop.keep(u, w, s.lastUnit)
	if s.drop.dropping != was {
		s.logCongestion(w)
	}
	return keep
}

// paramsChanged sends the sequence header of u's track first when u's
// parameters differ from those last sent (a new resolution, new parameter
// sets, a source restarted with other ones). The hub made them: comparing
// pointers is enough, nothing is scanned here.
func (s *session) paramsChanged(u media.Unit) error {
	if u.Params == nil {
		return nil
	}
	if v := u.Params.Video; u.Codec.IsVideo() && v != nil && v != s.sentVideo {
		s.sentVideo = v
		return s.pub.WriteVideoConfig(*v, u.DTS)
	}
	if a := u.Params.Audio; !u.Codec.IsVideo() && s.audio && a != nil && a != s.sentAudio {
		s.sentAudio, s.audioOut = a, a
		return s.pub.WriteAudioConfig(*a, u.DTS)
	}
	return nil
}

func (s *session) account(u media.Unit) {
	s.sig.BytesSent.Add(int64(u.Size()))
	if u.Codec.IsVideo() {
		s.sig.VideoFrames.Add(1)
	} else {
		s.sig.AudioFrames.Add(1)
	}
	// Every frame marks where it ends (coalesced audio still in the send
	// buffer included), so that the taken timeline moves with audio alone
	// while video is dropped.
	s.meter.Mark(s.pub.Sent()+uint64(s.pub.Conn().Buffered()), u.DTS)
	s.lastMark = max(s.lastMark, u.DTS)
	s.sig.LastTimestamp.Store(u.DTS.Milliseconds())
	s.sig.AcksReceived.Store(s.acksCarry + s.pub.Conn().AcksReceived())
	s.sig.Progress()
	s.sig.MarkLive()
}

// observe reads TCP's accounting of the socket: what the server has taken,
// the delivery lag, and a stall (an L4 verdict) when it took nothing for
// StallTimeout while newer data waited.
func (s *session) observe(now time.Time) error {
	smp, err := s.pub.Delivery()
	if err != nil {
		return nil // no evidence (not a TCP socket): writes still fail on their deadline
	}
	r := s.meter.Observe(smp)
	if silent := s.acks.observe(s.pub.Conn(), s.ackWindowNow(), now); silent > r.StalledFor {
		r.StalledFor = silent
		r.Stalled = r.Stalled || silent >= s.p.StallTimeout
	}
	if s.ackedBase == 0 {
		s.ackedBase = max(r.Taken, 1)
	}
	taken := r.Throughput
	if taken <= 0 {
		taken = s.rate.bitsPerSecond(now)
	}
	s.queue = queueView{at: now, queued: smp.Queued, sent: smp.Sent(), takenBps: taken, drainBps: r.DrainRate}
	s.report(r, now)
	if r.Stalled {
		v := s.p.classify(s.pub.Failure(health.LayerUpkeep, health.CauseStalled, fmt.Errorf(
			"the server took nothing for %v while %s waited (%s of media)",
			r.StalledFor.Round(100*time.Millisecond), delivery.BytesText(r.Pending), r.Lag.Round(100*time.Millisecond))))
		v.TimeToRST = 0 // the server reset nothing: the session is reset by this side
		return v
	}
	return nil
}

// report publishes the delivery view in the signals.
func (s *session) report(r delivery.Reading, now time.Time) {
	if r.Taken > s.ackedBase {
		s.sig.BytesAcked.Store(s.bytesAckedCarry + int64(r.Taken-s.ackedBase))
	}
	s.sig.LagMillis.Store(r.Lag.Milliseconds())
	s.sig.UnackedFor.Store(r.StalledFor.Milliseconds())
	s.sig.ThroughputBps.Store(int64(r.Throughput))
	s.sig.NeededBps.Store(int64(s.rate.bitsPerSecond(now)))
	s.sig.SetCongested(s.drop.congested(now))
}

// checkPause restarts the session's delivery clocks after a pause of the
// process (internal/pause): the gap is the service's own, not the server's,
// so neither the stall clocks (TCP's and the acks') nor the rates measured
// across it, nor the congestion judged from them, nor the source's grace
// may count it.
func (s *session) checkPause(now time.Time) {
	p, ok := s.pauses.Check(now)
	if !ok {
		return
	}
	s.p.Logger.Debug("delivery clocks restarted after a pause of the service", "pause", p.String())
	s.meter.Restart(now)
	s.acks.restart(now, s.pub.Conn().BytesWritten())
	s.rate = rateWindow{}
	s.queue = queueView{}
	s.drop = dropper{maxDelay: s.drop.maxDelay}
	s.lastUnit = now
}

// logCongestion says when video starts being dropped, with the evidence
// (the wait a frame would have behind TCP's queue, what is queued, the
// rates it drains at), and when it flows again.
func (s *session) logCongestion(w waits) {
	q := s.queue
	if !s.drop.dropping {
		s.p.Logger.Info("the uplink caught up: video flows again from a keyframe",
			"wait", w.taken.Round(time.Millisecond).String(), "dropped_frames", s.sig.DroppedFrames.Load())
		return
	}
	s.p.Logger.Warn("the uplink is behind the stream: dropping video until a keyframe can be sent in time",
		"wait", w.draining.Round(time.Millisecond).String(), "max_delay", s.drop.maxDelay.String(),
		"queued", delivery.BytesText(q.ahead(s.pub.Sent())),
		"taken_kbps", int64(q.takenBps/1000), "drain_kbps", int64(q.drainBps/1000),
		"measured_ago", time.Since(q.at).Round(time.Millisecond).String())
}

// queueView is what waited in TCP at the last delivery look, and the
// rates it drains at: a frame written now waits for the bytes ahead of it.
type queueView struct {
	at           time.Time
	queued, sent uint64  // TCP's count then
	takenBps     float64 // what the server took lately (else the media's rate)
	drainBps     float64 // TCP's rate while busy (delivery.Reading.DrainRate; 0 unknown)
}

// waits is how long a frame written now would wait behind TCP's queue,
// at two rates: what the server took lately, which every moment this side
// had nothing to send lowers (a source, or this process, held up), and the
// rate TCP drains at while it has data, which such moments do not.
type waits struct {
	taken, draining time.Duration
}

// ahead is what waits in TCP ahead of a frame written now, with sent
// bytes handed to TCP so far: what was queued at the look, and what was
// written since.
func (q queueView) ahead(sent uint64) uint64 { return q.queued + sent - min(sent, q.sent) }

// waits is the wait of a frame written now, with sent bytes handed to TCP
// so far, behind what is queued ahead of it (0 while unknown).
func (q queueView) waits(sent uint64, now time.Time) waits {
	if q.at.IsZero() {
		return waits{}
	}
	ahead := float64(q.ahead(sent))
	at := func(bps float64) time.Duration {
		if bps <= 0 {
			return 0
		}
		return max(time.Duration(ahead*8/bps*float64(time.Second))-now.Sub(q.at), 0)
	}
	w := waits{taken: at(q.takenBps), draining: at(q.drainBps)}
	if q.drainBps <= 0 {
		w.draining = w.taken
	}
	return w
}

// checkSource ends the publish with a source verdict when the source has
// been away for longer than the grace period.
func (s *session) checkSource() error {
	if err := s.hub.away(s.lastUnit, s.p.SourceGrace); err != nil {
		return s.p.verdict(health.LayerSource, "source_lost", err)
	}
	return nil
}

// pauseBacklog is how long after a pause of the process a publisher that
// falls behind the hub is taken to be catching up on the pause's backlog
// rather than slow: a network source's read timeout (10 s) bounds what its
// kernel queued while the process did not run.
const pauseBacklog = 10 * time.Second

// skipBacklog continues a publish that the hub cut off for falling behind
// right after a pause of the process: an RTSP or RTMP source delivers what
// its kernel queued during the pause in one burst, faster than any target
// takes it, and that is the service's doing, not the target's. The publish
// goes on from the hub's cached GOP, after what it already sent: the stale
// backlog is skipped (the target's timeline jumps over it) and no verdict is
// given. It reports whether the publish resumed.
func (s *session) skipBacklog(ctx context.Context) (bool, error) {
	now := time.Now()
	if !errors.Is(s.sub.err, errSlowTarget) || !s.pauses.PausedSince(now.Add(-pauseBacklog), now) {
		return false, nil
	}
	snap, sub, err := s.hub.subscribe(ctx, 0)
	if err != nil {
		return false, nil
	}
	s.sub = sub
	s.p.Logger.Warn("skipping the source's backlog from the pause of the service; continuing from its latest keyframe",
		"keyframe_units", len(snap.Units))
	for _, u := range snap.Units {
		if tr := trackOf(u); s.taken[tr] && u.DTS <= s.lastIn[tr] {
			continue // already sent
		}
		if err := s.write(u); err != nil {
			return true, err
		}
	}
	return true, nil
}

// trackOf indexes lastIn: 0 video, 1 audio.
func trackOf(u media.Unit) int {
	if u.Codec.IsVideo() {
		return 0
	}
	return 1
}

func (s *session) subscriptionEnded() error {
	if errors.Is(s.sub.err, errSlowTarget) {
		return s.p.verdict(health.LayerUpkeep, "target_too_slow", s.sub.err)
	}
	return s.p.verdict(health.LayerSource, "source_stopped", s.sub.err)
}
