package interop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/nativepath"
	"github.com/fmspush/fmspush/rtmp"
)

// The H.265 camera of TestHEVCOnLal: libx265, 320x240 at 25 fps, a
// keyframe every second, with AAC.
const (
	hevcWidth, hevcHeight = 320, 240
	// hevcFrames is how many video frames each playback reads (4 s).
	hevcFrames = 100
)

// TestHEVCOnLal publishes an H.265 RTSP camera (the real ffmpeg's libx265
// recording into an in-process gortsplib server) through the native path
// to lal v0.37.4 in both carriages the native path has, Enhanced RTMP
// (FourCC hvc1) and the legacy codec id 12, and plays each back from lal
// two ways:
//   - RTMP, read message by message (gortmplib): the carriage lal relays to
//     a player, the sequence header's SPS (dimensions) and hevcFrames coded
//     frames;
//   - lal's RTSP server, what lal remuxed from the publish, with ffprobe
//     (ffmpeg 5.1 reads no H.265 from FLV): codec hevc, 320x240,
//     hevcFrames frames decoded.
func TestHEVCOnLal(t *testing.T) {
	t.Parallel()
	testpeer.Need(t, "ffmpeg", "ffprobe")
	cam := testpeer.StartRTSP(t, "127.0.0.1:0")
	camURL := "rtsp://" + cam.Addr() + "/cam"
	testpeer.FeedRTSPArgs(t, cam, camURL, "-re", "-f", "lavfi", "-i",
		fmt.Sprintf("testsrc2=size=%dx%d:rate=25", hevcWidth, hevcHeight), "-f", "lavfi", "-i",
		"sine=frequency=440:sample_rate=44100", "-c:v", "libx265", "-preset", "ultrafast",
		"-x265-params", "keyint=25:bframes=0:log-level=error", "-c:a", "aac")
	lal := testpeer.StartLalRTSP(t)
	for _, c := range []struct {
		name  string
		mode  media.HEVCMode
		relay string // the carriage lal relays to an RTMP player
	}{
		{"enhanced", media.HEVCEnhanced, "enhanced"},
		{"legacy", media.HEVCLegacy, "legacy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			name := "hevc-" + c.name
			what := "native path, H.265 " + c.name + ", " + lal.Name
			p, err := nativepath.New(nativepath.Settings{Source: camURL, Target: lal.PublishURL(name),
				Publish: rtmp.PublishOptions{H265: c.mode}, Logger: newLog(t, name)})
			require.NoError(t, err)
			r := startRun(t, p, what)

			pb := playRTMPHEVC(t, lal.AppURL+"/"+name, hevcFrames)
			require.Equal(t, c.relay, pb.carriage, "%s: the carriage lal relays", what)
			require.Equal(t, [2]int{hevcWidth, hevcHeight}, [2]int{pb.width, pb.height}, "%s: the SPS lal relays", what)
			require.GreaterOrEqual(t, pb.frames, hevcFrames, what)
			require.GreaterOrEqual(t, pb.keys, hevcFrames/25-1, "%s: a keyframe a second", what)
			t.Logf("%s: RTMP playback: %s carriage (%s), %dx%d, %d coded frames (%d keyframes) over %v of DTS",
				what, pb.carriage, pb.header, pb.width, pb.height, pb.frames, pb.keys, pb.span)

			pr := probeRTSP(t, lal.PlayURL(name), hevcFrames)
			require.Equal(t, "hevc", pr.codec, "%s: RTSP playback", what)
			require.Equal(t, [2]int{hevcWidth, hevcHeight}, [2]int{pr.width, pr.height}, "%s: RTSP playback", what)
			require.GreaterOrEqual(t, pr.frames, hevcFrames, "%s: frames decoded from lal's RTSP", what)
			t.Logf("%s: RTSP playback (ffprobe): %s %dx%d, %d frames decoded", what, pr.codec, pr.width, pr.height, pr.frames)

			r.running(t, what)
			r.stop(t, what)
		})
	}
}

// rtmpHEVC is what an RTMP play of an H.265 stream showed.
type rtmpHEVC struct {
	carriage      string // "enhanced" (FourCC hvc1) or "legacy" (codec id 12)
	header        string // the sequence header's message type
	width, height int    // from the sequence header's SPS
	frames, keys  int    // coded frames read
	span          time.Duration
}

