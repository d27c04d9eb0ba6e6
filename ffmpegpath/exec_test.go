package ffmpegpath

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
)

// pushFor is how long the push tests publish.
const pushFor = 4 * time.Second

// pushed is what one push sent, by ffmpeg's own account and by the clock.
type pushed struct {
	frames int64         // video frames ffmpeg reported sent
	wall   time.Duration // wall time from the first progress report to the stop
}

// checkReceived ffprobes what a server recorded and compares its video
// frames with what ffmpeg reported sending and with 25 fps over the time
// span of the recorded video; with realTime (a file read with -re) also with 25 fps
// over the wall time pushed.
func checkReceived(t *testing.T, file string, p pushed, realTime bool) {
	t.Helper()
	probe := testpeer.FFprobe(t, file)
	v := probe.Video()
	require.True(t, v != nil && v.CodecName == "h264" && v.Width == 640 && v.Height == 360, "video received: %+v", v)
	a := probe.Audio()
	require.True(t, a != nil && a.CodecName == "aac", "audio received: %+v", a)
	got := float64(v.FrameCount())
	span := videoSpan(t, file)
	t.Logf("received %.0f video frames spanning %v; ffmpeg reported %d sent; %v of wall time",
		got, span, p.frames, p.wall.Round(time.Millisecond))
	within5 := func(what string, want float64) {
		assert.InDelta(t, want, got, 0.05*want, "received %.0f frames, want %.0f (%s) within 5%%", got, want, what)
	}
	within5("sent", float64(p.frames))
	within5("25 fps over the recorded video's time span", span.Seconds()*25+1)
	if realTime {
		within5("25 fps over the wall time", p.wall.Seconds()*25)
	}
}

// videoSpan is the time from the first to the last video packet of file.
func videoSpan(t *testing.T, file string) time.Duration {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=pts_time", "-of", "csv=p=0", file).Output()
	require.NoError(t, err, "ffprobe packets")
	first, last := math.Inf(1), math.Inf(-1)
	for _, f := range strings.Fields(string(out)) {
		if v, err := strconv.ParseFloat(strings.TrimSuffix(f, ","), 64); err == nil {
			first, last = math.Min(first, v), math.Max(last, v)
		}
	}
	require.GreaterOrEqual(t, last, first, "no video packets in %s", file)
	return time.Duration((last - first) * float64(time.Second))
}

// pushAndStop runs a push until it is live, lets it publish for pushFor,
// stops it and returns what was pushed; the wall time runs from ffmpeg's
// first progress report (when the media starts to flow) to the stop.
func pushAndStop(t *testing.T, d Driver) pushed {
	t.Helper()
	r := startRun(t, d, 0)
	var first time.Time
	// Reports come every 250 ms and polling every 20 ms: this reads the first.
	testpeer.Eventually(t, 20*time.Second, "the first progress", func() bool {
		first = r.sig.LastProgress()
		return !first.IsZero()
	})
	r.waitLive(t, 20*time.Second)
	select {
	case err := <-r.done:
		require.Failf(t, "push ended early", "push ended early: %v", err)
	case <-time.After(pushFor):
	}
	stop := time.Now()
	r.cancel()
	require.NoError(t, r.wait(t, 10*time.Second), "stopped push, want nil")
	t.Logf("stopped in %v", time.Since(stop).Round(time.Millisecond))
	return pushed{frames: r.sig.VideoFrames.Load(), wall: stop.Sub(first)}
}

func TestPushSampleToNginx(t *testing.T) {
	ng := testpeer.StartNginx(t)
	s := sampleSettings(t, ng.AppURL+"/sample1")
	checkReceived(t, ng.Recording("sample1"), pushAndStop(t, &Exec{Settings: s}), true)
}

func TestPushSampleToFFmpegListen(t *testing.T) {
	l := testpeer.StartFFmpegListen(t)
	s := sampleSettings(t, l.URL)
	p := pushAndStop(t, &Exec{Settings: s})
	checkReceived(t, l.Wait(t, 10*time.Second), p, true)
}

func TestSilentAudioAndTimestampBase(t *testing.T) {
	ng := testpeer.StartNginx(t)
	s := sampleSettings(t, ng.AppURL+"/silent")
	s.Audio = media.AudioSilent
	r := startRun(t, &Exec{Settings: s}, 90*time.Second)
	r.waitLive(t, 20*time.Second)
	testpeer.Eventually(t, 10*time.Second, "a second of media", func() bool { return r.sig.LastTimestamp.Load() > 91_000 })
	r.cancel()
	require.NoError(t, r.wait(t, 10*time.Second))
	p := testpeer.FFprobe(t, ng.Recording("silent"))
	a := p.Audio()
	require.True(t, a != nil && a.CodecName == "aac", "no silent AAC track: %+v", p.Streams)
}

