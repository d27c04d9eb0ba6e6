package interop_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/ffmpegpath"
	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/nativepath"
	"github.com/fmspush/fmspush/rtmp"
)

// The timeouts both paths have with the service's defaults, which the
// bounds on the time to a verdict follow.
const (
	// stepTimeout bounds each native setup step (dial, handshake, connect,
	// createStream, publish).
	stepTimeout = rtmp.DefaultStepTimeout
	// staleTimeout is the ffmpeg path's watchdog: no progress, or a setup
	// step that does not advance, for this long ends the push.
	staleTimeout = ffmpegpath.DefaultStaleTimeout
	// ioTimeout is ffmpeg's -rw_timeout (4/5 of staleTimeout): ffmpeg's
	// own read and dial timeout.
	ioTimeout = staleTimeout * 4 / 5
	// stallTimeout is failover.stall_timeout on both paths.
	stallTimeout = nativepath.DefaultStallTimeout
	// slack covers the scheduling of a loaded CI machine (2 cores shared by
	// every test): how much later than its timer a verdict may come.
	slack = 3 * time.Second
	// quick bounds a verdict the server forces at once (a close, a reset,
	// a refusal).
	quick = 3 * time.Second
)

// verdictWant is the verdict one path must give for a server behaviour.
type verdictWant struct {
	layer health.Layer
	cause string
	// alt is another cause (with altLayer) accepted for a race the server
	// behaviour leaves open; empty if none.
	altLayer health.Layer
	alt      string
	// within bounds the verdict's time after the dial (SinceDial; the
	// Run's time for a verdict without timings).
	within time.Duration
}

func (w verdictWant) String() string {
	s := fmt.Sprintf("%s %s", w.layer, w.cause)
	if w.alt != "" {
		s += fmt.Sprintf(" or %s %s", w.altLayer, w.alt)
	}
	return s
}

// accepts reports whether v is what w wants.
func (w verdictWant) accepts(v *health.Verdict) bool {
	return (v.Layer == w.layer && v.Cause == w.cause) || (w.alt != "" && v.Layer == w.altLayer && v.Cause == w.alt)
}

// serverBehaviour is one row of the table: a server that fails a publish in
// one way, and the verdict each path gives for it. The same verdict on
// both paths unless differs says why ffmpeg's evidence cannot match.
type serverBehaviour struct {
	name string
	// start starts the server and returns the publish URL.
	start  func(t *testing.T) string
	native verdictWant
	// ffmpeg is the ffmpeg path's verdict: native's layer and cause (with
	// its own time bound) unless differs is set.
	ffmpeg  verdictWant
	differs string
}

// hostile returns a start function for a testpeer.HostileServer.
func hostile(b testpeer.HostileBehaviour) func(t *testing.T) string {
	return func(t *testing.T) string {
		h := testpeer.StartHostile(t, b)
		t.Cleanup(func() {
			require.NoError(t, h.Err(), "the hostile server could not read the client")
		})
		return h.URL("live", "behaviourkey")
	}
}

// emulator returns a start function for the strict emulator (fmsim) with
// the lenient profile and rules: the behaviours its fault rules cover.
func emulator(rules ...string) func(t *testing.T) string {
	return func(t *testing.T) string {
		srv := &fmsim.Server{Listen: "127.0.0.1:0", Profile: fmsim.ProfileLenient, Rules: rules}
		require.NoError(t, srv.Start())
		t.Cleanup(func() { srv.Close() })
		return srv.URL("live", "behaviourkey")
	}
}

// emulatorAuth is emulator with a publish-auth rule ("adobe_auth=USER:PASS"),
// published to with userinfo ("USER:PASS", or none when empty) in the URL.
func emulatorAuth(rule, userinfo string) func(t *testing.T) string {
	return func(t *testing.T) string {
		u := emulator(rule)(t)
		if userinfo == "" {
			return u
		}
		return strings.Replace(u, "rtmp://", "rtmp://"+userinfo+"@", 1)
	}
}

// both is the same verdict for both paths, with each path's bound.
func both(layer health.Layer, cause string, native, ffmpeg time.Duration) (verdictWant, verdictWant) {
	return verdictWant{layer: layer, cause: cause, within: native}, verdictWant{layer: layer, cause: cause, within: ffmpeg}
}

// row builds a table row whose paths agree.
func row(name string, start func(t *testing.T) string, layer health.Layer, cause string, native, ffmpeg time.Duration) serverBehaviour {
	n, f := both(layer, cause, native, ffmpeg)
	return serverBehaviour{name: name, start: start, native: n, ffmpeg: f}
}

