package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/fmsim/fmsimtest"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// targetsConfig is one stream from the camera cam to the named targets
// (name, url pairs; "name:ffmpeg" prefers the ffmpeg path, native
// otherwise).
func targetsConfig(cam string, targets ...string) string {
	t := ""
	for i := 0; i < len(targets); i += 2 {
		name, prefer, _ := strings.Cut(targets[i], ":")
		if prefer == "" {
			prefer = "native"
		}
		t += fmt.Sprintf("  target %q {\n    url = %q\n    prefer = %q\n  }\n", name, targets[i+1], prefer)
	}
	// attempts_per_minute: the 1 s standby probes and the fast retries
	// while a target's server is away would exhaust the default 6 a minute
	// (its own tests are elsewhere) and hold the target back for a minute.
	return "service {\n  http_listen = \"%s\"\n  log_level = \"debug\"\n}\n" +
		fmt.Sprintf("stream \"cam\" {\n  source = %q\n  failover {\n    backoff_initial = \"200ms\"\n    backoff_max = \"1s\"\n    probe_interval = \"1s\"\n    attempts_per_minute = 300\n  }\n%s}\n", cam, t)
}

// publisher is the emulator's session publishing name now (the zero
// SessionInfo, ID 0, when there is none).
func publisher(srv *fmsim.Server, name string) fmsim.SessionInfo {
	for _, s := range srv.Sessions() {
		if s.Published() && s.EndedAt.IsZero() && s.StreamName == name {
			return s
		}
	}
	return fmsim.SessionInfo{}
}

// unbroken checks that each emulator still has the session it had (ids)
// and that its frames grew past what they were (frames).
func unbroken(t *testing.T, what string, srvs []*fmsim.Server, ids, frames []int) {
	t.Helper()
	for i, srv := range srvs {
		testpeer.Eventually(t, 10*time.Second, fmt.Sprintf("%s: target %d's frames growing", what, i), func() bool {
			return publisher(srv, "cam").VideoFrames > frames[i]+25
		})
		ss := publisher(srv, "cam")
		require.Equal(t, ids[i], ss.ID, "%s: target %d's session at the server changed", what, i)
		frames[i] = ss.VideoFrames
	}
}