func TestKill9IsProcessVerdict(t *testing.T) {
	ng := testpeer.StartNginx(t)
	s := sampleSettings(t, ng.AppURL+"/kill9")
	r := startRun(t, &Exec{Settings: s}, 0)
	r.waitLive(t, 20*time.Second)
	pid := ffmpegChild(t, os.Getpid(), "/kill9")
	killed := time.Now()
	syscall.Kill(pid, syscall.SIGKILL)
	v := verdictOf(t, r.wait(t, 5*time.Second))
	took := r.ended.Sub(killed)
	t.Logf("kill -9 reported in %v: %v", took.Round(time.Microsecond), v)
	require.True(t, v.Layer == health.LayerProcess && v.Cause == "killed", "verdict %v, want process/killed", v)
	require.LessOrEqual(t, took, 500*time.Millisecond, "kill -9 reported too late")
}

func TestSIGSTOPCaughtByWatchdog(t *testing.T) {
	ng := testpeer.StartNginx(t)
	s := sampleSettings(t, ng.AppURL+"/sigstop")
	s.StaleTimeout = time.Second
	r := startRun(t, &Exec{Settings: s}, 0)
	r.waitLive(t, 20*time.Second)
	pid := ffmpegChild(t, os.Getpid(), "/sigstop")
	stopProcess(t, pid)
	stopped := time.Now()
	syscall.Kill(pid, syscall.SIGSTOP)
	v := verdictOf(t, r.wait(t, 10*time.Second))
	took := r.ended.Sub(stopped)
	t.Logf("SIGSTOP caught in %v (stale_timeout %v): %v", took.Round(time.Millisecond), s.StaleTimeout, v)
	require.True(t, v.Layer == health.LayerProcess && v.Cause == "stalled", "verdict %v, want process/stalled", v)
	require.LessOrEqual(t, took, s.StaleTimeout+time.Second, "stall caught too late")
}

func TestMissingAndNotExecutableBinary(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "ffmpeg")
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))
	for _, bin := range []string{filepath.Join(dir, "missing", "ffmpeg"), notExec} {
		e := &Exec{Settings: Settings{FFmpegPath: bin, Source: "/dev/null", Target: "rtmp://127.0.0.1:1/live/x"}}
		err := e.Check(context.Background())
		require.ErrorContains(t, err, bin, "Check(%s), want an error naming the path", bin)
		t.Logf("Check: %v", err)
		v := verdictOf(t, e.Run(context.Background(), 0, health.NewSignals()))
		require.True(t, v.Layer == health.LayerProcess && strings.Contains(v.Detail, bin), "Run verdict %v, want a process verdict naming %s", v, bin)
		t.Logf("Run: %v", v)
	}
}

// countingFFmpeg writes a stand-in ffmpeg that answers -version and counts
// its runs; calls reports how many times it ran.
func countingFFmpeg(t *testing.T) (bin string, calls func() int) {
	t.Helper()
	dir := t.TempDir()
	bin, log := filepath.Join(dir, "ffmpeg"), filepath.Join(dir, "runs")
	script := "#!/bin/sh\necho run >> '" + log + "'\necho 'ffmpeg version stand-in'\n"
	require.NoError(t, os.WriteFile(bin, []byte(script), 0o755))
	return bin, func() int {
		b, err := os.ReadFile(log)
		if os.IsNotExist(err) {
			return 0
		}
		require.NoError(t, err)
		return strings.Count(string(b), "run\n")
	}
}

// A successful Check is cached for the process: the second Check within
// checkTTL does not run the binary again, nor does another Exec's (the
// streams of a service share their ffmpeg); another binary is checked.
func TestCheckCachesSuccess(t *testing.T) {
	bin, calls := countingFFmpeg(t)
	e := &Exec{Settings: Settings{FFmpegPath: bin}}
	for range 3 {
		require.NoError(t, e.Check(context.Background()))
	}
	require.Equal(t, 1, calls(), "Check ran ffmpeg -version again within the cache's lifetime")
	require.NoError(t, (&Exec{Settings: Settings{FFmpegPath: bin}}).Check(context.Background()))
	require.Equal(t, 1, calls(), "another Exec of the same binary ran it again")
	other, otherCalls := countingFFmpeg(t)
	require.NoError(t, (&Exec{Settings: Settings{FFmpegPath: other}}).Check(context.Background()))
	require.Equal(t, 1, otherCalls(), "another binary is checked")
}

// runToVerdict runs a push that must fail and returns its verdict.
func runToVerdict(t *testing.T, s Settings) *health.Verdict {
	t.Helper()
	return driverVerdict(t, &Exec{Settings: s})
}

// driverVerdict runs a push that must fail and returns its verdict.
func driverVerdict(t *testing.T, d Driver) *health.Verdict {
	t.Helper()
	r := startRun(t, d, 0)
	v := verdictOf(t, r.wait(t, 20*time.Second))
	t.Logf("verdict: %v", v)
	return v
}

func TestTargetPortClosedIsL0(t *testing.T) {
	port := testpeer.FreePort(t)
	v := runToVerdict(t, sampleSettings(t, fmt.Sprintf("rtmp://127.0.0.1:%d/live/closed", port)))
	require.True(t, v.Layer == health.LayerNetwork && v.Cause == "connection_refused", "verdict %v, want L0 connection_refused", v)
}

