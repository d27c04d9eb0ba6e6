//go:build libav

package ffmpegpath

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/fmspush/fmspush/delivery"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/media"
)

// LibavAvailable reports whether this build has the libav driver.
const LibavAvailable = true

// Libav is the libav driver: the source is remuxed to the target inside
// fmspush through go-astiav (Debian's FFmpeg 5.1 libraries), one locked OS
// thread per push. It takes the same Settings and gives the same verdicts as
// Exec, with these limits: audio is copied (AAC or MP3) or dropped, never
// transcoded or made silent; InputArgs and ExtraArgs (ffmpeg command-line
// options) are ignored, except the TLS options of an rtmps:// target
// (-tls_verify, -ca_file, -verifyhost: TLSArgs), which it passes to the
// tls protocol as exec does, verification on.
//
// The output is opened through the tee muxer, which opens its slave with
// avio_open2, the output's interrupt callback and the rtmp_* options, so
// that opening the target is interruptible and takes protocol options
// (go-astiav v0.16.0's OpenIOContext does neither). Every blocking libav call
// of a push is interrupted on stall and after the stop grace period.
//
// Unlike Exec, it does not publish through the tap relay: its delivery
// evidence is TCP's accounting of its own socket (TCP_INFO through
// sock_diag, sockWatch), which sees a stalled server only once the
// server's receive buffer is full (StallTimeout plus 2-26 s at 0.5
// Mbit/s).
type Libav struct {
	Settings
}

func newLibav(s Settings) (Driver, error) { return &Libav{Settings: s}, nil }

// Kind returns "ffmpeg".
func (l *Libav) Kind() string { return "ffmpeg" }

// Check reports whether the linked libav has what a push needs.
func (l *Libav) Check(context.Context) error {
	for _, f := range []string{"flv", "tee"} {
		if astiav.FindOutputFormat(f) == nil {
			return fmt.Errorf("ffmpegpath: the linked libavformat has no %s muxer", f)
		}
	}
	return nil
}

// Run remuxes the source to the target until ctx ends (nil, after a clean
// unpublish) or the push fails (*health.Verdict).
func (l *Libav) Run(ctx context.Context, base time.Duration, sig *health.Signals) error {
	s := l.Settings.withDefaults()
	err := s.validate()
	if err == nil {
		s, err = s.signed(time.Now()) // this run's connection: a fresh signature
	}
	if err == nil {
		err = libavSupports(s)
	}
	if err != nil {
		return unsupported(err)
	}
	if ctx.Err() != nil {
		return nil // stopped before it started
	}
	r := &remux{s: s, base: base, sig: sig, red: NewRedactor(s.Source, s.Target, s.RTMPPlayPath),
		stop: make(chan struct{}), done: make(chan struct{})}
	v := r.supervise(ctx)
	if v == nil {
		return nil
	}
	return v
}

func unsupported(err error) *health.Verdict {
	v := health.NewVerdict(health.LayerProcess, "unsupported_by_driver", err.Error())
	v.Path = "ffmpeg"
	return v
}

// teeSpecial are the characters the tee muxer's option syntax would need
// escaped (at several levels); values carrying them are refused.
const teeSpecial = `\':[]|`

// libavSupports reports settings the libav driver cannot honour.
func libavSupports(s Settings) error {
	if s.Audio == media.AudioSilent {
		return errors.New(`ffmpegpath: the libav driver does not make silent audio (audio "silent"); use the exec driver`)
	}
	app, play := s.RTMPApp, s.RTMPPlayPath
	if app == "" && play == "" {
		app, play = splitBilibili(s.Target)
	}
	for _, v := range append([]string{s.FlashVer, app, play}, tlsOptions(s)...) {
		if strings.ContainsAny(v, teeSpecial) {
			return fmt.Errorf("ffmpegpath: the libav driver cannot pass an rtmp option containing one of %s; use the exec driver", teeSpecial)
		}
	}
	if strings.ContainsAny(s.Target, `\'|`) || strings.ContainsAny(s.Target, " \t") {
		return errors.New("ffmpegpath: the libav driver cannot open a target URL with quotes, backslashes, '|' or spaces; use the exec driver")
	}
	return nil
}

