package prober

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/rtmp"
)

func handshakeName(simple bool) string {
	if simple {
		return "simple handshake (C1 version 0)"
	}
	return "digest handshake (C1 09 00 7c 02, scheme A)"
}

// walkConnect walks L0-L2 with the configured options, bisecting the
// handshake and the flashVer; it returns a connected session or nil.
func (p *walker) walkConnect(ctx context.Context) *rtmp.Publisher {
	o := p.opts.Session
	sess, err := rtmp.Connect(ctx, p.target(), o)
	if err == nil {
		p.connectOK(sess, o)
		p.bisectConnected(ctx, o)
		return sess
	}
	re := asRTMP(err)
	p.markBelow(re.Layer)
	p.fail(re)
	switch re.Layer {
	case health.LayerHandshake:
		p.layer(re.Layer).Tried = handshakeName(o.SimpleHandshake)
		return p.retryConnect(ctx, o, func(o *rtmp.PublishOptions) string {
			o.SimpleHandshake = !o.SimpleHandshake
			return handshakeName(o.SimpleHandshake)
		})
	case health.LayerConnect:
		p.layer(re.Layer).Tried = p.connectTried(o)
		return p.retryConnect(ctx, o, func(o *rtmp.PublishOptions) string {
			o.FlashVer = altFlashVer(o.FlashVer)
			return "flashVer " + o.FlashVer
		})
	}
	return nil
}

// markBelow marks the layers under a failed one as passed.
func (p *walker) markBelow(failed health.Layer) {
	for l := health.LayerNetwork; l < failed && l <= health.LayerMedia; l++ {
		p.layer(l).Status = StatusOK
	}
}

func altFlashVer(fv string) string {
	if strings.HasPrefix(fv, "FMLE/") {
		return AltFlashVer
	}
	return rtmp.DefaultFlashVer
}

func (p *walker) connectTried(o rtmp.PublishOptions) string {
	t, err := rtmp.ParseURL(p.url)
	app := o.App
	if err == nil && app == "" {
		app = t.App
	}
	return fmt.Sprintf("connect app=%q flashVer=%q", app, o.FlashVer)
}

// retryConnect tries one variant after a failure at L1 or L2. When it works,
// the probe goes on with it (the verdict stays the first failure).
func (p *walker) retryConnect(ctx context.Context, o rtmp.PublishOptions, vary func(*rtmp.PublishOptions) string) *rtmp.Publisher {
	if p.opts.NoBisect {
		return nil
	}
	what := vary(&o)
	sess, err := rtmp.Connect(ctx, p.target(), o)
	if err != nil {
		p.find("%s also fails: %s", what, asRTMP(err).Error())
		return nil
	}
	p.find("%s works: use it", what)
	p.opts.Session = o
	p.connectLayers(sess, o, true)
	return sess
}

// connectOK fills L0-L2 from a connected session.
func (p *walker) connectOK(sess *rtmp.Publisher, o rtmp.PublishOptions) {
	p.connectLayers(sess, o, false)
}

func (p *walker) connectLayers(sess *rtmp.Publisher, o rtmp.PublishOptions, onlyUnset bool) {
	t := sess.Target()
	set := func(l health.Layer, tried, server string) {
		lr := p.layer(l)
		if onlyUnset && lr.Status == StatusFail {
			lr.Server += "; " + server + " with " + tried
			return
		}
		lr.Status, lr.Tried, lr.Server = StatusOK, tried, server
		lr.Elapsed = sess.StepDone(l) - sess.StepDone(l-1)
		if l == health.LayerNetwork {
			lr.Elapsed = sess.StepDone(l)
		}
	}
	tried := "tcp " + t.Addr()
	if t.Scheme == "rtmps" {
		tried += " + TLS (SNI " + t.Host + ")"
	}
	set(health.LayerNetwork, tried, "accepted")
	hs := sess.Handshake()
	server := "S1 without digest"
	if hs.ServerDigestValid {
		server = fmt.Sprintf("S1 with a valid server digest (version % x)", hs.ServerVersion)
	}
	set(health.LayerHandshake, handshakeName(o.SimpleHandshake), server)
	st, fmsVer := sess.ConnectInfo()
	server = "_result " + st.Code
	if fmsVer != "" {
		server += " (" + fmsVer + ")"
	}
	set(health.LayerConnect, p.connectTried(o), server)
}

