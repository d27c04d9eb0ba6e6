//go:build libav

package ffmpegpath

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
)

func libavDriver(t *testing.T, s Settings) Driver {
	t.Helper()
	s.Driver = DriverLibav
	d, err := New(s)
	require.NoError(t, err)
	require.NoError(t, d.Check(t.Context()))
	return d
}

func TestLibavPushSampleToNginx(t *testing.T) {
	ng := testpeer.StartNginx(t)
	d := libavDriver(t, sampleSettings(t, ng.AppURL+"/libav1"))
	checkReceived(t, ng.Recording("libav1"), pushAndStop(t, d), true)
}

func TestLibavPushSampleToFFmpegListen(t *testing.T) {
	l := testpeer.StartFFmpegListen(t)
	d := libavDriver(t, sampleSettings(t, l.URL))
	p := pushAndStop(t, d)
	checkReceived(t, l.Wait(t, 10*time.Second), p, true)
}

func TestLibavRTSPSourceToNginx(t *testing.T) {
	cam := startCamera(t)
	ng := testpeer.StartNginx(t)
	s := sampleSettings(t, ng.AppURL+"/libavrtsp")
	s.Source, s.SampleFile = cam, ""
	checkReceived(t, ng.Recording("libavrtsp"), pushAndStop(t, libavDriver(t, s)), false)
}

func TestLibavTimestampBase(t *testing.T) {
	ng := testpeer.StartNginx(t)
	r := startRun(t, libavDriver(t, sampleSettings(t, ng.AppURL+"/libavbase")), 90*time.Second)
	r.waitLive(t, 20*time.Second)
	ts := r.sig.LastTimestamp.Load()
	require.True(t, ts >= 90_000 && ts <= 91_000, "first timestamps at %d ms, want to continue from 90000", ts)
	r.cancel()
	require.NoError(t, r.wait(t, 10*time.Second))
}

func TestLibavLayers(t *testing.T) {
	ng := testpeer.StartNginx(t)
	first := startRun(t, libavDriver(t, sampleSettings(t, ng.AppURL+"/libavdup")), 0)
	first.waitLive(t, 20*time.Second)
	tests := []struct {
		target string
		layer  health.Layer
		cause  string
	}{
		{fmt.Sprintf("rtmp://127.0.0.1:%d/live/closed", testpeer.FreePort(t)), health.LayerNetwork, "connection_refused"},
		{fmt.Sprintf("rtmp://127.0.0.1:%d/nosuchapp/x", ng.Port), health.LayerConnect, "connect_closed"},
		{ng.AppURL + "/libavdup", health.LayerPublish, health.CauseNameLocked}, // nginx: "Already publishing",
	}
	for _, tc := range tests {
		v := driverVerdict(t, libavDriver(t, sampleSettings(t, tc.target)))
		assert.True(t, v.Layer == tc.layer && v.Cause == tc.cause, "%s: %v, want %s/%s", tc.target, v, tc.layer, tc.cause)
	}
}

func TestLibavStallInterruptsHangingOpen(t *testing.T) {
	target, _ := blackHole(t)
	s := sampleSettings(t, target)
	s.StartTimeout, s.IOTimeout = time.Second, time.Minute
	started := time.Now()
	v := driverVerdict(t, libavDriver(t, s))
	took := time.Since(started)
	t.Logf("hanging open interrupted after %v: %v", took.Round(time.Millisecond), v)
	require.True(t, v.Layer == health.LayerProcess && v.Cause == "stalled" && took <= s.StartTimeout+time.Second,
		"%v after %v, want process/stalled within %v", v, took, s.StartTimeout+time.Second)
}

func TestLibavStopInterruptsHangingOpen(t *testing.T) {
	target, accepted := blackHole(t)
	s := sampleSettings(t, target)
	s.IOTimeout, s.Grace = time.Minute, 500*time.Millisecond
	r := startRun(t, libavDriver(t, s), 0)
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		require.Fail(t, "the driver never connected")
	}
	stop := time.Now()
	r.cancel()
	require.NoError(t, r.wait(t, 5*time.Second), "stop during a hanging open, want nil")
	took := time.Since(stop)
	require.LessOrEqual(t, took, s.Grace+time.Second, "stop took %v, want within grace %v + 1s", took, s.Grace)
}

func TestLibavRefusesWhatItCannotDo(t *testing.T) {
	s := sampleSettings(t, "rtmp://127.0.0.1:1/live/x")
	s.Audio = media.AudioSilent
	v := verdictOf(t, libavDriver(t, s).Run(t.Context(), 0, health.NewSignals()))
	require.True(t, v.Layer == health.LayerProcess && v.Cause == "unsupported_by_driver", "%v", v)
}

func libavFor(t *testing.T, s Settings) Driver { return libavDriver(t, s) }

func TestLibavPushSampleToEmulatorCloud(t *testing.T) { pushToEmulator(t, libavFor, "cloud") }
func TestLibavPushSampleToEmulatorCompanion(t *testing.T) {
	pushToEmulator(t, libavFor, "companion")
}
func TestLibavEmulatorRejectionLayers(t *testing.T) { rejectionLayers(t, libavFor) }

func TestLibavTimelineContinuesFromBase(t *testing.T) { timelineContinues(t, libavFor) }

func TestLibavSwitchWithExecKeepsTimeline(t *testing.T) { switchKeepsTimeline(t, execFor, libavFor) }

func TestLibavRTSPCameraDownIsSourceVerdict(t *testing.T) {
	cam, down := startCameraStoppable(t)
	ng := testpeer.StartNginx(t)
	s := sampleSettings(t, ng.AppURL+"/libavcamdown")
	s.Source, s.SampleFile = cam, ""
	r := startRun(t, libavDriver(t, s), 0)
	r.waitLive(t, 20*time.Second)
	down()
	v := verdictOf(t, r.wait(t, 15*time.Second))
	t.Logf("camera down: %v", v)
	require.Equal(t, health.LayerSource, v.Layer, "verdict %v, want a source verdict", v)
}

func TestLibavRTSPSourceToFFmpegListen(t *testing.T) { rtspToListen(t, libavFor) }

func TestLibavRTSPSourceToEmulatorCloud(t *testing.T) {
	pushSourceToEmulator(t, libavFor, "cloud", startCamera(t))
}

func TestLibavRTSPSourceToEmulatorCompanion(t *testing.T) {
	pushSourceToEmulator(t, libavFor, "companion", startCamera(t))
}

func TestLibavServerStallIsL4AndResets(t *testing.T) {
	stallRun(t, libavDriver, "", resetDup)
}