// playRTMPHEVC plays url (RTMP) until it has read frames coded H.265
// frames after a sequence header, within 30 s, and reports the carriage.
func playRTMPHEVC(t *testing.T, rawURL string, frames int) rtmpHEVC {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	// gortmplib takes the stream name from the fragment.
	i := strings.LastIndex(u.Path, "/")
	u.Fragment, u.Path = u.Path[i+1:], u.Path[:i]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := &gortmplib.Client{URL: u}
	require.NoError(t, c.Initialize(ctx), "play %s", rawURL)
	defer c.Close()
	var pb rtmpHEVC
	var first, last time.Duration
	deadline := time.Now().Add(30 * time.Second)
	for pb.frames < frames {
		require.True(t, time.Now().Before(deadline), "%d of %d H.265 frames played in 30 s", pb.frames, frames)
		c.NetConn().SetReadDeadline(time.Now().Add(10 * time.Second))
		msg, err := c.Read()
		require.NoError(t, err, "read %s after %d frames", rawURL, pb.frames)
		var dts time.Duration
		var au []byte
		switch m := msg.(type) {
		case *message.VideoExSequenceStart:
			require.Equal(t, message.FourCCHEVC, m.FourCC, "enhanced sequence start")
			pb.carriage, pb.header = "enhanced", "VideoExSequenceStart hvc1"
			pb.width, pb.height = hvcCSize(t, m.HEVCConfig)
			continue
		case *message.Video:
			if m.Codec != message.CodecH265 {
				continue
			}
			if m.Type == message.VideoTypeConfig {
				pb.carriage, pb.header = "legacy", "Video codec 12 config"
				pb.width, pb.height = hvcCSize(t, m.HEVCConfig)
				continue
			}
			if m.Type != message.VideoTypeAU || pb.carriage != "legacy" {
				continue
			}
			dts, au = m.DTS, m.AU
		case *message.VideoExCodedFrames:
			if pb.carriage != "enhanced" {
				continue
			}
			dts, au = m.DTS, m.Payload
		case *message.VideoExFramesX:
			if pb.carriage != "enhanced" {
				continue
			}
			dts, au = m.DTS, m.Payload
		default:
			continue
		}
		if hasIRAP(au) {
			pb.keys++
		}
		if pb.frames == 0 {
			first = dts
		}
		last = dts
		pb.frames++
	}
	pb.span = last - first
	require.NotEmpty(t, pb.carriage, "no H.265 sequence header played")
	return pb
}

// hasIRAP reports whether an access unit in AVCC form (4-byte lengths)
// holds an IRAP picture (NAL unit types 16-23: a keyframe).
func hasIRAP(au []byte) bool {
	for len(au) >= 5 {
		n := int(au[0])<<24 | int(au[1])<<16 | int(au[2])<<8 | int(au[3])
		if typ := (au[4] >> 1) & 0x3f; typ >= 16 && typ <= 23 {
			return true
		}
		if n <= 0 || n > len(au)-4 {
			return false
		}
		au = au[4+n:]
	}
	return false
}

// hvcCSize is the picture size in an HEVC decoder configuration's SPS.
func hvcCSize(t *testing.T, c *mp4.HvcC) (int, int) {
	t.Helper()
	require.NotNil(t, c, "no HEVC decoder configuration")
	for _, a := range c.NaluArrays {
		if a.NaluType != uint8(h265.NALUType_SPS_NUT) || len(a.Nalus) == 0 {
			continue
		}
		var sps h265.SPS
		require.NoError(t, sps.Unmarshal(a.Nalus[0].NALUnit))
		return sps.Width(), sps.Height()
	}
	require.Fail(t, "no SPS in the HEVC decoder configuration")
	return 0, 0
}

// rtspProbe is ffprobe's view of an RTSP stream's video.
type rtspProbe struct {
	codec         string
	width, height int
	frames        int
}

// probeRTSP reads frames video packets of url over RTSP (TCP) with ffprobe
// -count_frames and reports the video stream.
func probeRTSP(t *testing.T, url string, frames int) rtspProbe {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
		"-read_intervals", "%+#"+strconv.Itoa(frames), "-count_frames", "-show_streams", "-of", "json", url).Output()
	require.NoError(t, err, "ffprobe %s", url)
	var doc struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
			Frames    string `json:"nb_read_frames"`
		} `json:"streams"`
	}
	require.NoError(t, json.Unmarshal(out, &doc))
	require.NotEmpty(t, doc.Streams, "no video stream in %s", url)
	s := doc.Streams[0]
	n, _ := strconv.Atoi(s.Frames)
	return rtspProbe{codec: s.CodecName, width: s.Width, height: s.Height, frames: n}
}
