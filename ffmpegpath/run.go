package ffmpegpath

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/fmspush/fmspush/delivery"
	"github.com/fmspush/fmspush/ffmpegpath/tap"
	"github.com/fmspush/fmspush/health"
)

// The ffmpeg process of one Run goes through these states:
//
//	starting ──start failed──────────────────────────────▶ exited (process verdict)
//	   │
//	running ──first progress──▶ published ──frame > 0──▶ live (MarkLive)
//	   │  (every state until exited)
//	   ├── ctx done: intent=stop, SIGINT to the group ──▶ stopping ──Grace──▶ SIGKILL
//	   ├── the tap relay ends with a stall (the server's acks, or TCP's
//	   │   evidence of the relay's socket, show it taking nothing for
//	   │   StallTimeout while data waits; the relay reset its connection):
//	   │   intent=kill, SIGKILL to the group ──▶ exited (L4 "stalled")
//	   ├── without the relay, ffmpeg's socket shows the same (or the progress
//	   │   watchdog fires while the evidence shows that): the socket is
//	   │   duplicated with linger 0, intent=kill, SIGKILL to the group, the
//	   │   duplicate closed (RST) ──▶ exited (L4 "stalled")
//	   ├── no progress for StaleTimeout (StartTimeout before the first report):
//	   │   intent=kill, SIGKILL to the group ──▶ exited (process verdict "stalled")
//	   ├── published but no video frame for StartTimeout (no keyframe):
//	   │   intent=kill, SIGKILL to the group ──▶ exited (source verdict "no_video")
//	   └── the process exits ──▶ exited: stderr and progress drained, Classify
//
// The intent (stop, kill) is kept apart from the observed state so that the
// exit is judged by why it happened: an exit after our SIGINT is a clean
// stop whatever its status (255 normally).

// run is one ffmpeg process and the loop that owns its state.
type run struct {
	s    Settings
	src  SourceInfo
	args []string
	base time.Duration
	sig  *health.Signals
	red  *Redactor

	start        time.Time
	lastAdvance  time.Time
	last         Progress
	publishedAt  time.Time
	firstFrameAt time.Time
	script       transcript
	stopping     bool
	stalled      bool
	staleFor     time.Duration
	noVideoFor   time.Duration
	pid          int

	feed        *fed          // ffmpeg reads the stream's camera session on stdin; nil: it opens the source
	feedIdle    time.Duration // the feed gave nothing this long: ffmpeg was killed for it
	relay       *tap.Relay    // the relay ffmpeg publishes through; nil: straight to the target
	localURL    string        // the relay's URL ffmpeg is given
	relayErr    error         // why the relay ended, once it has
	addrs       []string      // without the relay: where the target may be connected (targetAddrs)
	ev          evidence      // the delivery evidence: the relay's, or ffmpeg's socket's
	serverStall *stallInfo    // the server stopped taking data: the push was ended for it
	rst         connReset     // resets the connection once ffmpeg is gone
	resetHow    string        // how the connection was reset, if it was
	paused      *pauseClock

	setup        setupWatch    // the target's setup, from the stage lines
	setupStalled time.Duration // the setup made no progress this long: killed for it
}

// procExit is how the process ended.
type procExit struct {
	at    time.Time
	state *os.ProcessState
	err   error
}

// proc is a started ffmpeg with its pipes.
type proc struct {
	pid      int
	stderr   *os.File
	progress *os.File
	exited   chan procExit
}

// startProc starts ffmpeg from a goroutine locked to its OS thread until the
// process has exited: Pdeathsig fires when the thread that forked the child
// ends, and a locked thread never ends under a running child.
func startProc(bin string, args []string, stdin *os.File) (*proc, error) {
	progR, progW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		progR.Close()
		progW.Close()
		return nil, err
	}
	p := &proc{stderr: errR, progress: progR, exited: make(chan procExit, 1)}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.Stderr = errW
		cmd.ExtraFiles = []*os.File{progW} // fd 3: -progress pipe:3
		if stdin != nil {
			cmd.Stdin = stdin
		}
		err := cmd.Start()
		progW.Close()
		errW.Close()
		if stdin != nil {
			stdin.Close() // ffmpeg has its own copy
		}
		if err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		err = cmd.Wait()
		p.exited <- procExit{at: time.Now(), state: cmd.ProcessState, err: err}
	}()
	if err := <-started; err != nil {
		progR.Close()
		errR.Close()
		return nil, err
	}
	return p, nil
}