// serverBehaviours is the table of server behaviours: docs/triage.md
// ("Server behaviours, both paths") shows it with the times measured.
var serverBehaviours = []serverBehaviour{
	row("refused", hostile(testpeer.HostileRefuse), health.LayerNetwork, "connection_refused", quick, quick),
	// ffmpeg's dial gives up after its -rw_timeout, the native one after its step timeout.
	row("blackhole_dial", hostile(testpeer.HostileBlackhole), health.LayerNetwork, "dial_timeout",
		stepTimeout+slack, ioTimeout+slack),
	// The client's C0 C1 sits unread: the server's close reaches it as a RST.
	row("reset_at_accept", hostile(testpeer.HostileResetAtAccept), health.LayerHandshake, "handshake_reset", quick, quick),
	row("close_at_accept", hostile(testpeer.HostileCloseAtAccept), health.LayerHandshake, "handshake_closed", quick, quick),
	row("silent_at_accept", hostile(testpeer.HostileSilentAtAccept), health.LayerHandshake, "handshake_timeout",
		stepTimeout+slack, ioTimeout+slack),
	// ffmpeg never checks S0 as a publisher: it goes on to connect and the
	// server (silent from then on) fails it at its read timeout; the "Type
	// answer" line shows the S0 that native refuses at once.
	row("bad_s0_version", hostile(testpeer.HostileBadS0), health.LayerHandshake, "handshake_failed", quick, ioTimeout+slack),
	row("close_after_handshake", hostile(testpeer.HostileCloseAfterHandshake), health.LayerConnect, "connect_closed", quick, quick),
	{name: "reset_at_connect", start: hostile(testpeer.HostileResetAtConnect),
		native: verdictWant{layer: health.LayerConnect, cause: "connect_reset", within: quick},
		ffmpeg: verdictWant{layer: health.LayerConnect, cause: "connect_reset", within: quick}},
	row("silent_after_handshake", hostile(testpeer.HostileSilentAfterHandshake), health.LayerConnect, "connect_timeout",
		stepTimeout+slack, ioTimeout+slack),
	// A flood keeps every read timeout from firing: the ffmpeg path's
	// watchdog ends a setup step that does not advance for stale_timeout.
	row("flood_at_connect", hostile(testpeer.HostileFloodAtConnect), health.LayerConnect, "connect_timeout",
		stepTimeout+slack, staleTimeout+slack),
	row("connect_rejected", emulator("reject_flashver=FMLE"), health.LayerConnect, "connect_rejected", quick, quick),
	row("close_after_connect", hostile(testpeer.HostileCloseAfterConnect), health.LayerPublish, "publish_closed", quick, quick),
	row("silent_after_connect", hostile(testpeer.HostileSilentAfterConnect), health.LayerPublish, "publish_timeout",
		stepTimeout+slack, ioTimeout+slack),
	row("flood_after_connect", hostile(testpeer.HostileFloodAfterConnect), health.LayerPublish, "publish_timeout",
		stepTimeout+slack, staleTimeout+slack),
	{name: "publish_badname", start: emulator("auth_secret=S"),
		native: verdictWant{layer: health.LayerPublish, cause: "publish_bad_name", within: quick},
		ffmpeg: verdictWant{layer: health.LayerPublish, cause: "publish_rejected", within: quick},
		differs: "ffmpeg logs an onStatus error's description only (its code only when there is no description): " +
			"NetStream.Publish.BadName is not in its text, so the ffmpeg path says publish_rejected " +
			"(name_locked when the description says the name is already publishing, on both paths)"},
	// Publish authentication in connect (authmod=adobe, authmod=llnw): a
	// wrong password, or a URL without credentials, is the credentials'
	// layer, L3, on both paths (the native path after its third connect,
	// ffmpeg after libavformat's).
	row("adobe_auth_failed", emulatorAuth("adobe_auth=alice:Sup3r-s3cret", "alice:Wr0ng-pass"), health.LayerPublish,
		rtmp.CauseAuthFailed, quick, quick),
	row("llnw_auth_failed", emulatorAuth("llnw_auth=alice:Sup3r-s3cret", "alice:Wr0ng-pass"), health.LayerPublish,
		rtmp.CauseAuthFailed, quick, quick),
	row("auth_without_credentials", emulatorAuth("adobe_auth=alice:Sup3r-s3cret", ""), health.LayerPublish,
		rtmp.CauseAuthRequired, quick, quick),
	// Whether the client's first media message (onMetaData) or the
	// server's close comes first is a race of a few milliseconds on every
	// client: both paths call it L5 when media had gone out (the ffmpeg
	// path: its header always has, before the first progress report), L4
	// when none had.
	{name: "close_at_publish_start", start: emulator("close_after_publish=1ms"),
		native: verdictWant{layer: health.LayerUpkeep, cause: "reset_after_publish",
			altLayer: health.LayerMedia, alt: "reset_after_first_frame", within: quick},
		ffmpeg: verdictWant{layer: health.LayerUpkeep, cause: "reset_after_publish",
			altLayer: health.LayerMedia, alt: "reset_after_first_frame", within: quick}},
	row("close_2s_after_publish", emulator("close_after_publish=2s"), health.LayerUpkeep, "reset_after_publish",
		2*time.Second+quick, 2*time.Second+quick),
	row("rst_100ms_after_first_frame", emulator("rst_after_first_frame=100ms"), health.LayerMedia, "reset_after_first_frame",
		quick, quick),
	// The server stops reading before it acknowledged anything: both paths
	// judge from TCP's evidence of their own socket (the ffmpeg path's is
	// the tap relay's), once the server's receive buffer is full
	// (docs/triage.md, "Delivery"). Before the relay the ffmpeg path judged
	// from ffmpeg's socket through sock_diag, bound 30 s; the relay's
	// socket fills like native's: 5.7 s measured, bound 8 s.
	row("stall_after_publish", emulator("stall_after_publish=1ms"), health.LayerUpkeep, health.CauseStalled,
		stallTimeout+slack, stallTimeout+slack+2*time.Second),
}