// teeSpec is the tee muxer's output name for the target.
func teeSpec(s Settings) string {
	opts := []string{"f=flv", "onfail=abort", "flvflags=no_duration_filesize",
		"rtmp_flashver=" + s.FlashVer, "rw_timeout=" + micros(s.IOTimeout)}
	app, play := s.RTMPApp, s.RTMPPlayPath
	if app == "" && play == "" {
		app, play = splitBilibili(s.Target)
	}
	if app != "" {
		opts = append(opts, "rtmp_app="+app)
	}
	if play != "" {
		opts = append(opts, "rtmp_playpath="+play)
	}
	opts = append(opts, tlsOptions(s)...)
	return "[" + strings.Join(opts, ":") + "]" + s.Target
}

// remux is one libav push: a goroutine locked to its OS thread does every
// libav call (remux.work); supervise owns the stop intent and the watchdog.
type remux struct {
	s    Settings
	base time.Duration
	sig  *health.Signals
	red  *Redactor

	stop     chan struct{} // closed: the intent is to stop
	done     chan struct{} // closed when work returned
	stopping atomic.Bool
	stalled  atomic.Bool

	// set by work, read by supervise through atomics
	lastAdvance atomic.Int64 // unix ns
	published   atomic.Int64 // unix ns
	firstVideo  atomic.Int64 // unix ns
	noVideo     atomic.Bool  // interrupted for want of video
	noVideoFor  time.Duration

	intMu      sync.Mutex
	interrupts []astiav.IOInterrupter
	abort      bool

	// owned by work until done is closed
	start, end         time.Time
	publishedAt, first time.Time
	exitCode           int
	unsupported        error
	staleFor           time.Duration
	script             transcript
	scriptMu           sync.Mutex

	// owned by supervise: the target connection (in this process) and a
	// server stall seen on it
	sock        *sockWatch
	serverStall *stallInfo
	rst         *resetter
	resetHow    string
	paused      *pauseClock
}

// supervise starts the work and watches it until it returns.
func (r *remux) supervise(ctx context.Context) *health.Verdict {
	addrs, err := targetAddrs(ctx, r.s.Target)
	if err != nil {
		r.s.Logger.Debug("the target's address is not known here; delivery is judged by progress alone",
			"error", r.red.Text(err.Error()))
	}
	// The socket is this process's: it is watched only while it is the one
	// connection of the process to that address (findSocket).
	r.sock = newSockWatch(os.Getpid(), addrs, r.s.StallTimeout, r.sig)
	r.start = time.Now()
	r.lastAdvance.Store(r.start.UnixNano())
	defer pauses.Acquire()()
	r.paused = newPauseClock(r.start)
	go r.work()
	tick := time.NewTicker(min(r.s.StaleTimeout/5, 100*time.Millisecond))
	defer tick.Stop()
	sample := time.NewTicker(samplePeriod(r.s.StallTimeout))
	defer sample.Stop()
	done := ctx.Done()
	var grace <-chan time.Time
	for {
		select {
		case <-done:
			done = nil
			r.stopping.Store(true)
			close(r.stop)
			grace = time.After(r.s.Grace)
		case <-grace:
			r.s.Logger.Warn("libav push did not stop within the grace period; interrupting it", "grace", r.s.Grace)
			if r.rst == nil {
				r.rst = r.sock.reset()
			}
			r.interrupt()
		case <-tick.C:
			// A tick's value is when it was due, also after a pause.
			now := time.Now()
			r.checkPause(now)
			r.watch(now)
		case <-sample.C:
			now := time.Now()
			r.checkPause(now)
			r.sample(now)
		case <-r.done:
			r.releaseReset()
			if r.unsupported != nil && !r.stopping.Load() {
				return unsupported(r.unsupported)
			}
			return Classify(r.exit())
		}
	}
}

// sample reads the target connection (delivery evidence for the signals)
// and ends the push when the server has taken nothing for StallTimeout
// while data waited (an L4 stall).
func (r *remux) sample(now time.Time) {
	published := r.published.Load() != 0
	if ts := time.Duration(r.sig.LastTimestamp.Load())*time.Millisecond - r.base; published && ts > 0 {
		r.sock.progress(Progress{TotalSize: r.sig.BytesSent.Load(), OutTime: ts})
	}
	st := r.sock.sample(now, published)
	if st == nil || r.stopping.Load() || r.stalled.Load() || r.noVideoFor > 0 {
		return
	}
	r.stallInterrupt(st)
}

