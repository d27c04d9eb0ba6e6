package source

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
)

// checkUnits asserts what the FLV side needs: video params first, H.264
// 640x360 and AAC 44.1 kHz stereo, a keyframe first, keyframes carrying
// SPS/PPS, and DTS rising per track.
func checkUnits(t *testing.T, r *recorder) {
	t.Helper()
	video, audio, units, _ := r.snapshot()
	require.True(t, len(video) > 0 && len(audio) > 0, "params: %d video, %d audio", len(video), len(audio))
	v, a := video[len(video)-1], audio[len(audio)-1]
	require.True(t, v.Codec == media.CodecH264 && v.Width == 640 && v.Height == 360, "video params %v %dx%d", v.Codec, v.Width, v.Height)
	require.True(t, a.SampleRate == 44100 && a.Channels == 2, "audio params %+v", a)
	last := map[bool]time.Duration{true: -1, false: -1}
	firstVideo := true
	for _, u := range units {
		isVideo := u.Codec.IsVideo()
		require.Greater(t, u.DTS, last[isVideo], "%v DTS %v after %v", u.Codec, u.DTS, last[isVideo])
		last[isVideo] = u.DTS
		if !isVideo {
			continue
		}
		if firstVideo {
			require.True(t, u.Key, "first video unit is not a keyframe")
		}
		firstVideo = false
		if u.Key {
			require.Equal(t, byte(7), u.NALUs[0][0]&0x1f, "keyframe without SPS first: type %d", u.NALUs[0][0]&0x1f)
		}
	}
}

// The RTSP camera recipe: ffmpeg records the sample into an in-process
// gortsplib server, the RTSP source plays it over TCP into units.
func TestRTSPFromFFmpeg(t *testing.T) {
	s := testpeer.StartRTSP(t, "127.0.0.1:0")
	url := "rtsp://" + s.Addr() + "/cam"
	testpeer.FeedRTSP(t, s, url)
	rec := &recorder{}
	stop := runSource(&RTSP{URL: url}, rec)
	testpeer.Eventually(t, 20*time.Second, "two keyframes and audio", func() bool {
		k, a := rec.count()
		return k >= 2 && a >= 50
	})
	require.NoError(t, stop(), "Run after cancel")
	checkUnits(t, rec)
	decodesCleanly(t, rec, "h264", 640, 360, true)
}

// A camera offering only G.711 or Opus audio has nothing FLV can carry:
// Run says so (ErrNoTrack) without leaking the URL's password.
func TestRTSPUnsupportedCodecs(t *testing.T) {
	s := testpeer.StartRTSP(t, "127.0.0.1:0")
	s.Serve(t, &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeAudio, Formats: []format.Format{&format.G711{PayloadTyp: 0, MULaw: true, SampleRate: 8000, ChannelCount: 1}}},
		{Type: description.MediaTypeAudio, Formats: []format.Format{&format.Opus{PayloadTyp: 96, ChannelCount: 2}}},
	}})
	err := (&RTSP{URL: "rtsp://admin:hunter2@" + s.Addr() + "/cam"}).Run(t.Context(), &recorder{})
	require.ErrorIs(t, err, ErrNoTrack)
	require.NotContains(t, err.Error(), "hunter2", "password in error")
}

// A camera that is down: the error names the step, redacts the URL.
func TestRTSPDownRedacted(t *testing.T) {
	err := (&RTSP{URL: "rtsp://admin:hunter2@" + freeAddr(t) + "/cam?token=abc", ReadTimeout: 2 * time.Second}).
		Run(t.Context(), &recorder{})
	require.Error(t, err, "no error from a closed port")
	require.NotContains(t, err.Error(), "hunter2", "secret in error")
	require.NotContains(t, err.Error(), "abc", "secret in error")
	require.Contains(t, err.Error(), "admin:***@", "URL not shown redacted")
}

