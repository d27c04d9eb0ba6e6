package ffmpegpath

import (
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/rtmp"
)

// Exit is everything known when one ffmpeg push ended: its stderr, the
// timings observed from its progress, how the process ended and why.
type Exit struct {
	// Source and Target are the raw URLs (Source as given to -i); PlayPath an
	// explicit -rtmp_playpath. Classify redacts everything it quotes.
	Source, Target, PlayPath string
	// Lines is ffmpeg's stderr in order, raw.
	Lines []LogLine
	// Start is when the process started.
	Start time.Time
	// PublishedAt is when the first progress report arrived (ffmpeg reports
	// only once every output is open, i.e. after NetStream.Publish.Start);
	// zero if never.
	PublishedAt time.Time
	// FirstFrameAt is when the first report with frame > 0 arrived; zero if never.
	FirstFrameAt time.Time
	// End is when the process exited.
	End time.Time
	// ExitCode is the process's exit status, -1 when a signal ended it.
	ExitCode int
	// Signal is the signal that ended the process ("killed", "segmentation fault"), if any.
	Signal string
	// StartErr is why the process could not be started.
	StartErr error
	// Binary is the ffmpeg path that was run.
	Binary string
	// Stalled is set when the watchdog killed the process; StaleFor is how
	// long it had gone without progress.
	Stalled  bool
	StaleFor time.Duration
	// NoVideoFor is set when the push was ended because no video frame
	// (no keyframe) came from the source this long after the publish.
	NoVideoFor time.Duration
	// FeedErr is why the feed ffmpeg read on its stdin ended by itself (the
	// stream's camera session lost the source), if it did.
	FeedErr error
	// FeedIdleFor is set when ffmpeg was ended because its feed gave
	// nothing this long (the camera session had no media for it).
	FeedIdleFor time.Duration
	// Stopped is set when fmspush asked ffmpeg to stop (SIGINT).
	Stopped bool
	// ServerStalledFor is set when the push was ended because the target's
	// connection showed the server taking nothing for this long while Queued
	// bytes waited (seen at ServerStalledAt): an L4 stall, whatever the
	// process did after.
	ServerStalledFor time.Duration
	ServerStalledAt  time.Time
	Queued           uint64
	// StallEvidence is what the stall was judged from: tap.EvidenceAck (the
	// server's RTMP Acknowledgements, through the relay) or tap.EvidenceTCP.
	StallEvidence string
	// ResetHow says how the connection was reset at the end, if it was
	// ("tap_relay+SO_LINGER0", "pidfd_getfd+SO_LINGER0", "dup+SO_LINGER0",
	// "sock_destroy").
	ResetHow string
	// RelayErr is why the tap relay ffmpeg published through ended, if with
	// an error (nil without the relay). A *tap.DialError is the target's L0
	// failure (refused, timed out, TLS), which ffmpeg itself saw only as
	// its local connection closing: it is judged before ffmpeg's words.
	RelayErr error
	// IOTimeout is ffmpeg's -rw_timeout (Settings.IOTimeout), zero if not
	// known. ffmpeg's RTMP layer reports every failed read of a message as
	// "Input/output error", a silent server's timeout as much as a close; a
	// read that fails after this long of silence is judged a timeout.
	IOTimeout time.Duration
	// SetupStalledFor is set when the push was ended because the target's
	// setup (dial, handshake, connect, publish) made no progress for this
	// long (Settings.StaleTimeout): a server that keeps the connection busy
	// without answering the step (a flood of control messages) or open
	// without a word. The verdict is the timeout of the step it stopped at,
	// as the native path's step timeout says.
	SetupStalledFor time.Duration
	// setup are the setup's moments as the exec driver saw them in every
	// stderr line (setupWatch.marks), zero if unknown: Lines keeps only a
	// bounded transcript, whose stage lines a flood may push out.
	setup [8]time.Time
}

