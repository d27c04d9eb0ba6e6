package ffmpegpath

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/fmsim/fmsimtest"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// driverFor builds the driver under test from settings.
type driverFor func(t *testing.T, s Settings) Driver

func execFor(_ *testing.T, s Settings) Driver { return &Exec{Settings: s} }

// lastSession returns the emulator's last session once it has ended.
func lastSession(t *testing.T, srv *fmsim.Server) fmsim.SessionInfo {
	t.Helper()
	var s fmsim.SessionInfo
	for deadline := time.Now().Add(10 * time.Second); ; {
		ch := srv.Changed()
		if all := srv.Sessions(); len(all) > 0 && all[len(all)-1].Ended {
			return all[len(all)-1]
		} else if len(all) > 0 {
			s = all[len(all)-1]
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			require.Failf(t, "the emulator's session did not end", "the emulator's session did not end: %+v", s)
		}
	}
}

// pushToEmulator pushes the sample to the emulator in a profile and checks
// what it accepted.
func pushToEmulator(t *testing.T, mk driverFor, profile string) {
	pushSourceToEmulator(t, mk, profile, "")
}

// pushSourceToEmulator is pushToEmulator from a live source (an RTSP
// camera URL), or from the sample when source is empty. A live source's
// buffered start is not compared with the wall time.
func pushSourceToEmulator(t *testing.T, mk driverFor, profile, source string) {
	srv := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: profile})
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range srv.Sessions() {
				t.Logf("emulator session: %+v verdict %+v violation %+v", s, s.Verdict, s.Violation)
			}
		}
	})
	set := sampleSettings(t, srv.URL("live", "emu"))
	if source != "" {
		set.Source, set.SampleFile = source, ""
	}
	p := pushAndStop(t, mk(t, set))
	s := lastSession(t, srv)
	t.Logf("%s: handshake digest %v, flashVer %q, %s %dx%d %.0f fps, %s %d Hz, %d video / %d audio frames accepted, %d acks, %d/%d pongs, verdict %+v",
		profile, s.Handshake.Digest, s.FlashVer, s.VideoCodec, s.Width, s.Height, s.FrameRate, s.AudioCodec, s.SampleRate,
		s.VideoFrames, s.AudioFrames, s.AcksReceived, s.PingResponses, s.PingsSent, s.Verdict)
	require.False(t, s.Verdict.ByServer(), "the emulator ended the session: %+v", s.Verdict)
	require.True(t, s.VideoCodec == "h264" && s.Width == 640 && s.Height == 360 && s.AudioCodec == "aac", "accepted media: %+v", s)
	require.LessOrEqual(t, math.Abs(float64(s.VideoFrames)-float64(p.frames)), 0.05*float64(p.frames),
		"emulator accepted %d video frames, %d sent", s.VideoFrames, p.frames)
	if want := p.wall.Seconds() * 25; source == "" {
		require.LessOrEqual(t, math.Abs(float64(s.VideoFrames)-want), 0.05*want,
			"emulator accepted %d video frames, %.0f expected over %v", s.VideoFrames, want, p.wall)
	}
}

func TestPushSampleToEmulatorCloud(t *testing.T) { pushToEmulator(t, execFor, fmsim.ProfileCloud) }
func TestPushSampleToEmulatorCompanion(t *testing.T) {
	pushToEmulator(t, execFor, fmsim.ProfileCompanion)
}

// rejections are the emulator's rejection modes and the layer each must be
// classified at.
var rejections = []struct {
	name    string
	profile string
	rules   []string
	layer   health.Layer
}{
	{"reject_flashver", fmsim.ProfileLenient, []string{"reject_flashver=FMLE"}, health.LayerConnect},
	{"flashver_prefix", fmsim.ProfileLenient, []string{"flashver_prefix=XSPLIT/"}, health.LayerConnect},
	{"reject_sessions", fmsim.ProfileLenient, []string{"reject_sessions=1"}, health.LayerConnect},
	{"auth_secret", fmsim.ProfileCloud, []string{"auth_secret=s3cret"}, health.LayerPublish},
	{"close_after_publish", fmsim.ProfileLenient, []string{"close_after_publish=2s"}, health.LayerUpkeep},
	{"rst_after_first_frame", fmsim.ProfileLenient, []string{"rst_after_first_frame=100ms"}, health.LayerMedia},
	{"require_fmt0", fmsim.ProfileCompanion, []string{"require_fmt0"}, health.LayerMedia},
}

