package ffmpegpath

import "time"

// setupWatch follows the target's setup (dial, handshake, connect,
// createStream, publish) through ffmpeg's stage lines, as they are read, so
// that the watchdog can tell a setup that stopped advancing from one that
// is still under way. ffmpeg's -rw_timeout catches a silent server, but not
// one that keeps talking without answering the step (a flood of pings or
// window sizes resets every read timeout); before this, only the start
// timeout (15 s) ended such a push, as a process stall.
type setupWatch struct {
	st       stages
	progress time.Time // when the setup last advanced
}

// line takes one stderr line.
func (w *setupWatch) line(l LogLine) {
	before := w.st.marks()
	w.st.stage(Exit{}, &l)
	if w.st.marks() != before {
		w.progress = l.At
	}
}

// stuck reports how long the setup has not advanced, when the output is
// being opened (the source is open, the target not yet) and that is limit
// or more. since measures the time from a moment to now (nil: now.Sub; the
// driver's pause clock, so that a pause of this process does not count).
func (w *setupWatch) stuck(now time.Time, limit time.Duration, since func(t, now time.Time) time.Duration) (time.Duration, bool) {
	if w.st.output.IsZero() || !w.st.opened.IsZero() || w.progress.IsZero() {
		return 0, false
	}
	d := now.Sub(w.progress)
	if since != nil {
		d = since(w.progress, now)
	}
	return d, d >= limit
}

// merge takes the moments of m that the transcript lost.
func (st *stages) merge(m [8]time.Time) {
	for i, p := range []*time.Time{&st.output, &st.dial, &st.connected, &st.handshake, &st.handshaken,
		&st.connectOK, &st.publishSent, &st.opened} {
		setOnce(p, m[i])
	}
	if !st.output.IsZero() {
		st.debug = true
	}
}

// marks are the moments of the setup seen so far.
func (st *stages) marks() [8]time.Time {
	return [8]time.Time{st.output, st.dial, st.connected, st.handshake, st.handshaken, st.connectOK, st.publishSent, st.opened}
}