// stages are the moments of a push that ffmpeg's debug lines reveal, with
// the decisive error lines.
type stages struct {
	debug                              bool // debug stage lines present
	output, dial, connected            time.Time
	handshake, handshaken, connectOK   time.Time
	publishSent, opened                time.Time
	serverWords                        string
	serverAt                           time.Time
	sourceErr, openErr, netErr, hsErr  *LogLine
	writeErr, codecErr, dnsErr, tlsErr *LogLine
	firstErr, signalled                *LogLine
	// authErr is libavformat's word on a refused publish authentication
	// ("Incorrect username/password", "No credentials set", ...).
	authErr     *LogLine
	outputPhase bool
	sourceName  string
	// lastRead is when the target's connection last showed the server's
	// doing (an rtmp or tcp line of the output phase): a read that fails
	// IOTimeout after it failed for the server's silence.
	lastRead time.Time
	// s0Version is the server's S0 ("Type answer N"), -1 before it is seen.
	s0Version int
}

// Classify turns an ended push into a verdict. It returns nil when the push
// ended because it was asked to stop. It is a pure function of e.
func Classify(e Exit) *health.Verdict {
	if e.Stopped && !e.Stalled && e.ServerStalledFor == 0 {
		return nil
	}
	r := NewRedactor(e.Source, e.Target, e.PlayPath)
	v := classify(e, scan(e))
	v.Path = "ffmpeg"
	v.Detail = r.Text(v.Detail)
	v.ServerWords = r.Text(v.ServerWords)
	if v.At.IsZero() {
		v.At = e.End
	}
	return v
}

func classify(e Exit, st *stages) *health.Verdict {
	if e.ServerStalledFor > 0 {
		return stallVerdict(e, st)
	}
	if v := relayDialVerdict(e, st); v != nil {
		return v
	}
	v := classifyExit(e, st)
	if relayStillDialing(e) && (v.Layer == health.LayerHandshake || v.Layer == health.LayerUnknown) {
		// ffmpeg gave up on the local hop while the relay still dialed.
		return verdict(e, st, health.LayerNetwork, "dial_timeout", e.End,
			"the connection to the server did not complete before ffmpeg gave up waiting for its handshake")
	}
	serverResetCause(e, v)
	return v
}

// classifyExit classifies from ffmpeg's exit and words.
func classifyExit(e Exit, st *stages) *health.Verdict {
	if e.SetupStalledFor > 0 {
		return setupVerdict(e, st)
	}
	if e.FeedIdleFor > 0 {
		return verdict(e, st, health.LayerSource, "source_lost", e.End,
			fmt.Sprintf("no media from the stream's camera session for %v", e.FeedIdleFor.Round(time.Millisecond)))
	}
	if e.NoVideoFor > 0 && !e.Stalled {
		return verdict(e, st, health.LayerSource, "no_video", e.End,
			fmt.Sprintf("no video frame (no keyframe) from the source %v after the publish", e.NoVideoFor.Round(time.Millisecond)))
	}
	if v := processVerdict(e); v != nil {
		return v
	}
	if v := targetVerdict(e, st); v != nil {
		return v
	}
	if e.FeedErr != nil && !e.Stopped {
		return verdict(e, st, health.LayerSource, "source_lost", e.End, "the stream's camera session: "+e.FeedErr.Error())
	}
	if st.sourceErr != nil || st.codecErr != nil {
		return sourceVerdict(e, st)
	}
	if l := signalLine(st); l != nil {
		return verdict(e, st, health.LayerProcess, "signalled", l.At, "ffmpeg was stopped by a signal fmspush did not send: "+l.Msg)
	}
	if e.ExitCode == 0 {
		return verdict(e, st, health.LayerSource, "source_ended", e.End, "the source ended")
	}
	return verdict(e, st, health.LayerUnknown, "ffmpeg_failed", e.End, exitWords(e, st.firstErr))
}

// stallVerdict is the server's stall: it took nothing while data waited.
func stallVerdict(e Exit, st *stages) *health.Verdict {
	s := stallInfo{At: e.ServerStalledAt, For: e.ServerStalledFor, Queued: e.Queued, Evidence: e.StallEvidence}
	words := s.words()
	if e.ResetHow != "" {
		words += "; the connection was reset"
	}
	v := verdict(e, st, health.LayerUpkeep, health.CauseStalled, e.ServerStalledAt, words)
	if e.Binary != "libav" {
		v.Detail = words + " (ffmpeg was killed for it)"
	}
	return v
}

