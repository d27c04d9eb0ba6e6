package nativepath

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/rtmp"
)

// session is one publish: it writes the cached GOP, then the live feed,
// rebased so that the target's timeline continues from base.
type session struct {
	p    *Path
	pub  *rtmp.Publisher
	sig  *health.Signals
	hub  *hub
	sub  *subscription
	base time.Duration

	first     time.Duration // hub timestamp mapped to base
	started   bool
	lastVideo time.Duration
	lastAudio time.Duration
	lastUnit  time.Time
	params    media.ParamTracker
	audio     bool // audio units are passed on
	silence   *silence
}

func (s *session) run(ctx context.Context, rd ready) error {
	if err := s.start(rd); err != nil {
		s.pub.Close()
		return s.p.classify(err)
	}
	for _, u := range rd.gop {
		if err := s.write(u); err != nil {
			return s.p.classify(err)
		}
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.pub.Close()
			return nil
		case <-s.pub.Done():
			return s.p.classify(s.pub.Err())
		case u, ok := <-s.sub.units:
			if u, ok = s.sub.next(u, ok); !ok {
				return s.subscriptionEnded()
			}
			if err := s.write(u); err != nil {
				return s.p.classify(err)
			}
		case <-tick.C:
			if err := s.checkSource(); err != nil {
				s.pub.Close()
				return err
			}
		}
	}
}

// start sends onMetaData and the sequence headers.
func (s *session) start(rd ready) error {
	s.lastUnit = time.Now()
	audio := s.audioParams(rd)
	s.audio = audio != nil && s.p.Audio != AudioDrop && s.p.Audio != AudioSilent
	if err := s.pub.WriteMetadata(rtmp.MetadataFor(rd.video, audio, s.p.Publish.H265)); err != nil {
		return err
	}
	if rd.video != nil {
		s.params.Set(*rd.video)
		if err := s.pub.WriteVideoConfig(*rd.video, s.base); err != nil {
			return err
		}
	}
	if audio != nil {
		return s.pub.WriteAudioConfig(*audio, s.base)
	}
	return nil
}

// audioParams decides the audio track: the source's, generated silence, or none.
func (s *session) audioParams(rd ready) *media.AudioParams {
	switch s.p.Audio {
	case AudioDrop:
		return nil
	case AudioSilent:
		s.silence = newSilence()
	case AudioSilentIfMissing:
		if rd.audio == nil {
			s.silence = newSilence()
		}
	}
	if s.silence != nil {
		p := s.silence.params()
		return &p
	}
	return rd.audio
}

// write sends one unit at its rebased timestamp.
func (s *session) write(u media.Unit) error {
	s.lastUnit = time.Now()
	if !u.Codec.IsVideo() && !s.audio {
		return nil
	}
	if !s.started {
		s.started, s.first = true, u.DTS
	}
	u = s.rebase(u)
	if u.Codec.IsVideo() {
		if err := s.videoParamsChanged(u); err != nil {
			return err
		}
	}
	if err := s.pub.WriteUnit(u); err != nil {
		return err
	}
	s.account(u)
	if s.silence != nil && u.Codec.IsVideo() {
		return s.writeSilenceUntil(u.DTS)
	}
	return nil
}

// rebase maps a hub timestamp onto the target's timeline, never letting a
// track go backwards.
func (s *session) rebase(u media.Unit) media.Unit {
	cts := u.PTS - u.DTS
	u.DTS = s.base + u.DTS - s.first
	last := &s.lastAudio
	if u.Codec.IsVideo() {
		last = &s.lastVideo
	}
	if u.DTS < *last {
		u.DTS = *last
	}
	*last = u.DTS
	u.PTS = u.DTS + cts
	return u
}

func (s *session) videoParamsChanged(u media.Unit) error {
	changed, err := s.params.Observe(u)
	if err != nil || !changed {
		return nil // an unparsable in-band SPS keeps the old header
	}
	p, _ := s.params.Params()
	return s.pub.WriteVideoConfig(p, u.DTS)
}

func (s *session) account(u media.Unit) {
	s.sig.BytesSent.Add(int64(u.Size()))
	if u.Codec.IsVideo() {
		s.sig.VideoFrames.Add(1)
	} else {
		s.sig.AudioFrames.Add(1)
	}
	s.sig.LastTimestamp.Store(u.DTS.Milliseconds())
	s.sig.AcksReceived.Store(s.pub.Stats().AcksReceived)
	s.sig.Progress()
	if u.Codec.IsVideo() || s.p.Audio != AudioDrop {
		s.sig.MarkLive()
	}
}

func (s *session) writeSilenceUntil(ts time.Duration) error {
	for _, u := range s.silence.until(ts) {
		if err := s.pub.WriteAudio(u); err != nil {
			return err
		}
		s.account(u)
	}
	return nil
}

// checkSource ends the publish with a source verdict when the source has
// been away for longer than the grace period.
func (s *session) checkSource() error {
	up, err, _ := s.hub.state()
	if up || time.Since(s.lastUnit) < s.p.SourceGrace {
		return nil
	}
	if err == nil {
		err = errors.New("no media")
	}
	return s.p.verdict(health.LayerSource, "source_lost", fmt.Errorf("source away for %v: %w", time.Since(s.lastUnit).Round(time.Millisecond), err))
}

func (s *session) subscriptionEnded() error {
	s.pub.Close()
	if errors.Is(s.sub.err, errSlowTarget) {
		return s.p.verdict(health.LayerUpkeep, "target_too_slow", s.sub.err)
	}
	return s.p.verdict(health.LayerSource, "source_stopped", s.sub.err)
}
