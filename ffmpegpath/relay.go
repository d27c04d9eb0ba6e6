package ffmpegpath

import (
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/ffmpegpath/tap"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/pause"
	"github.com/fmspush/fmspush/rtmp"
)

// The exec driver publishes through the tap relay (package tap) where it
// can: ffmpeg is given the relay's local URL with the real tcUrl, the relay
// asks the server for RTMP Acknowledgements and judges delivery from them
// (or from TCP's accounting of its own socket where the server sends none),
// and its end with a *tap.StallError is the push's L4 stall. A target the
// relay cannot take (credentials in the URL, tls options it cannot apply)
// is pushed to directly, and ffmpeg's socket is watched from outside
// (sockWatch), as the libav driver's always is.

// relayDrain bounds the wait, once ffmpeg has exited on its own, for the
// relay to pass ffmpeg's last bytes (its unpublish) on and see the server
// close, before it is closed.
const relayDrain = 500 * time.Millisecond

// errClientCert: ffmpeg's tls options name a client certificate, which the
// relay cannot present.
var errClientCert = errors.New("the tls options name a client certificate or a proxy, which the relay does not apply")

// unrelayedTLSOptions are ffmpeg tls protocol options the relay cannot
// apply: such a target is pushed to directly.
var unrelayedTLSOptions = []string{"cert_file", "key_file", "http_proxy", "cafile"}

// relayPlan is how a run reaches its target through the relay.
type relayPlan struct {
	target tap.Target
	tls    *tls.Config // for rtmps
}

// planRelay returns how the run goes through the relay, or why it cannot
// (the error never quotes the URL).
func planRelay(s Settings) (relayPlan, error) {
	tg, err := tap.ParseTarget(s.Target, rtmpApp(s))
	if err != nil {
		return relayPlan{}, err
	}
	for _, a := range s.ExtraArgs {
		if slices.Contains(unrelayedTLSOptions, strings.TrimPrefix(a, "-")) {
			return relayPlan{}, errClientCert
		}
	}
	p := relayPlan{target: tg}
	if tg.TLS {
		if p.tls, err = relayTLS(s); err != nil {
			return relayPlan{}, err
		}
	}
	return p, nil
}

// relayTLS is the relay's TLS configuration for an rtmps:// target, from
// the same options ffmpeg would have had (tlsOptions: -tls_verify 1 unless
// ExtraArgs turn it off, -ca_file and -verifyhost from the rtmp.tls block),
// built as the native path builds it (rtmp.TLSConfig).
func relayTLS(s Settings) (*tls.Config, error) {
	opts := map[string]string{}
	for _, o := range tlsOptions(s) {
		k, v, _ := strings.Cut(o, "=")
		opts[k] = v
	}
	cfg, err := rtmp.TLSConfig(opts["ca_file"], opts["verifyhost"])
	if err != nil {
		return nil, err
	}
	if opts["tls_verify"] == "0" {
		cfg.InsecureSkipVerify = true //nolint:gosec // the stream's own -tls_verify 0, as ffmpeg would have had it
	}
	return cfg, nil
}

// newRelay is the relay of one run. Its dial gives up a tenth before
// ffmpeg's own read timeout (IOTimeout), so that a dial that hangs ends as
// the dial's failure, not as ffmpeg's timeout on the local hop. Paused
// tells it the pauses of this process that w sees after start (its
// judging goroutine owns the tracker).
func newRelay(s Settings, p relayPlan, w *pause.Watch, start time.Time) *tap.Relay {
	tr := pause.NewTracker(w, start)
	return &tap.Relay{Target: p.target.Addr, TLS: p.tls, StallTimeout: s.StallTimeout,
		DialTimeout: s.IOTimeout * 9 / 10, DrainTimeout: relayDrain, Logger: s.Logger,
		Paused: func(now time.Time) bool { _, ok := tr.Check(now); return ok }}
}

// resetRelay is how a stalled connection through the relay was reset: the
// relay's socket to the server, with SO_LINGER 0 (resetter.how's sibling).
const resetRelay = "tap_relay+SO_LINGER0"