// setupVerdict is a setup that made no progress for SetupStalledFor: the
// timeout of the step it stopped at. A bad S0 before it is the handshake's
// failure, as the native path reports it at once.
func setupVerdict(e Exit, st *stages) *health.Verdict {
	if v := badS0Verdict(e, st, nil); v != nil {
		return v
	}
	layer, step := st.setupStep()
	cause := layer.Title() + "_timeout"
	if layer == health.LayerNetwork {
		cause = "dial_timeout"
	}
	return verdict(e, st, layer, cause, e.End,
		fmt.Sprintf("the server answered nothing that advanced the %s for %v (ffmpeg was killed for it)",
			step, e.SetupStalledFor.Round(time.Millisecond)))
}

// setupStep is the layer and the step of the target's setup that was
// under way: the first one not completed.
func (st *stages) setupStep() (health.Layer, string) {
	switch {
	case st.connected.IsZero():
		return health.LayerNetwork, "dial"
	case st.handshaken.IsZero():
		return health.LayerHandshake, "handshake"
	case st.connectOK.IsZero():
		return health.LayerConnect, "connect"
	case st.publishSent.IsZero():
		return health.LayerPublish, "createStream"
	}
	return health.LayerPublish, "publish"
}

// badS0Verdict is the verdict for a server whose S0 was not version 3,
// when the push failed before the publish (why, if known, is the failure
// that followed): the native path refuses such an S0 at L1; ffmpeg goes on
// as a publisher (it never checks S0), so the failure shows later.
func badS0Verdict(e Exit, st *stages, why *LogLine) *health.Verdict {
	if st.s0Version < 0 || st.s0Version == 3 || !st.published(e).IsZero() {
		return nil
	}
	detail, at := fmt.Sprintf("S0 version %d, want 3", st.s0Version), e.End
	if why != nil {
		detail, at = detail+"; then: "+why.Msg, why.At
	}
	return verdict(e, st, health.LayerHandshake, "handshake_failed", at, detail)
}

// processVerdict covers the failures of the process itself.
func processVerdict(e Exit) *health.Verdict {
	none := &stages{}
	switch {
	case e.StartErr != nil:
		cause := "start_failed"
		switch {
		case errors.Is(e.StartErr, exec.ErrNotFound), errors.Is(e.StartErr, fs.ErrNotExist):
			cause = "binary_missing"
		case errors.Is(e.StartErr, fs.ErrPermission):
			cause = "binary_not_executable"
		}
		return verdict(e, none, health.LayerProcess, cause, e.End, fmt.Sprintf("cannot start ffmpeg %q: %v", e.Binary, e.StartErr))
	case e.Stalled && e.Binary == "libav":
		return verdict(e, none, health.LayerProcess, "stalled", e.End,
			fmt.Sprintf("the libav push made no progress for %v and was interrupted", e.StaleFor.Round(time.Millisecond)))
	case e.Stalled:
		return verdict(e, none, health.LayerProcess, "stalled", e.End,
			fmt.Sprintf("ffmpeg made no progress for %v and was killed", e.StaleFor.Round(time.Millisecond)))
	case e.Signal != "":
		cause := "killed"
		if crashSignal(e.Signal) {
			cause = "crashed"
		}
		return verdict(e, none, health.LayerProcess, cause, e.End, "ffmpeg was ended by a signal fmspush did not send")
	}
	return nil
}

func crashSignal(sig string) bool {
	for _, s := range []string{"segmentation", "abort", "bus error", "illegal", "floating point", "trap"} {
		if strings.Contains(sig, s) {
			return true
		}
	}
	return false
}

// signalLine is ffmpeg's "Exiting normally, received signal N." line.
func signalLine(st *stages) *LogLine { return st.signalled }

