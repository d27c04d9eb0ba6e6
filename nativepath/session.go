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

// Silent audio is AAC-LC 44.1 kHz stereo, what most platforms expect.
const (
	silenceRate     = 44100
	silenceChannels = 2
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

	rebase   *media.Rebaser
	params   media.ParamTracker
	audio    bool // the source's audio units are passed on
	silence  *media.SilenceGenerator
	lastUnit time.Time
}

func (s *session) run(ctx context.Context, snap media.GOPSnapshot) error {
	if err := s.start(snap); err != nil {
		s.pub.Close()
		return s.p.classify(err)
	}
	for _, u := range snap.Units {
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
func (s *session) start(snap media.GOPSnapshot) error {
	s.lastUnit = time.Now()
	s.rebase = media.NewRebaser(s.base)
	audio, err := s.audioParams(snap.Audio)
	if err != nil {
		return err
	}
	if err := s.pub.WriteMetadata(rtmp.MetadataFor(snap.Video, audio, s.p.Publish.H265)); err != nil {
		return err
	}
	if snap.Video != nil {
		s.params.Set(*snap.Video)
		if err := s.pub.WriteVideoConfig(*snap.Video, s.base); err != nil {
			return err
		}
	}
	if audio != nil {
		return s.pub.WriteAudioConfig(*audio, s.base)
	}
	return nil
}

// audioParams decides the audio track: the source's, generated silence, or none.
func (s *session) audioParams(src *media.AudioParams) (*media.AudioParams, error) {
	policy := s.p.Audio
	if policy == AudioDrop {
		return nil, nil
	}
	if policy == AudioSilent || (policy == AudioSilentIfMissing && src == nil) {
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

// write sends one unit (with the silence due before it) at its rebased timestamp.
func (s *session) write(u media.Unit) error {
	s.lastUnit = time.Now()
	if !u.Codec.IsVideo() && !s.audio {
		return nil
	}
	u = s.rebase.Rebase(u)
	if u.Codec.IsVideo() {
		if err := s.videoParamsChanged(u); err != nil {
			return err
		}
	}
	units := []media.Unit{u}
	if s.silence != nil && u.Codec.IsVideo() {
		units = s.silence.Feed(u)
	}
	for _, out := range units {
		if err := s.pub.WriteUnit(out); err != nil {
			return err
		}
		s.account(out)
	}
	return nil
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
	s.sig.AcksReceived.Store(s.pub.Conn().AcksReceived())
	s.sig.Progress()
	s.sig.MarkLive()
}

// checkSource ends the publish with a source verdict when the source has
// been away for longer than the grace period.
func (s *session) checkSource() error {
	up, err := s.hub.state()
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