// One RTSP camera pushed to three targets (the emulator's companion
// profile, its cloud profile with token auth, nginx-rtmp): the camera sees
// one session; one target's server going away leaves the other two
// sessions unbroken (that target's ffmpeg path takes over, reading the
// same camera session); a reload that removes that target and adds a
// fourth (on the ffmpeg path) leaves the untouched two unbroken, with the
// camera read once throughout.
func TestOneCameraThreeTargets(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	camSrv := testpeer.StartRTSP(t, "127.0.0.1:0")
	cam := "rtsp://" + camSrv.Addr() + "/cam"
	testpeer.FeedRTSP(t, camSrv, cam)
	companion := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileCompanion, MaxSegment: 1448})
	const secret = "t0ken-secret"
	cloud := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileCloud, Rules: []string{"auth_secret=" + secret}, MaxSegment: 1448})
	extra := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileLenient, MaxSegment: 1448})
	ngx := testpeer.StartNginxServer(t)
	expiry := time.Now().Add(time.Hour)
	cloudURL := "rtmp://" + cloud.Addr() + "/live/" + fmsim.SignedName(secret, "cam", expiry)
	token, _ := fmsim.Sign(secret, "cam", expiry)

	r := startService(t, targetsConfig(cam, "companion", companion.URL("live", "cam"), "cloud", cloudURL, "nginx", ngx.PublishURL("cam")))
	live := func(ids ...string) func() bool {
		return func() bool {
			all := r.streams()
			for _, id := range ids {
				if s := all[id]; s.State != health.StateLive || s.ActivePath != "native" {
					return false
				}
			}
			return true
		}
	}
	testpeer.Eventually(t, 30*time.Second, "three targets live on native", live("cam/companion", "cam/cloud", "cam/nginx"))
	now, plays := camSrv.Readers()
	require.Equal(t, 1, now, "camera sessions now")
	require.Equal(t, 1, plays, "camera sessions ever")

	emus := []*fmsim.Server{companion, cloud}
	ids, frames := make([]int, 2), make([]int, 2)
	for i, srv := range emus {
		ss := publisher(srv, "cam")
		ids[i], frames[i] = ss.ID, ss.VideoFrames
		require.NotZero(t, ids[i], "emulator %d has no publisher", i)
	}

	// One target's server goes away: the other two go on in their sessions.
	ngx.Stop(t)
	testpeer.Eventually(t, 15*time.Second, "the nginx target not live", func() bool {
		return r.streams()["cam/nginx"].State != health.StateLive
	})
	unbroken(t, "nginx stopped", emus, ids, frames)
	ngx.Restart(t)
	// Back on either path: the native session ended as nginx went away,
	// and the ffmpeg path (whose last probe had passed) took over.
	testpeer.Eventually(t, 30*time.Second, "the nginx target back", func() bool {
		return r.streams()["cam/nginx"].State == health.StateLive
	})
	unbroken(t, "nginx back", emus, ids, frames)
	_, plays = camSrv.Readers()
	require.Equal(t, 1, plays, "camera sessions ever, after the nginx target's ffmpeg path published (from the hub)")

	// A reload adds a fourth target (on the ffmpeg path, which reads the
	// hub) and removes one.
	r.writeInPlace(targetsConfig(cam, "companion", companion.URL("live", "cam"), "cloud", cloudURL, "extra:ffmpeg", extra.URL("live", "cam")))
	testpeer.Eventually(t, 30*time.Second, "the added target live on ffmpeg", func() bool {
		s := r.streams()["cam/extra"]
		return s.State == health.StateLive && s.ActivePath == "ffmpeg"
	})
	testpeer.Eventually(t, 10*time.Second, "the removed target gone", func() bool {
		_, ok := r.streams()["cam/nginx"]
		return !ok
	})
	unbroken(t, "reloaded", emus, ids, frames)
	require.Len(t, r.streams(), 3)
	now, plays = camSrv.Readers()
	require.Equal(t, 1, now, "camera sessions now")
	require.Equal(t, 1, plays, "camera sessions ever")

	// Status and metrics name the targets; no key or token shows.
	code, _, body := r.get("/v1/streams/cam/targets/cloud")
	require.Equal(t, 200, code, "%s", body)
	require.Contains(t, string(body), `"target_name": "cloud"`)
	_, _, body = r.get("/v1/streams/cam")
	require.Contains(t, string(body), `"targets"`)
	_, _, metrics := r.get("/metrics")
	require.Contains(t, string(metrics), `fmspush_stream_up{stream="cam",target="extra"} 1`)
	for _, b := range [][]byte{body, metrics, []byte(r.logs.String())} {
		require.NotContains(t, string(b), secret)
		require.NotContains(t, string(b), token)
	}
}

// A hot backup: the primary and the backup ingest both accept a session,
// at the same timestamps (within one frame at 25 fps).
func TestHotBackupSameTimestamps(t *testing.T) {
	primary := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileCloud, MaxSegment: 1448})
	backup := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileCloud, MaxSegment: 1448})
	cfg := "service {\n  http_listen = \"%s\"\n}\n" + fmt.Sprintf(`stream "cam" {
  source = "builtin:sample"
  target "yt" {
    url    = %q
    backup = %q
  }
}
`, primary.URL("live", "cam"), backup.URL("live", "cam"))
	r := startService(t, cfg)
	testpeer.Eventually(t, 30*time.Second, "both ingests live", func() bool {
		s := r.streams()
		return s["cam/yt"].State == health.StateLive && s["cam/yt.backup"].State == health.StateLive
	})
	var gap int
	testpeer.Eventually(t, 20*time.Second, "the same timestamps on both", func() bool {
		p, b := publisher(primary, "cam"), publisher(backup, "cam")
		if p.VideoFrames < 50 || b.VideoFrames < 50 {
			return false
		}
		gap = int(p.LastVideoTS) - int(b.LastVideoTS)
		return gap >= -40 && gap <= 40
	})
	t.Logf("primary and backup last video timestamps %d ms apart", gap)
	require.Equal(t, publisher(primary, "cam").FirstVideoTS, publisher(backup, "cam").FirstVideoTS, "the two sessions started at different timestamps")
}