// rejectionLayers pushes into each rejection mode and checks the layer.
func rejectionLayers(t *testing.T, mk driverFor) {
	for _, tc := range rejections {
		t.Run(tc.name, func(t *testing.T) {
			srv := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: tc.profile, Rules: tc.rules})
			v := driverVerdict(t, mk(t, sampleSettings(t, srv.URL("live", "rej"))))
			s := lastSession(t, srv)
			t.Logf("emulator: %+v", s.Verdict)
			require.Equal(t, tc.layer, v.Layer, "verdict %v", v)
			if tc.layer == health.LayerMedia && s.Verdict != nil && s.Verdict.SinceFirstFrame >= 0 {
				diff := v.TimeToRST - s.Verdict.SinceFirstFrame
				t.Logf("RST after the first frame: measured %v, emulator %v", v.TimeToRST, s.Verdict.SinceFirstFrame)
				require.True(t, diff >= -300*time.Millisecond && diff <= 300*time.Millisecond, "TimeToRST %v, emulator says %v", v.TimeToRST, s.Verdict.SinceFirstFrame)
			}
		})
	}
}

func TestEmulatorRejectionLayers(t *testing.T) { rejectionLayers(t, execFor) }

// timelineContinues pushes with base 90 s and checks on the emulator that
// the target's timeline starts there and never goes backwards.
func timelineContinues(t *testing.T, mk driverFor) {
	srv := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileLenient})
	const base = 90 * time.Second
	r := startRun(t, mk(t, sampleSettings(t, srv.URL("live", "base"))), base)
	r.waitLive(t, 20*time.Second)
	testpeer.Eventually(t, 10*time.Second, "a second of media", func() bool {
		return r.sig.LastTimestamp.Load() > (base + time.Second).Milliseconds()
	})
	r.cancel()
	require.NoError(t, r.wait(t, 10*time.Second))
	s := lastSession(t, srv)
	t.Logf("emulator: video ts %d..%d ms, audio ts %d..%d ms, regressions %d/%d",
		s.FirstVideoTS, s.LastVideoTS, s.FirstAudioTS, s.LastAudioTS, s.VideoTSRegressions, s.AudioTSRegressions)
	require.True(t, s.FirstVideoTS >= uint32(base.Milliseconds()) && s.FirstVideoTS <= uint32((base+time.Second).Milliseconds()) &&
		s.VideoTSRegressions+s.AudioTSRegressions == 0, "timeline does not continue from %v: %+v", base, s)
}

func TestTimelineContinuesFromBase(t *testing.T) { timelineContinues(t, execFor) }

// switchKeepsTimeline pushes twice to one stream name, the second push
// starting from the first one's last timestamp (as the supervisor does on a
// switch), and checks that the emulator saw one monotonic timeline.
func switchKeepsTimeline(t *testing.T, first, second driverFor) {
	srv := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileLenient})
	base := time.Duration(0)
	for i, mk := range []driverFor{first, second} {
		r := startRun(t, mk(t, sampleSettings(t, srv.URL("live", "switch"))), base)
		r.waitLive(t, 20*time.Second)
		testpeer.Eventually(t, 10*time.Second, "a second of media", func() bool {
			return r.sig.LastTimestamp.Load() > (base + time.Second).Milliseconds()
		})
		r.cancel()
		require.NoError(t, r.wait(t, 10*time.Second), "push %d", i)
		base = time.Duration(r.sig.LastTimestamp.Load()+40) * time.Millisecond
	}
	st := srv.Streams()["switch"]
	t.Logf("stream: %+v", st)
	require.True(t, len(st.Sessions) == 2 && st.Monotonic, "the timeline went backwards across the switch: %+v", st)
}

func TestSwitchKeepsTimelineMonotonic(t *testing.T) { switchKeepsTimeline(t, execFor, execFor) }