// targetVerdict classifies a failure on the target side, layer by layer.
func targetVerdict(e Exit, st *stages) *health.Verdict {
	published := st.published(e)
	if v := badS0Verdict(e, st, st.firstErr); v != nil {
		return v
	}
	if cause, ok := st.authCause(); ok && published.IsZero() {
		detail := "the server refused the target's publish authentication"
		if st.authErr != nil {
			detail += ": " + st.authErr.Msg
		}
		at := st.serverAt
		if st.serverWords == "" {
			at = st.authErr.At
		} else {
			detail += "; server: " + st.serverWords
		}
		v := verdict(e, st, health.LayerPublish, cause, at, detail)
		v.ServerWords = st.serverWords
		return v
	}
	if st.serverWords != "" {
		layer, cause := health.LayerPublish, "publish_rejected"
		switch {
		case nameHeld(st.serverWords):
			// The name is still held by an earlier session: it frees when the
			// server drops that one (the supervisor retries, not fails over).
			cause = health.CauseNameLocked
		case st.connectOK.IsZero() && published.IsZero():
			layer, cause = health.LayerConnect, "connect_rejected"
		case strings.Contains(st.serverWords, "BadName"):
			// ffmpeg prints the description, the code only when there is
			// none: the native path's word when the code shows.
			cause = "publish_bad_name"
		}
		v := verdict(e, st, layer, cause, st.serverAt, "the server refused: "+st.serverWords)
		v.ServerWords = st.serverWords
		return v
	}
	if published.IsZero() {
		return openVerdict(e, st)
	}
	if st.writeErr != nil {
		return afterPublishVerdict(e, st, published)
	}
	return nil
}

// authWords are libavformat's errors on publish authentication
// (rtmpproto.c, handle_connect_error), each followed by the server's words.
var authWords = []string{"Incorrect username/password", "Incorrect username", "Authentication failed",
	"No credentials set", "No auth parameters found"}

// authCause is the cause of a refused publish authentication (authmod=adobe
// or llnw), as the native path names it: rtmp.CauseAuthRequired when the
// URL carried no credentials, rtmp.CauseAuthFailed otherwise; ok is false
// when the failure was not about authentication.
func (st *stages) authCause() (cause string, ok bool) {
	switch {
	case st.authErr != nil && strings.Contains(st.authErr.Msg, "No credentials set"):
		return rtmp.CauseAuthRequired, true
	case st.authErr != nil:
		return rtmp.CauseAuthFailed, true
	case strings.Contains(st.serverWords, "authmod=adobe"), strings.Contains(st.serverWords, "authmod=llnw"):
		return rtmp.CauseAuthFailed, true
	}
	return "", false
}

// nameHeld reports whether the server's words say the stream name is held
// by another publisher ("Already publishing" from nginx-rtmp, "KEY is
// already publishing" from SRS and others). A bare NetStream.Publish.BadName
// says no such thing: ffmpeg prints only the description, and the
// supervisor relabels a BadName that comes right after a switch.
func nameHeld(words string) bool {
	w := strings.ToLower(words)
	return strings.Contains(w, "already") && strings.Contains(w, "publish")
}

// openVerdict classifies a failure while opening the target (L0-L3).
func openVerdict(e Exit, st *stages) *health.Verdict {
	why := st.openErr
	if why == nil {
		why = st.netErr
	}
	switch {
	case st.dnsErr != nil:
		return verdict(e, st, health.LayerNetwork, "dns_failed", st.dnsErr.At, st.dnsErr.Msg)
	case st.tlsErr != nil:
		return verdict(e, st, health.LayerNetwork, tlsCause(st.tlsErr.Msg), st.tlsErr.At, st.tlsErr.Msg)
	case st.hsErr != nil:
		return verdict(e, st, health.LayerHandshake, "handshake_"+errnoCause(why, "failed"), st.hsErr.At, lineWords(st.hsErr, why))
	case why == nil:
		return nil
	case !st.debug && st.netErr != nil:
		return verdict(e, st, health.LayerNetwork, errnoCause(why, "dial_failed"), why.At, why.Msg)
	case !st.debug:
		return verdict(e, st, health.LayerUnknown, "open_failed", why.At, why.Msg)
	case st.connected.IsZero():
		return verdict(e, st, health.LayerNetwork, dialCause(why), why.At, why.Msg)
	case st.handshaken.IsZero():
		return verdict(e, st, health.LayerHandshake, "handshake_"+errnoCause(why, "failed"), why.At, why.Msg)
	}
	layer, step := st.setupStep()
	cause, detail := st.readCause(e, why), why.Msg
	if cause == "timeout" {
		detail = fmt.Sprintf("no answer to %s for %v (ffmpeg's read timeout): %s", step,
			why.At.Sub(st.lastRead).Round(100*time.Millisecond), why.Msg)
	}
	return verdict(e, st, layer, layer.Title()+"_"+cause, why.At, detail)
}

