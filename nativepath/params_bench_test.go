package nativepath

import (
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/media/sample"
)

// BenchmarkHubToSessionFrame measures what every frame costs between the
// source and the publisher's socket: the hub's rebase, cache and fan-out to
// one subscriber, and the session's parameter step (no change in the sample,
// so nothing is written).
func BenchmarkHubToSessionFrame(b *testing.B) {
	c, err := sample.Clip()
	require.NoError(b, err)
	h := newHub(nil, 4<<20, hclog.NewNullLogger())
	h.SetVideo(*c.Video)
	h.SetAudio(*c.Audio)
	c.Video, c.Audio = h.params.Video, h.params.Audio
	sub := &subscription{units: make(chan media.Unit, 1)}
	h.subs[sub] = struct{}{}
	s := &session{sentVideo: c.Video, sentAudio: c.Audio, audio: true} // as start leaves it
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		u := c.Units[i%len(c.Units)]
		u.DTS += c.Span() * time.Duration(i/len(c.Units))
		h.WriteUnit(u)
		got, _ := sub.next(<-sub.units, true)
		if err := s.paramsChanged(got); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