// signal sends sig to the process group.
func (p *proc) signal(sig syscall.Signal) {
	if p.pid > 0 {
		syscall.Kill(-p.pid, sig)
	}
}

// loop starts ffmpeg and owns its state until it has exited.
func (r *run) loop(ctx context.Context) *health.Verdict {
	defer pauses.Acquire()()
	r.start = time.Now()
	r.paused = newPauseClock(r.start)
	out := r.openOutput(ctx)
	defer r.closeRelay(false)
	defer r.feed.close()
	r.args = buildArgs(r.s, r.src, r.base, out, r.feed != nil)
	r.s.Logger.Debug("starting ffmpeg", "args", r.red.Text(strings.Join(r.args, " ")))
	var stdin *os.File
	if r.feed != nil {
		stdin = r.feed.stdin
		go r.feed.pump() // ends with the feed or ffmpeg's stdin; r.feed.close waits for it
	}
	p, err := startProc(r.s.FFmpegPath, r.args, stdin)
	if err != nil {
		return Classify(Exit{Source: inputOf(r.s), Target: r.s.Target, StartErr: err,
			Binary: r.s.FFmpegPath, Start: r.start, End: time.Now(), ExitCode: -1})
	}
	r.pid = p.pid
	r.ev = r.newEvidence(p.pid)
	var relayDone <-chan struct{}
	if r.relay != nil {
		relayDone = r.relay.Done()
	}
	sample := time.NewTicker(samplePeriod(r.s.StallTimeout))
	defer sample.Stop()
	lines := make(chan LogLine, 256)
	progress := make(chan Progress, 16)
	go func() { ReadLines(p.stderr, lines); close(lines) }()
	go func() { ReadProgress(p.progress, progress); close(progress) }()
	tick := time.NewTicker(r.watchPeriod())
	defer tick.Stop()
	done := ctx.Done()
	var grace <-chan time.Time
	for {
		select {
		case l, ok := <-lines:
			if ok {
				r.onLine(l)
			} else {
				lines = nil
			}
		case b, ok := <-progress:
			if ok {
				r.onProgress(b, time.Now())
			} else {
				progress = nil
			}
		case <-tick.C:
			// A tick's value is when it was due, also after a pause.
			now := time.Now()
			r.checkPause(now)
			r.watch(p, now)
		case <-sample.C:
			now := time.Now()
			r.checkPause(now)
			r.sample(p, now)
		case <-done:
			done = nil
			r.stopping = true
			p.signal(syscall.SIGINT)
			grace = time.After(r.s.Grace)
		case <-relayDone:
			relayDone = nil
			r.relayEnded(p)
		case <-grace:
			r.s.Logger.Warn("ffmpeg did not stop within the grace period; killing it", "grace", r.s.Grace)
			if r.rst == nil {
				r.rst = r.delivery().reset() // whatever it still sends is lost anyway: no half-dead connection
			}
			p.signal(syscall.SIGKILL)
		case x := <-p.exited:
			r.releaseReset()
			r.drain(p, lines, progress)
			r.closeRelay(exitedOnItsOwn(x))
			r.boundTimestamp(x.at)
			e := r.exit(x)
			if e.Stopped {
				r.s.Logger.Debug("ffmpeg stopped", "exit_status", e.ExitCode, "signal", e.Signal,
					"after", x.at.Sub(r.start).Round(time.Millisecond))
			}
			return Classify(e)
		}
	}
}

// openOutput decides where ffmpeg publishes: through the tap relay,
// started here (the run's output is then its local URL), or, for a target
// the relay cannot take, straight to the target, whose addresses the
// socket watch then needs.
func (r *run) openOutput(ctx context.Context) output {
	plan, err := planRelay(r.s)
	if err == nil {
		rel := newRelay(r.s, plan, pauses, r.start)
		// Not the run's ctx: its end stops ffmpeg, which unpublishes through the relay.
		if err = rel.Start(context.Background()); err == nil {
			r.relay, r.localURL = rel, plan.target.LocalURL(rel.Addr())
			return output{url: r.localURL, tcURL: plan.target.TCURL, relayed: true}
		}
	}
	r.s.Logger.Debug("publishing without the tap relay; delivery is judged from ffmpeg's socket", "reason", err.Error())
	r.addrs = r.resolveTarget(ctx)
	return output{url: r.s.Target}
}