// readCause names a failure while ffmpeg waited for the server's answer
// to connect, createStream or publish. ffmpeg's RTMP layer turns every
// failed read of a message into "Input/output error" (EIO): a close, a
// reset, and its own -rw_timeout firing on a silent server alike. A failure
// IOTimeout (less a tenth for the clocks) after the last thing the server
// did is that timeout; an earlier one is the server closing (ffmpeg's text
// cannot tell a reset from a close here).
func (st *stages) readCause(e Exit, why *LogLine) string {
	if why != nil && e.IOTimeout > 0 && strings.Contains(why.Msg, "Input/output error") && !st.lastRead.IsZero() &&
		why.At.Sub(st.lastRead) >= e.IOTimeout*9/10 {
		return "timeout"
	}
	return errnoCause(why, "failed")
}

// afterPublishVerdict tells L5 (a reset within about a second of the first
// frame) from L4 (a reset later, with no media-level cause).
func afterPublishVerdict(e Exit, st *stages, published time.Time) *health.Verdict {
	if v := refusedVerdict(e, st, published); v != nil {
		return v
	}
	at := st.writeErr.At
	first := e.FirstFrameAt
	if first.IsZero() || first.After(at) {
		// The first write failed before a report could show a frame: the
		// frames went out right after the publish.
		first = published
	}
	if at.Sub(first) <= time.Second {
		v := verdict(e, st, health.LayerMedia, "reset_after_first_frame", at, st.writeErr.Msg)
		v.SinceFirstFrame = at.Sub(first)
		v.TimeToRST = at.Sub(first)
		return v
	}
	cause := "reset_after_publish"
	if strings.Contains(st.writeErr.Msg, "timed out") {
		cause = "write_timeout"
	}
	v := verdict(e, st, health.LayerUpkeep, cause, at, st.writeErr.Msg)
	v.SinceFirstFrame = at.Sub(first)
	v.TimeToRST = at.Sub(published)
	return v
}

// sourceVerdict classifies a failure of the source.
func sourceVerdict(e Exit, st *stages) *health.Verdict {
	if st.codecErr != nil {
		return verdict(e, st, health.LayerSource, "unsupported_codec", st.codecErr.At, st.codecErr.Msg)
	}
	l := st.sourceErr
	cause := "source_failed"
	switch {
	case strings.Contains(l.Msg, "No such file"):
		cause = "source_missing"
	case strings.Contains(l.Msg, "refused"):
		cause = "source_refused"
	case strings.Contains(l.Msg, "timed out"):
		cause = "source_timeout"
	case strings.Contains(l.Msg, "404") || strings.Contains(l.Msg, "Not Found"):
		cause = "source_not_found"
	case strings.Contains(l.Msg, "401") || strings.Contains(l.Msg, "Unauthorized"):
		cause = "source_unauthorized"
	}
	return verdict(e, st, health.LayerSource, cause, l.At, l.Msg)
}

// verdict assembles a verdict with the timings known at `at`.
func verdict(e Exit, st *stages, layer health.Layer, cause string, at time.Time, detail string) *health.Verdict {
	if at.IsZero() {
		at = e.End
	}
	v := health.NewVerdict(layer, cause, detail+exitSuffix(e))
	v.At = at
	if d := st.dialAt(); !d.IsZero() && !at.Before(d) {
		v.SinceDial = at.Sub(d)
	}
	if p := st.published(e); !p.IsZero() && !at.Before(p) {
		v.SincePublish = at.Sub(p)
	}
	if f := e.FirstFrameAt; !f.IsZero() && !at.Before(f) {
		v.SinceFirstFrame = at.Sub(f)
	}
	return v
}