// The server restarts mid-stream on the same address: Retry reconnects with
// backoff, tells the sink, and units flow again.
func TestRetryReconnectsRTSP(t *testing.T) {
	s := testpeer.StartRTSP(t, "127.0.0.1:0")
	addr := s.Addr()
	url := "rtsp://" + addr + "/cam"
	cmd := testpeer.FeedRTSP(t, s, url)
	rec := &recorder{}
	var downs int
	stop := runSource(&Retry{Source: &RTSP{URL: url, ReadTimeout: 3 * time.Second}, Min: 100 * time.Millisecond,
		Max: 500 * time.Millisecond, OnDown: func(error) { downs++ }}, rec)
	testpeer.Eventually(t, 20*time.Second, "first session media", func() bool { k, _ := rec.count(); return k >= 1 })

	cmd.Process.Kill()
	s.Close()
	_, _, before, _ := rec.snapshot()
	s2 := testpeer.StartRTSP(t, addr)
	testpeer.FeedRTSP(t, s2, url)
	testpeer.Eventually(t, 30*time.Second, "media after the restart", func() bool {
		_, _, units, restarts := rec.snapshot()
		return restarts >= 1 && len(units) > len(before)+100
	})
	require.NoError(t, stop())
	require.NotZero(t, downs, "OnDown never called")
}

// An H.265 camera: ffmpeg encodes live with x265 into the RTSP server; the
// source derives DTS, parses VPS/SPS/PPS and starts at an IRAP picture.
func TestRTSPH265(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	s := testpeer.StartRTSP(t, "127.0.0.1:0")
	url := "rtsp://" + s.Addr() + "/cam"
	testpeer.FeedRTSPArgs(t, s, url, "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-c:v", "libx265",
		"-preset", "ultrafast", "-x265-params", "keyint=25:log-level=error")
	rec := &recorder{}
	stop := runSource(&RTSP{URL: url}, rec)
	testpeer.Eventually(t, 30*time.Second, "two H.265 keyframes", func() bool { k, _ := rec.count(); return k >= 2 })
	require.NoError(t, stop())
	video, _, units, _ := rec.snapshot()
	v := video[len(video)-1]
	require.True(t, v.Codec == media.CodecH265 && v.Width == 320 && v.Height == 240 && len(v.VPS) > 0,
		"H.265 params %v %dx%d", v.Codec, v.Width, v.Height)
	require.True(t, units[0].Key && media.IsKeyframe(media.CodecH265, units[0].NALUs), "first unit is not an IRAP picture")
	for i := 1; i < len(units); i++ {
		require.Greater(t, units[i].DTS, units[i-1].DTS, "DTS %v after %v", units[i].DTS, units[i-1].DTS)
	}
	annexBDecodes(t, units)
}

// Clip replays a looper: parameters first, then units until cancelled.
func TestClipSource(t *testing.T) {
	c, err := media.OpenClip(testpeer.SamplePath(t))
	require.NoError(t, err)
	l, err := media.NewLooper(c, nil)
	require.NoError(t, err)
	rec := &recorder{}
	stop := runSource(&Clip{Looper: l}, rec)
	testpeer.Eventually(t, 10*time.Second, "a loop of units", func() bool { k, _ := rec.count(); return k > 5 })
	require.NoError(t, stop())
	video, audio, _, _ := rec.snapshot()
	require.True(t, len(video) == 1 && len(audio) == 1, "params announced %d/%d times", len(video), len(audio))
}

// A camera with H.264 and G.711: the video is carried, the G.711 track is
// reported as unsupported and never set up.
func TestRTSPVideoWithG711(t *testing.T) {
	c, err := media.OpenClip(testpeer.SamplePath(t))
	require.NoError(t, err)
	s := testpeer.StartRTSP(t, "127.0.0.1:0")
	h264 := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: c.Video.SPS, PPS: c.Video.PPS}
	vm := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{h264}}
	am := &description.Media{Type: description.MediaTypeAudio,
		Formats: []format.Format{&format.G711{PayloadTyp: 8, MULaw: false, SampleRate: 8000, ChannelCount: 1}}}
	stream := s.Serve(t, &description.Session{Medias: []*description.Media{vm, am}})
	stopWriter := writeVideo(t, stream, vm, h264, c)
	defer stopWriter()

	var mu sync.Mutex
	var unsupported []string
	rec := &recorder{}
	stop := runSource(&RTSP{URL: "rtsp://" + s.Addr() + "/cam", OnUnsupported: func(kind, codec string) {
		mu.Lock()
		unsupported = append(unsupported, kind+"/"+codec)
		mu.Unlock()
	}}, rec)
	testpeer.Eventually(t, 20*time.Second, "video from a G.711 camera", func() bool { k, _ := rec.count(); return k >= 1 })
	require.NoError(t, stop())
	video, audio, _, _ := rec.snapshot()
	require.True(t, len(video) > 0 && len(audio) == 0, "params: %d video, %d audio", len(video), len(audio))
	require.Len(t, unsupported, 1, "unsupported = %v", unsupported)
	require.Contains(t, strings.ToLower(unsupported[0]), "audio/g711", "unsupported = %v", unsupported)
}