// newEvidence is the run's delivery evidence for ffmpeg process pid.
func (r *run) newEvidence(pid int) evidence {
	if r.relay != nil {
		return &tapWatch{relay: r.relay, sig: r.sig}
	}
	return sockEvidence{newSockWatch(pid, r.addrs, r.s.StallTimeout, r.sig)}
}

// delivery is the run's evidence; none (a nil socket watch) before ffmpeg started.
func (r *run) delivery() evidence {
	if r.ev == nil {
		return sockEvidence{}
	}
	return r.ev
}

// relayEnded handles the end of the relay while ffmpeg runs. A stall
// (*tap.StallError: the relay has reset the server connection) ends the
// push as the server's L4 stall; any other end reaches ffmpeg as its
// connection closing or reset, and its exit tells the rest (with the
// relay's error: classify).
func (r *run) relayEnded(p *proc) {
	r.relayErr = r.relay.Err()
	var se *tap.StallError
	if !errors.As(r.relayErr, &se) {
		if r.relayErr != nil {
			r.s.Logger.Debug("the relay to the target ended", "error", r.red.Text(r.relayErr.Error()))
		}
		return
	}
	if r.stopping || r.stalled || r.noVideoFor > 0 || r.serverStall != nil {
		return
	}
	r.serverStall = &stallInfo{At: se.At, For: se.For, Queued: se.Queued, Evidence: se.Evidence}
	r.s.Logger.Error("the server took nothing while data waited; the relay reset the connection, killing ffmpeg",
		"for", se.For.Round(time.Millisecond), "queued", delivery.BytesText(se.Queued), "evidence", se.Evidence)
	r.rst = relayReset{}
	p.signal(syscall.SIGKILL)
}

// exitedOnItsOwn reports whether ffmpeg exited rather than died of a signal:
// it then closed its output, unpublishing.
func exitedOnItsOwn(x procExit) bool {
	if x.state == nil {
		return false
	}
	ws, ok := x.state.Sys().(syscall.WaitStatus)
	return !ok || !ws.Signaled()
}

// closeRelay closes the relay (once ffmpeg has exited, or the run could not
// start it). After an exit of ffmpeg's own, the relay first gets relayDrain
// to pass ffmpeg's last bytes (its unpublish) on and see the server close.
func (r *run) closeRelay(drain bool) {
	if r.relay == nil {
		return
	}
	if drain {
		select {
		case <-r.relay.Done():
		case <-time.After(relayDrain):
		}
	}
	r.relay.Close()
	if r.relayErr == nil {
		r.relayErr = r.relay.Err()
	}
}

// resolveTarget lists the addresses ffmpeg may connect to for the target
// (see targetAddrs); none when the name does not resolve here, and then the
// push is judged by its progress alone.
func (r *run) resolveTarget(ctx context.Context) []string {
	addrs, err := targetAddrs(ctx, r.s.Target)
	if err != nil {
		r.s.Logger.Debug("the target's address is not known here; delivery is judged by progress alone",
			"error", r.red.Text(err.Error()))
	}
	return addrs
}

// sample reads the target connection (delivery evidence for the signals)
// and ends the push when the server has taken nothing for StallTimeout
// while data waited: an L4 stall, the server's doing, not ffmpeg's.
func (r *run) sample(p *proc, now time.Time) {
	st := r.delivery().sample(now, !r.publishedAt.IsZero())
	if st == nil || r.stopping || r.stalled || r.noVideoFor > 0 {
		return
	}
	r.stallKill(p, st)
}

// stallKill ends a push whose server stopped taking data: it takes hold of
// the connection (linger 0), kills ffmpeg, and releaseReset then resets
// the connection instead of leaving it to linger with queued data.
func (r *run) stallKill(p *proc, st *stallInfo) {
	r.serverStall = st
	r.s.Logger.Error("the server took nothing while data waited; killing ffmpeg and resetting the connection",
		"for", st.For.Round(time.Millisecond), "queued", delivery.BytesText(st.Queued), "evidence", st.Evidence)
	r.rst = r.delivery().reset()
	p.signal(syscall.SIGKILL)
}

// releaseReset resets the held connection once ffmpeg has exited.
func (r *run) releaseReset() {
	if r.rst == nil {
		return
	}
	if how := r.rst.finish(r.s.Logger); how != "" {
		r.resetHow = how
	}
	r.rst = nil
}

// checkPause restarts the watchdog's and the socket's clocks after a pause
// of this process: ffmpeg (another process) may have gone on, and what it
// did is judged from now on.
func (r *run) checkPause(now time.Time) {
	if p, ok := r.paused.check(now); ok {
		r.s.Logger.Debug("watchdog and delivery clocks restarted after a pause of the service", "pause", p.String())
		r.delivery().restart(now)
	}
}