// exitSuffix reports the real exit status.
func exitSuffix(e Exit) string {
	switch {
	case e.StartErr != nil, e.Binary == "libav":
		return ""
	case e.Signal != "":
		return fmt.Sprintf(" (ffmpeg %q ended by signal %s)", e.Binary, e.Signal)
	}
	return fmt.Sprintf(" (ffmpeg exit status %d)", e.ExitCode)
}

func exitWords(e Exit, l *LogLine) string {
	if l != nil {
		return l.Msg
	}
	return "ffmpeg failed without an error message"
}

func lineWords(a, b *LogLine) string {
	if b != nil && b != a {
		return a.Msg + "; " + b.Msg
	}
	return a.Msg
}

// errnoCause names the socket error in an error line.
func errnoCause(l *LogLine, otherwise string) string {
	if l == nil {
		return otherwise
	}
	m := l.Msg
	switch {
	case strings.Contains(m, "timed out"):
		return "timeout"
	case strings.Contains(m, "reset by peer"), strings.Contains(m, "Broken pipe"):
		return "reset"
	case strings.Contains(m, "End of file"), strings.Contains(m, "Input/output error"):
		return "closed"
	case strings.Contains(m, "refused"):
		return "connection_refused"
	}
	return otherwise
}

// dialCause names an L0 failure.
func dialCause(l *LogLine) string {
	m := l.Msg
	switch {
	case strings.Contains(m, "refused"):
		return "connection_refused"
	case strings.Contains(m, "timed out"):
		return "dial_timeout" // the native path's word
	case strings.Contains(m, "unreachable"), strings.Contains(m, "No route"):
		return "unreachable"
	}
	return "dial_failed"
}

// dialAt is when the target's connection attempt started.
func (st *stages) dialAt() time.Time {
	if !st.dial.IsZero() {
		return st.dial
	}
	return st.output
}

// published is when the target accepted the publish: the output opened, or
// the first progress report.
func (st *stages) published(e Exit) time.Time {
	switch {
	case st.opened.IsZero():
		return e.PublishedAt
	case e.PublishedAt.IsZero() || st.opened.Before(e.PublishedAt):
		return st.opened
	}
	return e.PublishedAt
}

// scan walks the stderr lines once, recording the stages and the first
// decisive error line of each kind.
func scan(e Exit) *stages {
	st := &stages{sourceName: e.Source, s0Version: -1}
	st.outputPhase = !hasDebug(e.Lines) && namesTarget(e)
	for i := range e.Lines {
		l := &e.Lines[i]
		st.stage(e, l)
		if l.IsError() {
			st.errorLine(e, l)
		}
	}
	st.merge(e.setup)
	return st
}

// hasDebug reports whether the transcript has ffmpeg's debug stage lines.
func hasDebug(lines []LogLine) bool {
	for _, l := range lines {
		if strings.HasPrefix(l.Msg, "Opening an input file:") {
			return true
		}
	}
	return false
}

// namesTarget reports whether an info-level transcript shows the target
// failing or open: without debug lines, that puts every protocol error on
// the target's side.
func namesTarget(e Exit) bool {
	for _, l := range e.Lines {
		if strings.HasPrefix(l.Msg, e.Target+": ") || strings.HasPrefix(l.Msg, "Output #0,") {
			return true
		}
	}
	return false
}

func setOnce(t *time.Time, at time.Time) {
	if t.IsZero() {
		*t = at
	}
}

// stage records the stage markers of ffmpeg's debug and verbose lines.
func (st *stages) stage(e Exit, l *LogLine) {
	m := l.Msg
	switch {
	case strings.HasPrefix(m, "Opening an input file:"):
		st.debug, st.outputPhase = true, false
		if name := strings.TrimSuffix(strings.TrimPrefix(m, "Opening an input file: "), "."); name != "" {
			st.sourceName = name
		}
	case strings.HasPrefix(m, "Opening an output file:"):
		st.debug, st.outputPhase = true, true
		setOnce(&st.output, l.At)
	case strings.HasPrefix(m, "Output #0,"):
		setOnce(&st.opened, l.At)
	case strings.HasPrefix(m, "Exiting normally, received signal"):
		st.signalled = l
	case !st.outputPhase:
	case m == "Successfully opened the file.":
		setOnce(&st.opened, l.At)
	case l.Component == "tcp" && strings.HasPrefix(m, "Starting connection attempt"):
		setOnce(&st.dial, l.At)
	case l.Component == "tcp" && strings.HasPrefix(m, "Successfully connected"):
		setOnce(&st.connected, l.At)
		st.lastRead = l.At
	case l.Component == "rtmp":
		st.rtmpStage(l)
		if !l.IsError() {
			st.lastRead = l.At
		}
	}
}