// connReset is a stalled connection's reset, done when ffmpeg is gone.
type connReset interface {
	// finish completes the reset, logs how, and returns how ("" if it could not).
	finish(log hclog.Logger) string
}

// relayReset is the reset of the relay's connection to the server (done by
// the relay before ffmpeg is killed).
type relayReset struct{}

func (relayReset) finish(log hclog.Logger) string {
	log.Debug("the stalled connection was reset", "how", resetRelay)
	return resetRelay
}

// evidence is what a run knows of the delivery to the target: the relay's
// judgement (tapWatch) or ffmpeg's socket seen from outside (sockEvidence).
type evidence interface {
	// sample reads the evidence and updates the signals; a stall found
	// (sockWatch's own judgement) ends the push.
	sample(now time.Time, published bool) *stallInfo
	// progress takes the media's rate from a progress report.
	progress(b Progress)
	// restart starts the stall clock again after a pause of this process.
	restart(now time.Time)
	// starving reports, when the progress watchdog fires, whether the
	// server is not taking data: then the hang is the server's.
	starving(now time.Time) *stallInfo
	// reset ends the connection with a reset once ffmpeg is gone (nil if it cannot).
	reset() connReset
}

// sockEvidence is a sockWatch as a run's evidence.
type sockEvidence struct{ *sockWatch }

func (w sockEvidence) reset() connReset {
	if rs := w.sockWatch.reset(); rs != nil {
		return rs
	}
	return nil
}

// tapWatch is the relay's delivery evidence for one run: it publishes the
// relay's readings in the signals. The relay judges stalls itself (its end
// with a *tap.StallError, run.relayEnded); the watch answers the progress
// watchdog. It is owned by the run's loop.
type tapWatch struct {
	relay *tap.Relay
	sig   *health.Signals

	ackBase, tcpBase uint64 // what was taken when the publish was first seen
	baseSet          bool
	last             tap.Reading
	latch            stallLatch
	needed           float64 // bits/s of the media, from progress
}

func (w *tapWatch) sample(now time.Time, published bool) *stallInfo {
	rd := w.relay.Reading()
	if rd.At.IsZero() {
		return nil // the server is not connected yet
	}
	w.last, w.latch.lastAt = rd, now
	if published && !w.baseSet {
		w.ackBase, w.tcpBase, w.baseSet = rd.Acked, rd.TCP.Taken, true
	}
	w.report(rd)
	return nil
}

// report publishes one reading in the signals: what the server's
// application read (its acks, else TCP's evidence) since the publish, how
// long nothing was taken, the rate, and the lag of the media relayed
// behind what the server's TCP acknowledged.
func (w *tapWatch) report(rd tap.Reading) {
	if w.baseSet {
		taken, base := rd.TCP.Taken, w.tcpBase
		if rd.AckSeen {
			taken, base = rd.Acked, w.ackBase
		}
		if taken >= base {
			w.sig.BytesAcked.Store(int64(taken - base))
		}
	}
	w.sig.AcksReceived.Store(rd.Acks)
	w.sig.UnackedFor.Store(rd.StalledFor.Milliseconds())
	w.sig.ThroughputBps.Store(int64(rd.TCP.Throughput))
	w.sig.LagMillis.Store(rd.TCP.Lag.Milliseconds())
}

func (w *tapWatch) progress(b Progress) {
	if b.OutTime < time.Second || b.TotalSize <= 0 {
		return
	}
	w.needed = float64(b.TotalSize) * 8 / b.OutTime.Seconds()
	w.sig.NeededBps.Store(int64(w.needed))
}

// restart forgets the readings before a pause (the relay restarts its own
// clocks through Relay.Paused).
func (w *tapWatch) restart(time.Time) { w.latch.forget() }

func (w *tapWatch) starving(now time.Time) *stallInfo {
	return w.latch.judge(now, w.last.StalledFor, w.last.Queued, w.last.Evidence)
}

// reset resets the relay's connection to the server now.
func (w *tapWatch) reset() connReset {
	w.relay.Abort()
	return relayReset{}
}