// watchPeriod is how often the watchdog looks.
func (r *run) watchPeriod() time.Duration {
	return min(r.s.StaleTimeout/5, 100*time.Millisecond)
}

// watch kills a hung ffmpeg: no progress for StaleTimeout, or no first
// report within StartTimeout.
func (r *run) watch(p *proc, now time.Time) {
	if r.stalled || r.stopping || r.noVideoFor > 0 || r.setupStalled > 0 || r.feedIdle > 0 {
		return
	}
	if d, ok := r.setup.stuck(now, r.s.StaleTimeout, r.paused.since); ok && r.publishedAt.IsZero() {
		r.setupStalled = d
		r.s.Logger.Error("the target's setup made no progress; killing ffmpeg", "for", d.Round(time.Millisecond))
		p.signal(syscall.SIGKILL)
		return
	}
	if !r.publishedAt.IsZero() && r.firstFrameAt.IsZero() && r.paused.since(r.publishedAt, now) >= r.s.StartTimeout {
		r.noVideoFor = r.paused.since(r.publishedAt, now)
		r.s.Logger.Error("no video frame since the publish; killing ffmpeg", "for", r.noVideoFor.Round(time.Millisecond))
		p.signal(syscall.SIGKILL)
		return
	}
	since, limit := r.paused.since(r.lastAdvance, now), r.s.StaleTimeout
	if r.publishedAt.IsZero() {
		since, limit = r.paused.since(r.start, now), r.s.StartTimeout
	}
	if since < limit {
		return
	}
	if st := r.delivery().starving(now); st != nil && !r.publishedAt.IsZero() {
		r.stallKill(p, st) // ffmpeg is blocked on a server that does not read
		return
	}
	if idle := r.feed.idle(now); idle >= limit {
		r.feedIdle = idle // ffmpeg waits for input the camera session does not give
		r.s.Logger.Error("no media from the stream's camera session; killing ffmpeg", "for", idle.Round(time.Millisecond))
		p.signal(syscall.SIGKILL)
		return
	}
	r.stalled, r.staleFor = true, since
	r.s.Logger.Error("ffmpeg made no progress; killing it", "for", since.Round(time.Millisecond))
	p.signal(syscall.SIGKILL)
}

// onLine logs a stderr line and keeps what classification needs. Through
// the relay, the relay's local URL in ffmpeg's words reads as the target's:
// the logs and verdicts name the real target, and Classify finds it.
func (r *run) onLine(l LogLine) {
	if r.localURL != "" {
		l.Msg = strings.ReplaceAll(l.Msg, r.localURL, r.s.Target)
	}
	logLine(r.s.Logger, r.red, l)
	r.script.add(l)
	r.setup.line(l)
}

// onProgress feeds the signals and the watchdog from one progress report.
func (r *run) onProgress(b Progress, now time.Time) {
	if r.publishedAt.IsZero() {
		r.publishedAt = now
	}
	advanced := b.Frame > r.last.Frame || b.TotalSize > r.last.TotalSize || b.OutTime > r.last.OutTime
	if d := b.TotalSize - r.last.TotalSize; d > 0 {
		r.sig.BytesSent.Add(d)
	}
	if d := b.Frame - r.last.Frame; d > 0 {
		r.sig.VideoFrames.Add(d)
	}
	r.delivery().progress(b)
	if advanced {
		r.lastAdvance = now
		r.sig.LastTimestamp.Store((r.base + b.OutTime).Milliseconds())
		r.sig.Progress()
	}
	if b.Frame > 0 && r.firstFrameAt.IsZero() {
		r.firstFrameAt = FirstFrameEstimate(r.publishedAt, now, b.OutTime)
		r.sig.MarkLive()
	}
	r.last = b
}

// timestampMargin covers what ffmpeg may have written after its last
// progress report beyond real-time pacing (the muxer's interleaving queue).
const timestampMargin = 500 * time.Millisecond