func (st *stages) rtmpStage(l *LogLine) {
	m := l.Msg
	switch {
	case m == "Handshaking...":
		setOnce(&st.handshake, l.At)
	case strings.HasPrefix(m, "Type answer "):
		if n, err := strconv.Atoi(strings.TrimPrefix(m, "Type answer ")); err == nil && st.s0Version < 0 {
			st.s0Version = n
		}
	case strings.HasPrefix(m, "Proto = "):
		setOnce(&st.handshaken, l.At)
	case m == "Releasing stream...", m == "FCPublish stream...", m == "Creating stream...":
		setOnce(&st.connectOK, l.At)
	case strings.HasPrefix(m, "Sending publish command"):
		setOnce(&st.publishSent, l.At)
	}
}

var handshakeWords = []string{"RTMP handshake", "Server response validating failed", "RTMP protocol version mismatch"}

// errorLine files an error line under the failure it describes.
func (st *stages) errorLine(e Exit, l *LogLine) {
	m := l.Msg
	if st.firstErr == nil {
		st.firstErr = l
	}
	target := st.outputPhase || mentions(m, e.Target)
	switch {
	case l.Component == "rtmp" && containsAny(m, authWords):
		keep(&st.authErr, l)
	case strings.HasPrefix(m, "Server error: ") && (target || l.Component == "rtmp" && st.outputPhase):
		if st.serverWords == "" {
			st.serverWords, st.serverAt = strings.TrimPrefix(m, "Server error: "), l.At
		}
	case strings.HasPrefix(m, "Failed to resolve hostname") && target:
		keep(&st.dnsErr, l)
	case (l.Component == "tls" || strings.Contains(m, "TLS")) && target:
		keep(&st.tlsErr, l)
	case containsAny(m, handshakeWords) && target:
		keep(&st.hsErr, l)
	case strings.HasPrefix(m, "av_interleaved_write_frame():"),
		strings.HasPrefix(m, "Error writing trailer of") && mentions(m, e.Target):
		keep(&st.writeErr, l)
	case strings.Contains(m, "not compatible with flv"), strings.Contains(m, "Could not write header"):
		keep(&st.codecErr, l)
	case l.Component == "tcp" && strings.HasPrefix(m, "Connection to ") && target:
		keep(&st.netErr, l)
	case strings.HasPrefix(m, e.Target+": "):
		keep(&st.openErr, l)
	case st.isSourceLine(l, target):
		keep(&st.sourceErr, l)
	}
}

// isSourceLine reports whether an error line is the source's: it names the
// source, or comes from the input side (before the output was opened, or
// from a demuxer or decoder).
func (st *stages) isSourceLine(l *LogLine, target bool) bool {
	m := l.Msg
	switch {
	case mentions(m, st.sourceName) && !strings.HasPrefix(m, "Error closing file"):
		return true
	case !st.outputPhase && st.debug:
		return true
	case strings.HasPrefix(m, "Error during demuxing"), strings.HasPrefix(m, "Error while decoding"):
		return true
	}
	switch l.Component {
	case "rtsp", "rtp", "udp", "http", "https", "hls", "srt", "h264", "hevc", "aac", "mp3":
		return !target || !st.outputPhase
	}
	return false
}

func keep(p **LogLine, l *LogLine) {
	if *p == nil {
		*p = l
	}
}

// mentions reports whether an error message names url ("URL: reason",
// "Error ... of URL: reason", "'URL'").
func mentions(m, url string) bool {
	return url != "" && (strings.Contains(m, url+": ") || strings.Contains(m, "'"+url+"'"))
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}