// stallInterrupt ends a push whose server stopped taking data: it holds the
// connection with linger 0 and interrupts libav; releaseReset resets it.
func (r *remux) stallInterrupt(st *stallInfo) {
	r.serverStall = st
	r.s.Logger.Error("the server took nothing while data waited; interrupting the push and resetting the connection",
		"for", st.For.Round(time.Millisecond), "queued", delivery.BytesText(st.Queued))
	r.rst = r.sock.reset()
	r.interrupt()
}

// releaseReset resets the held connection once libav has let it go.
func (r *remux) releaseReset() {
	if how := r.rst.finish(r.s.Logger); how != "" {
		r.resetHow = how
	}
	r.rst = nil
}

// checkPause restarts the watchdog's and the socket's clocks after a pause
// of this process (the push's own goroutine was paused with it).
func (r *remux) checkPause(now time.Time) {
	if p, ok := r.paused.check(now); ok {
		r.s.Logger.Debug("watchdog and delivery clocks restarted after a pause of the service", "pause", p.String())
		r.sock.restart(now)
	}
}

// watch interrupts a hung push.
func (r *remux) watch(now time.Time) {
	if r.stalled.Load() || r.stopping.Load() || r.noVideoFor > 0 {
		return
	}
	if pub := r.published.Load(); pub != 0 && r.firstVideo.Load() == 0 && r.paused.since(time.Unix(0, pub), now) >= r.s.StartTimeout {
		r.noVideoFor = r.paused.since(time.Unix(0, pub), now)
		r.s.Logger.Error("no video frame since the publish; interrupting the push", "for", r.noVideoFor.Round(time.Millisecond))
		r.noVideo.Store(true)
		r.interrupt()
		return
	}
	since, limit := r.paused.since(time.Unix(0, r.lastAdvance.Load()), now), r.s.StaleTimeout
	if r.published.Load() == 0 {
		since, limit = r.paused.since(r.start, now), r.s.StartTimeout
	}
	if since < limit {
		return
	}
	if st := r.sock.starving(now); st != nil && r.published.Load() != 0 {
		r.stallInterrupt(st) // libav is blocked on a server that does not read
		return
	}
	r.staleFor = since
	r.stalled.Store(true)
	r.s.Logger.Error("libav push made no progress; interrupting it", "for", since.Round(time.Millisecond))
	r.interrupt()
}

// interrupt makes every blocking libav call of the push return.
func (r *remux) interrupt() {
	r.intMu.Lock()
	defer r.intMu.Unlock()
	r.abort = true
	for _, i := range r.interrupts {
		i.Interrupt()
	}
}

// guard registers a context's interrupter (interrupted at once if the push
// is already being aborted). The interrupter stays referenced until the
// push ends, as C holds a pointer into it.
func (r *remux) guard(fc *astiav.FormatContext) {
	i := fc.SetInterruptCallback()
	r.intMu.Lock()
	defer r.intMu.Unlock()
	r.interrupts = append(r.interrupts, i)
	if r.abort {
		i.Interrupt()
	}
}

// exit gathers what Classify needs once work has returned.
func (r *remux) exit() Exit {
	staleFor := r.staleFor
	e := Exit{Source: inputOf(r.s), Target: r.s.Target, PlayPath: r.s.RTMPPlayPath,
		Lines: r.script.lines(), Start: r.start, PublishedAt: r.publishedAt, FirstFrameAt: r.first,
		End: r.end, ExitCode: r.exitCode, Binary: "libav", Stalled: r.stalled.Load(), StaleFor: staleFor,
		NoVideoFor: r.noVideoFor, Stopped: r.stopping.Load(), ResetHow: r.resetHow}
	if st := r.serverStall; st != nil {
		e.ServerStalledAt, e.ServerStalledFor, e.Queued, e.StallEvidence = st.At, st.For, st.Queued, st.Evidence
	}
	return e
}

// emit logs a line and keeps it for classification.
func (r *remux) emit(l LogLine) {
	logLine(r.s.Logger, r.red, l)
	r.scriptMu.Lock()
	r.script.add(l)
	r.scriptMu.Unlock()
}

// note emits a line of the driver's own, shaped like ffmpeg's.
func (r *remux) note(level, msg string) {
	r.emit(LogLine{At: time.Now(), Level: level, Msg: msg})
}