// boundTimestamp raises Signals.LastTimestamp, at the exit, to an upper bound
// of what the target received: progress reports lag (ffmpeg kept sending for
// up to a report period after the last one, faster than real time while it
// flushes what it buffered), and the next path continues the timeline from
// this value, so it must never be below the truth.
func (r *run) boundTimestamp(end time.Time) {
	if r.feed != nil {
		// Fed, ffmpeg sent at most what it was given, which may run ahead
		// of its progress and of real time (the cached GOP comes at once).
		if sp := r.feed.feed.Span(); sp > 0 {
			r.raiseTimestamp(r.base + sp + feedMargin)
		}
	}
	if r.lastAdvance.IsZero() || r.last.OutTime <= 0 {
		return
	}
	speed := max(r.last.Speed, 1)
	ahead := time.Duration(float64(end.Sub(r.lastAdvance))*speed) + timestampMargin
	r.raiseTimestamp(r.base + r.last.OutTime + ahead)
}

// raiseTimestamp raises Signals.LastTimestamp to ts if it is below.
func (r *run) raiseTimestamp(ts time.Duration) {
	if ms := ts.Milliseconds(); ms > r.sig.LastTimestamp.Load() {
		r.sig.LastTimestamp.Store(ms)
	}
}

// FirstFrameEstimate is when the first frame went out, judged from the
// first report that counts frames: media flows at real time, so the first
// frame left about outTime before that report, and never before the publish.
// It is finer than the report period.
func FirstFrameEstimate(published, report time.Time, outTime time.Duration) time.Time {
	t := report.Add(-outTime)
	if t.Before(published) {
		return published
	}
	return t
}

// drainLimit bounds the wait for the pipes' EOF after the exit (a pipe
// stays open only if something inherited it).
const drainLimit = time.Second

// drain reads what is left on stderr and the progress pipe after the exit.
func (r *run) drain(p *proc, lines <-chan LogLine, progress <-chan Progress) {
	limit := time.After(drainLimit)
	for lines != nil || progress != nil {
		select {
		case l, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			r.onLine(l)
		case b, ok := <-progress:
			if !ok {
				progress = nil
				continue
			}
			r.onProgress(b, time.Now())
		case <-limit:
			p.stderr.Close() // unblocks the readers
			p.progress.Close()
		}
	}
	p.stderr.Close()
	p.progress.Close()
}

// exit gathers what Classify needs.
func (r *run) exit(x procExit) Exit {
	e := Exit{Source: inputOf(r.s), Target: r.s.Target, PlayPath: r.s.RTMPPlayPath,
		Lines: r.script.lines(), Start: r.start, PublishedAt: r.publishedAt,
		FirstFrameAt: r.firstFrameAt, End: x.at, Binary: r.s.FFmpegPath,
		Stalled: r.stalled, StaleFor: r.staleFor, NoVideoFor: r.noVideoFor, Stopped: r.stopping,
		ResetHow: r.resetHow, IOTimeout: r.s.IOTimeout, SetupStalledFor: r.setupStalled, setup: r.setup.st.marks(),
		RelayErr: r.relayErr, FeedErr: r.feed.errFeed(), FeedIdleFor: r.feedIdle}
	if st := r.serverStall; st != nil {
		e.ServerStalledAt, e.ServerStalledFor, e.Queued, e.StallEvidence = st.At, st.For, st.Queued, st.Evidence
	}
	e.ExitCode = -1
	if x.state != nil {
		e.ExitCode = x.state.ExitCode()
		if ws, ok := x.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = ws.Signal().String()
		}
	} else if x.err != nil && !errors.Is(x.err, os.ErrProcessDone) {
		e.Signal = "unknown: " + x.err.Error()
	}
	return e
}

// transcript keeps the stderr lines classification needs: every line until
// the output is open (the stage markers), then errors, warnings and the
// rtmp/tcp lines, bounded to the first headLines and the last tailLines.
type transcript struct {
	head []LogLine
	ring []LogLine
	next int
}

const (
	headLines = 400
	tailKeep  = 200
)

func (t *transcript) add(l LogLine) {
	if len(t.head) < headLines {
		t.head = append(t.head, l)
		return
	}
	if !relevant(l) {
		return
	}
	if len(t.ring) < tailKeep {
		t.ring = append(t.ring, l)
		return
	}
	t.ring[t.next] = l
	t.next = (t.next + 1) % tailKeep
}

// relevant reports whether a line after the head can matter to Classify.
func relevant(l LogLine) bool {
	switch l.Level {
	case "error", "fatal", "panic", "warning":
		return true
	}
	return l.Component == "rtmp" || l.Component == "tcp" || strings.HasPrefix(l.Msg, "Opening an")
}

func (t *transcript) lines() []LogLine {
	out := append([]LogLine(nil), t.head...)
	out = append(out, t.ring[t.next:]...)
	return append(out, t.ring[:t.next]...)
}