// writeVideo streams the clip's video through the server as RTP, 10 ms per
// frame, until the returned stop is called.
func writeVideo(t *testing.T, st *gortsplib.ServerStream, m *description.Media, f *format.H264, c *media.Clip) func() {
	enc, err := f.CreateEncoder()
	require.NoError(t, err)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		var ts uint32
		for i := 0; ; i++ {
			u := c.Units[i%len(c.Units)]
			if !u.Codec.IsVideo() {
				continue
			}
			pkts, _ := enc.Encode(u.NALUs)
			for _, p := range pkts {
				p.Timestamp = ts
				_ = st.WritePacketRTP(m, p)
			}
			ts += 3600
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(quit); <-done }
}

// New picks the source kind from the setting and never shows secrets.
func TestNew(t *testing.T) {
	for spec, want := range map[string]string{
		"rtsp://u:p@cam/stream":          "*source.RTSP",
		"rtsps://cam/stream":             "*source.RTSP",
		"rtmp://h/live/key":              "*source.RTMP",
		"builtin:sample":                 "*source.Clip",
		"file:" + testpeer.SamplePath(t): "source.File",
		testpeer.SamplePath(t):           "source.File",
	} {
		s, err := New(spec, nil)
		assert.NoError(t, err, spec)
		assert.Equal(t, want, typeName(s), spec)
	}
	for _, spec := range []string{"srt://u:secret@h:9000?passphrase=secret", "builtin:nope"} {
		_, err := New(spec, nil)
		if assert.Error(t, err, spec) {
			assert.NotContains(t, err.Error(), "secret", spec)
		}
	}
	// A missing file is the source's failure when it runs, not New's.
	s, err := New("file:/nonexistent.flv", nil)
	require.NoError(t, err)
	require.ErrorContains(t, s.Run(context.Background(), nil), "file source", "running a missing file")
}

// A camera that demands credentials: the right ones from the URL get media;
// wrong ones fail with an error that shows neither password.
func TestRTSPCredentials(t *testing.T) {
	c, err := media.OpenClip(testpeer.SamplePath(t))
	require.NoError(t, err)
	s := testpeer.StartRTSP(t, "127.0.0.1:0")
	s.User, s.Pass = "admin", "s3cret-pw"
	h264 := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: c.Video.SPS, PPS: c.Video.PPS}
	vm := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{h264}}
	stop := writeVideo(t, s.Serve(t, &description.Session{Medias: []*description.Media{vm}}), vm, h264, c)
	defer stop()

	err = (&RTSP{URL: "rtsp://admin:wrong-pw@" + s.Addr() + "/cam"}).Run(t.Context(), &recorder{})
	t.Logf("auth failure reads: %v", err)
	require.Error(t, err, "want a redacted auth error")
	require.NotContains(t, err.Error(), "wrong-pw", "want a redacted auth error")
	require.NotContains(t, err.Error(), "s3cret-pw", "want a redacted auth error")
	rec := &recorder{}
	stopSrc := runSource(&RTSP{URL: "rtsp://admin:s3cret-pw@" + s.Addr() + "/cam"}, rec)
	testpeer.Eventually(t, 20*time.Second, "media with credentials", func() bool { k, _ := rec.count(); return k >= 1 })
	require.NoError(t, stopSrc())
}

// Streams looping the same file share one parsed clip; a changed file is read again.
func TestFileClipsAreShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cam.flv")
	sampleBytes, err := os.ReadFile(testpeer.SamplePath(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, sampleBytes, 0o644))
	a, err := clips.open(path)
	require.NoError(t, err)
	b, _ := clips.open(path)
	require.Same(t, a, b, "the same file was parsed twice")
	later := time.Now().Add(time.Minute)
	require.NoError(t, os.Chtimes(path, later, later))
	c, _ := clips.open(path)
	require.NotSame(t, a, c, "a modified file was not read again")
}