func TestNginxUnknownAppIsL2(t *testing.T) {
	ng := testpeer.StartNginx(t)
	v := runToVerdict(t, sampleSettings(t, fmt.Sprintf("rtmp://127.0.0.1:%d/nosuchapp/x", ng.Port)))
	require.Equal(t, health.LayerConnect, v.Layer, "verdict %v, want L2", v)
}

func TestNginxAlreadyPublishingIsL3(t *testing.T) {
	ng := testpeer.StartNginx(t)
	first := startRun(t, &Exec{Settings: sampleSettings(t, ng.AppURL+"/dup")}, 0)
	first.waitLive(t, 20*time.Second)
	v := runToVerdict(t, sampleSettings(t, ng.AppURL+"/dup"))
	require.True(t, v.Layer == health.LayerPublish && v.ServerWords == "Already publishing", "verdict %v, want L3 with the server's words", v)
}

func TestSecretsNeverReachLogsOrVerdicts(t *testing.T) {
	ng := testpeer.StartNginx(t)
	const key, token = "sekritStreamKey42", "tok3nValue99"
	s := sampleSettings(t, ng.AppURL+"/"+key+"?token="+token)
	log, buf := testLogger(t)
	s.Logger = log
	e := &Exec{Settings: s}
	r := startRun(t, e, 0)
	r.waitLive(t, 20*time.Second)
	r.cancel()
	r.wait(t, 10*time.Second)
	port := testpeer.FreePort(t)
	s.Target = fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s?token=%s", port, key, token)
	v := runToVerdict(t, s)
	all := buf.String() + v.Error()
	require.Contains(t, buf.String(), "Sending publish command", "the trace log lacks ffmpeg's debug lines")
	for _, secret := range []string{key, token} {
		require.NotContains(t, all, secret, "secret %q leaked", secret)
	}
}

func TestHangingTargetIsL1Timeout(t *testing.T) {
	target, _ := blackHole(t)
	s := sampleSettings(t, target)
	s.IOTimeout = time.Second
	started := time.Now()
	v := runToVerdict(t, s)
	require.True(t, v.Layer == health.LayerHandshake && v.Cause == "handshake_timeout", "verdict %v, want L1 handshake_timeout", v)
	t.Logf("reported after %v", time.Since(started).Round(time.Millisecond))
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip(err)
	}
	return len(fds)
}

func TestNoFDLeak(t *testing.T) {
	ng := testpeer.StartNginx(t)
	closed := fmt.Sprintf("rtmp://127.0.0.1:%d/live/x", testpeer.FreePort(t))
	runToVerdict(t, sampleSettings(t, closed)) // warm up (probe, runtime pollers)
	before := openFDs(t)
	for i := 0; i < 3; i++ {
		runToVerdict(t, sampleSettings(t, closed))
	}
	r := startRun(t, &Exec{Settings: sampleSettings(t, ng.AppURL+"/fds")}, 0)
	r.waitLive(t, 20*time.Second)
	r.cancel()
	require.NoError(t, r.wait(t, 10*time.Second))
	after := openFDs(t)
	require.LessOrEqual(t, after, before, "%d open fds before, %d after four pushes", before, after)
}

func TestRunWithCancelledContextStartsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := &Exec{Settings: Settings{FFmpegPath: "/nonexistent/ffmpeg", Source: "/s.flv", Target: "rtmp://127.0.0.1:1/live/x"}}
	require.NoError(t, e.Run(ctx, 0, health.NewSignals()))
}

func TestStopDuringHangingOpen(t *testing.T) {
	target, accepted := blackHole(t)
	s := sampleSettings(t, target)
	s.IOTimeout, s.Grace = time.Minute, time.Second
	r := startRun(t, &Exec{Settings: s}, 0)
	select {
	case <-accepted:
	case <-time.After(20 * time.Second):
		require.Fail(t, "ffmpeg never connected")
	}
	stop := time.Now()
	r.cancel()
	require.NoError(t, r.wait(t, 10*time.Second), "stop during a hanging open, want nil")
	took := time.Since(stop)
	t.Logf("stopped in %v", took.Round(time.Millisecond))
	require.LessOrEqual(t, took, s.Grace+time.Second, "stop took %v, want within grace %v + 1s", took, s.Grace)
}

// The cached success holds only for the same file: a binary replaced (a
// package upgrade) or removed is checked again at the next Check.
func TestCheckRerunsForAnotherBinary(t *testing.T) {
	bin, calls := countingFFmpeg(t)
	e := &Exec{Settings: Settings{FFmpegPath: bin}}
	require.NoError(t, e.Check(context.Background()))
	script, err := os.ReadFile(bin)
	require.NoError(t, err)
	next := bin + ".new"
	require.NoError(t, os.WriteFile(next, append(script, "\n# upgraded\n"...), 0o755))
	require.NoError(t, os.Rename(next, bin))
	require.NoError(t, e.Check(context.Background()))
	require.Equal(t, 2, calls(), "Check trusted the old binary's result for a new file")
	require.NoError(t, os.Remove(bin))
	require.ErrorContains(t, e.Check(context.Background()), bin, "Check passed for a removed binary")
}
