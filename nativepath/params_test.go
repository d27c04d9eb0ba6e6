package nativepath

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/media/sample"
	"github.com/fmspush/fmspush/nativepath/source"
)

// sampleGOPs returns the sample clip's units in GOPs (each from a video
// keyframe; audio before the first keyframe is left out).
func sampleGOPs(t *testing.T) (*media.Clip, [][]media.Unit) {
	t.Helper()
	c, err := sample.Clip()
	require.NoError(t, err)
	var gops [][]media.Unit
	for _, u := range c.Units {
		if u.Key && u.Codec.IsVideo() {
			gops = append(gops, nil)
		}
		if len(gops) > 0 {
			gops[len(gops)-1] = append(gops[len(gops)-1], u)
		}
	}
	require.GreaterOrEqual(t, len(gops), 4)
	return c, gops
}

// withInBandPPS returns a keyframe carrying the sample's SPS and a PPS that
// differs from the announced one, in band.
func withInBandPPS(c *media.Clip, key media.Unit) (media.Unit, []byte) {
	pps := append(append([]byte(nil), c.Video.PPS...), 0x80)
	key.NALUs = append([][]byte{c.Video.SPS, pps}, key.NALUs...)
	return key, pps
}

// The hub derives the parameters once per change, and every unit it hands
// out carries the hub's current version: announcements and in-band sets
// that change nothing make no new version.
func TestHubIsTheOneOwnerOfParameters(t *testing.T) {
	c, gops := sampleGOPs(t)
	h := newHub(nil, 4<<20, hclog.NewNullLogger())
	sub := &subscription{units: make(chan media.Unit, subscriberQueue)}
	h.subs[sub] = struct{}{}
	h.SetVideo(*c.Video)
	h.SetAudio(*c.Audio)
	first := h.params
	require.Equal(t, uint64(2), first.Epoch, "one version for the video, one for the audio")
	h.SetVideo(*c.Video) // a source restart announces the same again
	h.SetAudio(*c.Audio)
	same := gops[0][0] // the announced sets, in band
	same.NALUs = append([][]byte{c.Video.SPS, c.Video.PPS}, same.NALUs...)
	h.WriteUnit(same)
	for _, u := range gops[0][1:] {
		h.WriteUnit(u)
	}
	require.Same(t, first, h.params, "nothing changed: no new version")
	key, pps := withInBandPPS(c, gops[1][0])
	h.WriteUnit(key)
	for _, u := range gops[1][1:] {
		h.WriteUnit(u)
	}
	second := h.params
	require.Equal(t, first.Epoch+1, second.Epoch, "one version for the in-band change")
	require.Equal(t, pps, second.Video.PPS)
	require.Same(t, first.Audio, second.Audio, "audio untouched")
	for range gops[0] {
		require.Same(t, first, (<-sub.units).Params, "a unit of the first GOP")
	}
	for range gops[1] {
		require.Same(t, second, (<-sub.units).Params, "a unit from the in-band change on")
	}
	snap, ok := h.startable()
	require.True(t, ok)
	require.Same(t, second.Video, snap.Video, "the cached keyframe's parameters")
}

// paramsSource plays the sample's GOPs as fast as the hub takes them and
// changes the parameters in every way a camera does: a new resolution
// announced, new parameter sets in band, a restart with other parameters.
type paramsSource struct {
	clip  *media.Clip
	gops  [][]media.Unit
	runs  atomic.Int32
	video atomic.Int64  // video units sent
	live  chan struct{} // closed once the publish took the first GOP
}

func (p *paramsSource) Run(ctx context.Context, sink source.Sink) error {
	v := *p.clip.Video
	small := v
	small.Width, small.Height = 320, 180
	key, pps := withInBandPPS(p.clip, p.gops[2][0])
	if p.runs.Add(1) > 1 {
		again := small
		again.PPS = pps
		sink.SetVideo(again) // as before the restart: no new header
		sink.SetAudio(*p.clip.Audio)
		p.play(sink, p.gops[3])
		sink.SetVideo(v) // the camera came back with other parameters
		p.play(sink, p.gops[0])
		<-ctx.Done()
		return nil
	}
	sink.SetVideo(v)
	sink.SetAudio(*p.clip.Audio)
	p.play(sink, p.gops[0])
	select {
	case <-p.live:
	case <-ctx.Done():
		return nil
	}
	sink.SetVideo(small) // a new resolution
	p.play(sink, p.gops[1])
	p.play(sink, append([]media.Unit{key}, p.gops[2][1:]...)) // new sets in band
	return errors.New("the camera restarts")
}

// play writes a GOP, its timestamps after everything played before.
func (p *paramsSource) play(sink source.Sink, gop []media.Unit) {
	for _, u := range gop {
		if u.Codec.IsVideo() {
			p.video.Add(1)
		}
		sink.WriteUnit(u)
	}
}

// A publish sends a new video sequence header exactly when the parameters
// change: a new resolution, new in-band parameter sets, a source restarted
// with other parameters; a restart with the same parameters sends none.
func TestSequenceHeaderExactlyOnParameterChanges(t *testing.T) {
	c, gops := sampleGOPs(t)
	dir := t.TempDir()
	srv := &fmsim.Server{Listen: "127.0.0.1:0", Profile: fmsim.ProfileLenient, TranscriptDir: dir}
	require.NoError(t, srv.Start())
	t.Cleanup(func() { srv.Close() })
	src := &paramsSource{clip: c, gops: gops, live: make(chan struct{})}
	p := mustNew(t, Settings{Source: "builtin:sample", Target: srv.URL("live", "params")})
	r := startWithSource(t, p, src)
	testpeer.Eventually(t, 30*time.Second, "the first GOP sent", func() bool {
		return r.sig.VideoFrames.Load()+r.sig.DroppedFrames.Load() >= int64(len(videoOf(gops[0])))
	})
	close(src.live)
	want := len(videoOf(gops[0]))*2 + len(videoOf(gops[1])) + len(videoOf(gops[2])) + len(videoOf(gops[3]))
	testpeer.Eventually(t, 30*time.Second, "every video frame sent or dropped", func() bool {
		return r.sig.VideoFrames.Load()+r.sig.DroppedFrames.Load() >= int64(want) // never a header
	})
	require.NoError(t, r.stop(t))
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	require.Len(t, files, 1, "one publish session")
	entries, err := fmsim.ReadTranscript(files[0])
	require.NoError(t, err)
	var kinds []string
	for _, e := range entries {
		if e.Dir == "in" && (e.Kind == "avc_seq" || e.Kind == "aac_seq") {
			kinds = append(kinds, e.Kind)
		}
	}
	require.Equal(t, []string{"avc_seq", "aac_seq", "avc_seq", "avc_seq", "avc_seq"}, kinds,
		"headers: the start, the resolution, the in-band sets, the restart with other parameters")
}

func videoOf(units []media.Unit) []media.Unit {
	var v []media.Unit
	for _, u := range units {
		if u.Codec.IsVideo() {
			v = append(v, u)
		}
	}
	return v
}