// The ffmpeg path fed from the camera session: when the camera goes away,
// its verdict is the source's, which counts against no path.
func TestFedFFmpegCameraLossIsASourceVerdict(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	camSrv := testpeer.StartRTSP(t, "127.0.0.1:0")
	cam := "rtsp://" + camSrv.Addr() + "/cam"
	feeder := testpeer.FeedRTSP(t, camSrv, cam)
	cfg := strings.Replace(failoverConfig("lenient", nil, "ffmpeg", ""), `source = "builtin:sample"`, fmt.Sprintf("source = %q", cam), 1)
	r := startService(t, cfg)
	testpeer.Eventually(t, 30*time.Second, "live on ffmpeg", liveOn(r, "ffmpeg"))
	_, plays := camSrv.Readers()
	require.Equal(t, 1, plays, "camera sessions: ffmpeg reads the service's own")
	require.NoError(t, feeder.Process.Kill())
	testpeer.Eventually(t, 30*time.Second, "a source verdict on the ffmpeg path", func() bool {
		v := pathOf(t, r.stream(), "ffmpeg").LastVerdict
		return v != nil && v.Layer == health.LayerSource
	})
	ff := pathOf(t, r.stream(), "ffmpeg")
	for _, v := range r.stream().LastVerdicts {
		t.Logf("verdict: %s", v.Error())
	}
	require.Zero(t, ff.Failures, "a source verdict counted against ffmpeg")
}

// A cold backup ingest: the primary server killed, the stream is live on
// the backup within about a second; the primary back, the stream returns
// to it after failback_after.
func TestColdBackupTakesOverAndReturns(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	primary := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileCloud, MaxSegment: 1448})
	backup := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileCloud, MaxSegment: 1448})
	addr := primary.Addr()
	cfg := "service {\n  http_listen = \"%s\"\n  log_level = \"debug\"\n}\n" + fmt.Sprintf(`stream "cam" {
  source = "builtin:sample"
  target = %q
  backup = %q
  backup_mode = "cold"
  failover {
    probe_interval  = "300ms"
    failback_after  = "2s"
    backoff_initial = "100ms"
    backoff_max     = "1s"
    attempts_per_minute = 120
  }
}
`, primary.URL("live", "cam"), backup.URL("live", "cam"))
	r := startService(t, cfg)
	testpeer.Eventually(t, 30*time.Second, "live on the primary", func() bool {
		s := r.streams()["cam"]
		return s.State == health.StateLive && s.Ingest == "primary"
	})
	testpeer.Eventually(t, 10*time.Second, "frames at the primary", func() bool {
		return publisher(primary, "cam").VideoFrames > 0
	})

	killed := time.Now()
	require.NoError(t, primary.Close())
	testpeer.Eventually(t, 10*time.Second, "frames at the backup", func() bool {
		return publisher(backup, "cam").VideoFrames > 0
	})
	took := time.Since(killed)
	t.Logf("primary killed to frames accepted at the backup: %v", took.Round(time.Millisecond))
	require.Less(t, took, time.Second, "the backup took over in %v", took)
	require.Equal(t, "backup", r.streams()["cam"].Ingest)
	_, _, metrics := r.get("/metrics")
	for _, re := range []string{
		`fmspush_backup_ingest_active\{stream="cam",target=""\} 1\n`,
		`fmspush_failovers_total\{from="native",layer="L[0-5]",stream="cam",target="",to="native@backup"\} 1\n`,
		`fmspush_verdicts_total\{cause="[a-z0-9_]+",layer="L[0-5]",path="native",stream="cam",target=""\} [1-9]`,
		`fmspush_stream_failovers_total\{stream="cam",target=""\} [1-9]`,
	} {
		require.Regexp(t, re, string(metrics))
	}

	back := fmsimtest.StartEmulator(t, &fmsim.Server{Profile: fmsim.ProfileCloud, MaxSegment: 1448, Listen: addr})
	returned := time.Now()
	testpeer.Eventually(t, 20*time.Second, "frames at the primary again", func() bool {
		return publisher(back, "cam").VideoFrames > 0
	})
	t.Logf("primary back to frames accepted there: %v", time.Since(returned).Round(time.Millisecond))
	require.GreaterOrEqual(t, time.Since(returned), 2*time.Second, "returned before failback_after")
	testpeer.Eventually(t, 5*time.Second, "the backup session ended", func() bool {
		return publisher(backup, "cam").ID == 0
	})
	s := r.streams()["cam"]
	require.Equal(t, "primary", s.Ingest)
	require.Equal(t, health.StateLive, s.State)
}