// ffmpegRuns bounds the ffmpeg processes of TestServerBehaviours at once:
// each probes the sample and pushes it, and a starved one misses the
// timing it is tested for.
var ffmpegRuns = make(chan struct{}, 4)

// TestServerBehaviours runs both paths (the native path and the ffmpeg
// path's exec driver, with the service's default settings) against every
// server behaviour of the table, all rows at once: each path gives the
// row's layer and cause, the same on both unless the row says why not,
// within the row's bound after the dial. It is the one test of the package
// that does not run beside the others: its bounds are timings, and the 60 s
// scenarios' dozens of processes starve a two-core machine of them.
func TestServerBehaviours(t *testing.T) {
	testpeer.Need(t, "ffmpeg", "ffprobe")
	var mu sync.Mutex
	var summary []string
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		t.Logf("server behaviour → verdict per path (time after the dial; the Run's whole time):\n%s", strings.Join(summary, "\n"))
	})
	for _, b := range serverBehaviours {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			if b.differs == "" {
				require.Equal(t, b.native.layer, b.ffmpeg.layer, "a row without differs has one verdict")
				require.Equal(t, b.native.cause, b.ffmpeg.cause, "a row without differs has one verdict")
			}
			for _, kind := range []string{"native", "ffmpeg"} {
				want := b.native
				if kind == "ffmpeg" {
					want = b.ffmpeg
				}
				t.Run(kind, func(t *testing.T) {
					t.Parallel()
					if kind == "ffmpeg" {
						ffmpegRuns <- struct{}{}
						defer func() { <-ffmpegRuns }()
					}
					v, took := behaviourRun(t, kind, b.start(t))
					after, anchor := v.SinceDial, "after the dial"
					if after < 0 {
						// A verdict without timings (none left today):
						// the Run's time, an upper bound.
						after, anchor = took, "after Run began"
					}
					line := fmt.Sprintf("%-28s %-6s %s %s %v %s (run %v)", b.name, kind, v.Layer, v.Cause,
						after.Round(10*time.Millisecond), anchor, took.Round(10*time.Millisecond))
					mu.Lock()
					summary = append(summary, line)
					mu.Unlock()
					t.Log(line)
					require.Truef(t, want.accepts(v), "%s: got %v, want %s", kind, v, want)
					require.LessOrEqualf(t, after, want.within, "%s: the verdict came %v %s: %v", kind, after, anchor, v)
					require.NotContains(t, v.Error(), "behaviourkey", "the verdict shows the key")
				})
			}
		})
	}
}

// behaviourRun runs one path against target from its Run until its
// verdict, with the service's default settings; it returns the verdict and
// how long Run took.
func behaviourRun(t *testing.T, kind, target string) (*health.Verdict, time.Duration) {
	t.Helper()
	var buf testpeer.LogBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", kind, buf.String())
		}
	})
	log := hclog.New(&hclog.LoggerOptions{Name: kind, Level: hclog.Debug, Output: &buf})
	var p path
	switch kind {
	case "native":
		n, err := nativepath.New(nativepath.Settings{Source: "builtin:sample", Target: target, Logger: log})
		require.NoError(t, err)
		p = n
	case "ffmpeg":
		d, err := ffmpegpath.New(ffmpegpath.Settings{Driver: ffmpegpath.DriverExec, Source: ffmpegpath.SampleSource,
			SampleFile: testpeer.SamplePath(t), Target: target, Logger: log})
		require.NoError(t, err)
		p = d
	}
	// Longer than any row's bound: a path that never gives a verdict fails
	// on the nil error, not on a hung test.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	began := time.Now()
	err := p.Run(ctx, 0, health.NewSignals())
	took := time.Since(began)
	require.Error(t, err, "%s: Run returned no verdict within %v", kind, took.Round(time.Millisecond))
	v := health.AsVerdict(err)
	require.Equal(t, kind, v.Path)
	return v, took
}
