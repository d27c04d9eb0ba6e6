package source

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/hashicorp/go-hclog"
	"github.com/pion/rtp"

	"github.com/fmspush/fmspush/media"
)

// RTSP pulls an rtsp:// or rtsps:// camera over TCP (interleaved).
type RTSP struct {
	URL string
	// ReadTimeout ends a silent session (DefaultReadTimeout).
	ReadTimeout time.Duration
	// TLSConfig is used for rtsps:// (nil: system roots).
	TLSConfig *tls.Config
	Log       hclog.Logger
	// OnUnsupported, if set, hears of each track left out because FLV
	// cannot carry its codec (e.g. "audio", "G711").
	OnUnsupported func(kind, codec string)
}

// Run implements Source: one RTSP session from DESCRIBE to teardown.
func (s *RTSP) Run(ctx context.Context, sink Sink) error {
	u, err := base.ParseURL(s.URL)
	if err != nil {
		return s.fail("bad URL", nil)
	}
	timeout := s.ReadTimeout
	if timeout <= 0 {
		timeout = DefaultReadTimeout
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp, ReadTimeout: timeout,
		WriteTimeout: timeout, TLSConfig: s.TLSConfig, DialContext: dialRaw}
	if err := c.Start(); err != nil {
		return s.fail("connect", err)
	}
	defer c.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			c.Close()
		case <-done:
		}
	}()
	em := newEmitter(done)
	waitErr := make(chan error, 1)
	go func() { waitErr <- s.start(c, u, em) }()
	return s.pump(ctx, sink, em, waitErr)
}

// start describes, sets up and plays; then it waits for the session's end.
func (s *RTSP) start(c *gortsplib.Client, u *base.URL, em *emitter) error {
	desc, _, err := c.Describe(u)
	if err != nil {
		return s.fail("describe", err)
	}
	n, err := s.setup(c, desc, em)
	if err != nil {
		return err
	}
	if n == 0 {
		return s.fail("setup", ErrNoTrack)
	}
	if _, err := c.Play(nil); err != nil {
		return s.fail("play", err)
	}
	return s.fail("session", c.Wait())
}

// pump delivers events to the sink until the session ends or ctx ends.
func (s *RTSP) pump(ctx context.Context, sink Sink, em *emitter, waitErr <-chan error) error {
	for {
		select {
		case ev := <-em.ch:
			ev.deliver(sink)
		case err := <-waitErr:
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// setup picks the first H.264/H.265 and the first AAC format, reports the
// rest as unsupported, and installs the packet callbacks.
func (s *RTSP) setup(c *gortsplib.Client, desc *description.Session, em *emitter) (int, error) {
	log := logger(s.Log)
	var video, audio bool
	n := 0
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			var ok bool
			switch f := f.(type) {
			case *format.H264, *format.H265:
				ok = !video
				video = video || ok
			case *format.MPEG4Audio:
				ok = !audio && f.Config != nil
				audio = audio || ok
			}
			if !ok {
				log.Warn("track not carried: unsupported for FLV targets", "codec", f.Codec(), "media", m.Type)
				if s.OnUnsupported != nil {
					s.OnUnsupported(string(m.Type), f.Codec())
				}
				continue
			}
			if _, err := c.Setup(desc.BaseURL, m, 0, 0); err != nil {
				return 0, s.fail("setup", err)
			}
			if err := s.install(c, m, f, em); err != nil {
				return 0, err
			}
			n++
			break
		}
	}
	return n, nil
}

func (s *RTSP) install(c *gortsplib.Client, m *description.Media, f format.Format, em *emitter) error {
	switch f := f.(type) {
	case *format.H264:
		sps, pps := f.SafeParams()
		return s.installVideo(c, m, f, newVideoTrack(media.CodecH264, nil, sps, pps, em, logger(s.Log)))
	case *format.H265:
		vps, sps, pps := f.SafeParams()
		return s.installVideo(c, m, f, newVideoTrack(media.CodecH265, vps, sps, pps, em, logger(s.Log)))
	case *format.MPEG4Audio:
		return s.installAudio(c, m, f, em)
	}
	return errors.New("unreachable")
}

// auDecoder is what gortsplib's H.264 and H.265 RTP decoders share.
type auDecoder interface {
	Decode(*rtp.Packet) ([][]byte, error)
}

func (s *RTSP) installVideo(c *gortsplib.Client, m *description.Media, f format.Format, v *videoTrack) error {
	var dec auDecoder
	var err error
	switch f := f.(type) {
	case *format.H264:
		dec, err = f.CreateDecoder()
	case *format.H265:
		dec, err = f.CreateDecoder()
	}
	if err != nil {
		return s.fail("video decoder", err)
	}
	rate := f.ClockRate()
	c.OnPacketRTP(m, f, func(pkt *rtp.Packet) {
		pts, ok := c.PacketPTS(m, pkt)
		if !ok {
			return
		}
		au, err := dec.Decode(pkt)
		if err != nil || len(au) == 0 {
			return // incomplete access unit or a lost fragment
		}
		if au = v.prepare(au); au == nil {
			return
		}
		dts, err := v.extractDTS(au, pts)
		if err != nil {
			v.log.Debug("dropping access unit without DTS", "error", err)
			return
		}
		v.push(au, ticks(dts, rate), ticks(pts, rate))
	})
	return nil
}

func (s *RTSP) installAudio(c *gortsplib.Client, m *description.Media, f *format.MPEG4Audio, em *emitter) error {
	cfg, err := f.Config.Marshal()
	if err != nil {
		return s.fail("AAC config", err)
	}
	p, err := media.ParseAudioConfig(cfg)
	if err != nil {
		return s.fail("AAC config", err)
	}
	em.send(event{audio: &p})
	dec, err := f.CreateDecoder()
	if err != nil {
		return s.fail("audio decoder", err)
	}
	rate := f.ClockRate()
	c.OnPacketRTP(m, f, func(pkt *rtp.Packet) {
		pts, ok := c.PacketPTS(m, pkt)
		if !ok {
			return
		}
		aus, err := dec.Decode(pkt)
		if err != nil {
			return
		}
		for i, au := range aus {
			t := ticks(pts+int64(i)*1024, rate)
			em.send(event{unit: &media.Unit{Codec: media.CodecAAC, DTS: t, PTS: t, Key: true, Payload: au}})
		}
	})
	return nil
}

// fail wraps err with the step and the redacted URL.
func (s *RTSP) fail(step string, err error) error { return fail("rtsp", s.URL, step, err) }
