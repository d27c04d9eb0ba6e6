package source

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/rtmp"
)

// RTMP pulls (plays) an rtmp:// or rtmps:// stream: rtmp://host/app/name,
// where the last path segment and any query form the stream name.
type RTMP struct {
	URL string
	// ReadTimeout ends a silent session (DefaultReadTimeout).
	ReadTimeout time.Duration
	// TLSConfig is used for rtmps:// (nil: system roots).
	TLSConfig *tls.Config
	Log       hclog.Logger
	// OnUnsupported, if set, hears of each track left out because FLV
	// cannot carry its codec.
	OnUnsupported func(kind, codec string)
}

// playURL moves the stream name (last path segment plus query) into the
// fragment, where gortmplib's client expects it.
func playURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	path := strings.TrimSuffix(u.Path, "/")
	name := ""
	if i := strings.LastIndex(path, "/"); i > 0 {
		path, name = path[:i], path[i+1:]
	}
	if u.RawQuery != "" {
		name += "?" + u.RawQuery
	}
	return &url.URL{Scheme: strings.ToLower(u.Scheme), User: u.User, Host: u.Host, Path: path, Fragment: name}, nil
}

// Run implements Source: one play session.
func (s *RTMP) Run(ctx context.Context, sink Sink) error {
	u, err := playURL(s.URL)
	if err != nil {
		return s.fail("bad URL", nil)
	}
	timeout := s.ReadTimeout
	if timeout <= 0 {
		timeout = DefaultReadTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &gortmplib.Client{URL: u, DialTLSContext: s.dialer(u.Scheme == "rtmps")}
	if err := c.Initialize(dctx); err != nil {
		return s.ended(ctx, "connect", err)
	}
	defer c.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			c.NetConn().Close()
		case <-done:
		}
	}()
	return s.read(ctx, c, sink, timeout)
}

// dialer connects to the server (with TLS for rtmps://, as gortmplib would)
// and puts an rtmp.Guard between the connection and gortmplib's reader:
// a message over rtmp's bounds, or a command beyond its AMF bounds, ends
// the session at once, and metadata beyond the bounds (more than 4096
// values, more than 64 KiB, malformed) is dropped with a warning while the
// media goes on. gortmplib alone decoded any number of AMF values, and
// ended the session on malformed metadata.
func (s *RTMP) dialer(useTLS bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	log := logger(s.Log)
	drops := 0
	onDrop := func(err error) {
		if drops++; drops == 1 {
			log.Warn("source metadata dropped; the media goes on", "reason", err.Error())
		} else {
			log.Debug("source metadata dropped", "reason", err.Error(), "dropped", drops)
		}
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if useTLS {
			cfg := &tls.Config{}
			if s.TLSConfig != nil {
				cfg = s.TLSConfig.Clone()
			}
			if cfg.ServerName == "" {
				cfg.ServerName, _, _ = net.SplitHostPort(addr)
			}
			nc = tls.Client(nc, cfg)
		}
		return rtmp.GuardConn(nc, onDrop), nil
	}
}

func (s *RTMP) read(ctx context.Context, c *gortmplib.Client, sink Sink, timeout time.Duration) error {
	c.NetConn().SetReadDeadline(time.Now().Add(timeout))
	r := &gortmplib.Reader{Conn: c}
	if err := r.Initialize(); err != nil {
		return s.ended(ctx, "read tracks", err)
	}
	if s.install(r, &emitter{direct: sink}) == 0 {
		return s.fail("tracks", ErrNoTrack)
	}
	for {
		c.NetConn().SetReadDeadline(time.Now().Add(timeout))
		if err := r.Read(); err != nil {
			return s.ended(ctx, "read", err)
		}
	}
}

// install registers callbacks for the first video and first AAC track.
func (s *RTMP) install(r *gortmplib.Reader, em *emitter) int {
	log := logger(s.Log)
	var video, audio bool
	for _, t := range r.Tracks() {
		switch c := t.Codec.(type) {
		case *codecs.H264:
			if !video {
				video = true
				v := newVideoTrack(media.CodecH264, nil, c.SPS, c.PPS, em, log)
				r.OnDataH264(t, func(pts, dts time.Duration, au [][]byte) { s.video(v, au, dts, pts) })
				continue
			}
		case *codecs.H265:
			if !video {
				video = true
				v := newVideoTrack(media.CodecH265, c.VPS, c.SPS, c.PPS, em, log)
				r.OnDataH265(t, func(pts, dts time.Duration, au [][]byte) { s.video(v, au, dts, pts) })
				continue
			}
		case *codecs.MPEG4Audio:
			if !audio && s.audio(r, t, c, em) {
				audio = true
				continue
			}
		}
		log.Warn("track not carried: unsupported for FLV targets", "codec", codecName(t.Codec))
		if s.OnUnsupported != nil {
			s.OnUnsupported(trackKind(t.Codec), codecName(t.Codec))
		}
	}
	return btoi(video) + btoi(audio)
}

func (s *RTMP) video(v *videoTrack, au [][]byte, dts, pts time.Duration) {
	if au = v.prepare(au); au != nil {
		v.push(au, dts, pts)
	}
}

func (s *RTMP) audio(r *gortmplib.Reader, t *gortmplib.Track, c *codecs.MPEG4Audio, em *emitter) bool {
	if c.Config == nil {
		return false
	}
	cfg, err := c.Config.Marshal()
	if err != nil {
		return false
	}
	p, err := media.ParseAudioConfig(cfg)
	if err != nil {
		return false
	}
	em.send(event{audio: &p})
	r.OnDataMPEG4Audio(t, func(pts time.Duration, au []byte) {
		em.send(event{unit: &media.Unit{Codec: media.CodecAAC, DTS: pts, PTS: pts, Key: true, Payload: au}})
	})
	return true
}

func trackKind(c codecs.Codec) string {
	if c.IsVideo() {
		return "video"
	}
	return "audio"
}

func codecName(c codecs.Codec) string {
	name := strings.TrimPrefix(strings.TrimPrefix(typeName(c), "*"), "codecs.")
	return strings.ToLower(name)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ended reports a session end: nil when ctx ended it.
func (s *RTMP) ended(ctx context.Context, step string, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return s.fail(step, err)
}

func (s *RTMP) fail(step string, err error) error { return fail("rtmp", s.URL, step, err) }
