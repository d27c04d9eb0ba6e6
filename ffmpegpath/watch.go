package ffmpegpath

import (
	"fmt"
	"os"
	"time"

	"github.com/fmspush/fmspush/delivery"
	"github.com/fmspush/fmspush/ffmpegpath/tap"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/pause"
)

// pauses tells this process's own pauses from a server's silence: the
// process's watch, shared with the native path and the supervisor.
var pauses = pause.Default

// pauseClock restarts a push's clocks after a pause of this process (see
// internal/pause): the watchdog's "no progress for N s" and the socket's
// stall clock then count from the moment the process ran again, since the
// gap was the service's own, not ffmpeg's or the server's.
type pauseClock struct {
	tracker *pause.Tracker
	at      time.Time // when the clocks were last restarted (zero: never)
}

func newPauseClock(now time.Time) *pauseClock {
	return &pauseClock{tracker: pause.NewTracker(pauses, now)}
}

// check reports a pause not seen before; the clocks restart at now.
func (c *pauseClock) check(now time.Time) (pause.Pause, bool) {
	if c == nil {
		return pause.Pause{}, false
	}
	p, ok := c.tracker.Check(now)
	if ok {
		c.at = now
	}
	return p, ok
}

// since is how long since t, counting from the last restart if later.
func (c *pauseClock) since(t, now time.Time) time.Duration {
	if c != nil && c.at.After(t) {
		t = c.at
	}
	return now.Sub(t)
}

// DefaultStallTimeout is Settings.StallTimeout's default.
const DefaultStallTimeout = 3 * time.Second

// samplePeriod is how often the target socket is read: fine enough that a
// stall is seen within StallTimeout + 1 s, coarse enough to cost nothing
// (one sock_diag query and a /proc/PID/fd walk).
func samplePeriod(stall time.Duration) time.Duration {
	return min(max(stall/15, 50*time.Millisecond), 200*time.Millisecond)
}

// stallInfo is a stall of the target: the server took nothing for For
// while Queued bytes waited, judged from Evidence (tap.EvidenceAck: its
// RTMP Acknowledgements through the relay; tap.EvidenceTCP: TCP's
// accounting of the connection).
type stallInfo struct {
	At       time.Time
	For      time.Duration
	Queued   uint64
	Evidence string
}

// words is the verdict's detail.
func (s *stallInfo) words() string {
	w := fmt.Sprintf("the server took nothing for %.1f s; %s queued", s.For.Seconds(), delivery.BytesText(s.Queued))
	if s.Evidence != "" {
		w += " (evidence: " + s.Evidence + ")"
	}
	return w
}

// stallLatch is a watch's judgement for the progress watchdog: when its
// freshest reading was taken and, once judged, the stall (kept: a stall is
// reported once and stays).
type stallLatch struct {
	lastAt  time.Time
	stalled *stallInfo
}

// forget drops the readings' freshness (after a pause of the process).
func (l *stallLatch) forget() { l.lastAt = time.Time{} }

// judge answers the watchdog at now: the stall already judged, or a new one
// when the freshest reading, no older than a second, shows the server took
// nothing for stalledFor while queued bytes waited; nil without fresh
// evidence.
func (l *stallLatch) judge(now time.Time, stalledFor time.Duration, queued uint64, evidence string) *stallInfo {
	fresh := !l.lastAt.IsZero() && now.Sub(l.lastAt) <= time.Second
	if l.stalled == nil && fresh && stalledFor > 0 && queued > 0 {
		l.stalled = &stallInfo{At: now, For: stalledFor, Queued: queued, Evidence: evidence}
	}
	return l.stalled
}

// sockWatch is the delivery evidence of one push: it samples the target's
// TCP connection of the process pid (ffmpeg's, or this process's for the
// libav driver) and feeds a delivery.Meter. It is owned by one goroutine.
//
// What it measures, and what it cannot: Taken is what the server's
// application read (TCP's bytes_acked and the peer's window, RTMP framing
// included); Pending is what ffmpeg wrote to the socket that the server has
// not taken. The lag is an estimate for ffmpeg: Pending in bits over the
// media's rate (total_size over out_time of its progress), not a timestamp
// mapping. Data still in ffmpeg's own muxer queue is not seen.
type sockWatch struct {
	pid   int
	addrs []string // where the target may be connected
	stall time.Duration
	sig   *health.Signals

	remote    string // the address matched, once found
	sock      procSocket
	meter     delivery.Meter
	found     bool
	takenBase uint64 // Taken when the publish was first seen
	baseSet   bool
	last      delivery.Reading
	latch     stallLatch
	needed    float64 // bits/s of the media, from progress
}