// bisectConnected learns whether the server also takes the other handshake
// and the other flashVer family (one short connection each, L0-L2 only).
func (p *walker) bisectConnected(ctx context.Context, o rtmp.PublishOptions) {
	if p.opts.NoBisect {
		return
	}
	alt := o
	alt.SimpleHandshake = !o.SimpleHandshake
	p.tryVariant(ctx, alt, handshakeName(alt.SimpleHandshake))
	alt = o
	alt.FlashVer = altFlashVer(o.FlashVer)
	p.tryVariant(ctx, alt, "flashVer "+alt.FlashVer)
}

func (p *walker) tryVariant(ctx context.Context, o rtmp.PublishOptions, what string) {
	sess, err := rtmp.Connect(ctx, p.target(), o)
	if err != nil {
		re := asRTMP(err)
		p.find("server refuses %s at %s: %s", what, re.Layer, describe(re))
		return
	}
	sess.Close()
	p.find("server also accepts %s", what)
}

// walkPublish walks L3 on sess; on failure it bisects the name's query.
func (p *walker) walkPublish(ctx context.Context, sess *rtmp.Publisher) bool {
	t := sess.Target()
	lr := p.layer(health.LayerPublish)
	lr.Tried = "releaseStream, FCPublish, createStream, publish (name redacted)"
	before := sess.StepDone(health.LayerConnect)
	if err := sess.Publish(ctx); err != nil {
		re := asRTMP(err)
		p.fail(re)
		p.bisectName(ctx, t.StreamName)
		return false
	}
	lr.Status = StatusOK
	lr.Elapsed = sess.StepDone(health.LayerPublish) - before
	lr.Server = fmt.Sprintf("stream id %d, onStatus %s", sess.StreamID(), sess.PublishInfo().Code)
	return true
}

// bisectName publishes the name without its query to tell an auth failure
// from a rejected name.
func (p *walker) bisectName(ctx context.Context, name string) {
	bare, _, hasQuery := strings.Cut(name, "?")
	if p.opts.NoBisect || !hasQuery || bare == "" {
		return
	}
	o := p.opts.Session
	o.StreamName = bare
	sess, err := rtmp.Dial(ctx, p.target(), o)
	if err != nil {
		p.find("publish without the query also fails (%s): the name itself is refused", describe(asRTMP(err)))
		return
	}
	sess.Close()
	p.find("publish without the query works: the server refuses the query's auth values")
}

// mediaVariant is one way of sending the sample.
type mediaVariant struct {
	name         string
	noAudio      bool
	fullMetadata bool
}

// walkMedia sends the sample on sess for MediaDuration and fills L4 and L5;
// a media-level failure is bisected with variants on new sessions.
func (p *walker) walkMedia(ctx context.Context, sess *rtmp.Publisher) {
	full := mediaVariant{name: "full onMetaData, AVC + AAC", fullMetadata: true}
	sent, err := sendSample(ctx, sess, full, p.opts.MediaDuration)
	st := sess.Stats()
	sess.Close()
	l4, l5 := p.layer(health.LayerUpkeep), p.layer(health.LayerMedia)
	l4.Tried = fmt.Sprintf("%s of publishing, acking the server's window (%d) and answering pings", p.opts.MediaDuration, sess.Conn().PeerWindow())
	l5.Tried = full.name + ": " + sent
	if err != nil {
		re := asRTMP(err)
		p.fail(re)
		if re.Layer == health.LayerMedia {
			p.bisectMedia(ctx)
		}
		if re.Layer == health.LayerUpkeep && re.SinceFirstFrame > 0 {
			l5.Status, l5.Server = StatusOK, "no frame-level rejection before the upkeep failure"
		}
		return
	}
	l4.Status = StatusOK
	l4.Server = fmt.Sprintf("kept the session: we sent %d acks and %d ping responses, it sent %d acks", st.AcksSent, st.PingsAnswered, st.AcksReceived)
	l5.Status, l5.Server = StatusOK, "no reset"
}

func (p *walker) bisectMedia(ctx context.Context) {
	if p.opts.NoBisect {
		return
	}
	d := min(p.opts.MediaDuration, 2*time.Second)
	for _, v := range []mediaVariant{
		{name: "without audio", noAudio: true, fullMetadata: true},
		{name: "with minimal onMetaData (width, height, framerate)"},
	} {
		sess, err := rtmp.Dial(ctx, p.target(), p.opts.Session)
		if err != nil {
			p.find("media %s: could not publish again: %s", v.name, asRTMP(err).Error())
			return
		}
		_, err = sendSample(ctx, sess, v, d)
		sess.Close()
		if err != nil {
			p.find("media %s also fails: %s", v.name, asRTMP(err).Error())
		} else {
			p.find("media %s works", v.name)
		}
	}
}