func newSockWatch(pid int, addrs []string, stall time.Duration, sig *health.Signals) *sockWatch {
	return &sockWatch{pid: pid, addrs: addrs, stall: stall, sig: sig, meter: delivery.Meter{StallTimeout: stall}}
}

// sample reads the socket once and updates the signals. It returns a stall
// the first time the meter judges one; published says whether the publish
// went through (the bytes before it are the setup's, not media).
func (w *sockWatch) sample(now time.Time, published bool) *stallInfo {
	if w == nil || w.latch.stalled != nil || len(w.addrs) == 0 {
		return nil
	}
	smp, err := w.read()
	if err != nil {
		return nil // not connected yet, or gone: nothing to judge
	}
	r := w.meter.Observe(smp)
	w.last, w.latch.lastAt = r, now
	if published && !w.baseSet {
		w.takenBase, w.baseSet = r.Taken, true
	}
	w.report(r)
	if r.Stalled {
		return w.latch.judge(now, r.StalledFor, r.Pending, tap.EvidenceTCP)
	}
	return nil
}

// read samples the connection to the target: it finds it among the
// candidate addresses (exactly one such connection of the process, see
// findSocket) and reads it with delivery.ReadProcess. A connection that is
// not the one found first (another inode) is not judged.
func (w *sockWatch) read() (delivery.Sample, error) {
	if !w.found {
		for _, a := range w.addrs {
			if s, err := findSocket(w.pid, a); err == nil {
				w.remote, w.sock, w.found = a, s, true
				break
			}
		}
		if !w.found {
			return delivery.Sample{}, delivery.ErrNoSocket
		}
	} else if w.pid == os.Getpid() {
		// This process has other connections: check it is still the one.
		if s, err := findSocket(w.pid, w.remote); err != nil || s.inode != w.sock.inode {
			return delivery.Sample{}, delivery.ErrNoSocket
		}
	}
	return delivery.ReadProcess(w.pid, w.remote)
}

// report publishes one reading in the signals.
func (w *sockWatch) report(r delivery.Reading) {
	if w.baseSet && r.Taken >= w.takenBase {
		w.sig.BytesAcked.Store(int64(r.Taken - w.takenBase))
	}
	w.sig.UnackedFor.Store(r.StalledFor.Milliseconds())
	w.sig.ThroughputBps.Store(int64(r.Throughput))
	if w.needed > 0 {
		w.sig.LagMillis.Store(int64(float64(r.Pending) * 8 * 1000 / w.needed))
	}
}

// progress takes the media rate from a progress report: total_size (the
// FLV bytes muxed) over out_time, once a second of media went out.
func (w *sockWatch) progress(b Progress) {
	if w == nil || b.OutTime < time.Second || b.TotalSize <= 0 {
		return
	}
	w.needed = float64(b.TotalSize) * 8 / b.OutTime.Seconds()
	w.sig.NeededBps.Store(int64(w.needed))
}

// restart starts the stall clock again at now, after a pause of this
// process: the samples before it are no evidence for the time after.
func (w *sockWatch) restart(now time.Time) {
	if w == nil {
		return
	}
	w.meter.Restart(now)
	w.latch.forget()
}

// starving reports, when the progress watchdog fires, whether the socket
// shows the server not taking data: then the hang is the server's (an L4
// stall), not ffmpeg's.
func (w *sockWatch) starving(now time.Time) *stallInfo {
	if w == nil {
		return nil
	}
	return w.latch.judge(now, w.last.StalledFor, w.last.Pending, tap.EvidenceTCP)
}

// reset takes hold of the connection so that it ends with a RST when
// released (see armReset); nil when no connection was found.
func (w *sockWatch) reset() *resetter {
	if w == nil || !w.found {
		return nil
	}
	if s, err := findSocket(w.pid, w.remote); err == nil && s.inode == w.sock.inode {
		w.sock = s
	}
	return armReset(w.pid, w.sock) // a stale fd falls back to SOCK_DESTROY by the addresses
}
