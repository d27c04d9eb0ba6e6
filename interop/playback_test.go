package interop_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/internal/testpeer"
)

// Playback expectations: what a stream played back from a server must show.
const (
	// videoFPS is the frame rate of both sources (the sample and its
	// video-only copy).
	videoFPS = 25
	// minRealTime is the least share of real time the played-back frames
	// must cover (frames counted against the player's wall-clock time,
	// its connection and probing included).
	minRealTime = 0.9
	// maxStep bounds a step between two consecutive timestamps of one
	// track: a gap would show there (the loop seam is 40-71 ms).
	maxStep = 200 * time.Millisecond
	// sampleLoop is the builtin sample's length: the seam recurs this often.
	sampleLoop = 10 * time.Second
	// aacFrame is the samples per AAC frame.
	aacFrame = 1024
	// packetsPerSecond is what both sources carry: 25 video frames and
	// 44.1 kHz AAC (the sample's, ffmpeg's anullsrc and the native path's
	// silent AAC alike).
	packetsPerSecond = videoFPS + 44100.0/aacFrame
	// settle is how long after ffprobe's first packet line the real-time
	// window begins: ffprobe prints the packets it read while probing the
	// streams (and a server's cached GOP) in one burst.
	settle = time.Second
)

// playStream is one stream of the played-back media.
type playStream struct {
	codecType, codecName string
	width, height, rate  int
}

// packet is one packet played back: its DTS as the server sent it
// (ffprobe does not remux) and when ffprobe printed it, from its start.
type packet struct {
	dts, at time.Duration
}

// playback is what ffprobe read from a server's play URL: the streams it
// found and each track's packets in the order the server sent them.
type playback struct {
	url          string
	streams      []playStream
	video, audio []packet
	// wall is ffprobe's run time, from exec to exit.
	wall   time.Duration
	stderr string
	// want is the packets asked for (0: a file, read to its end).
	want int
}

// play reads name from srv for about d: the packets d of the sources holds
// (ffprobe -read_intervals %+#N, -show_packets; a count, not a time, so
// that a timestamp jump at the server shows in the packets instead of
// ending the read), and returns every packet's timestamps. Until the
// stream is there (a server refuses a play before the publish reached it)
// it tries again, for up to 20 s.
func play(t *testing.T, srv *testpeer.Server, name string, d time.Duration) *playback {
	t.Helper()
	testpeer.Need(t, "ffprobe", "stdbuf")
	deadline := time.Now().Add(20 * time.Second)
	for {
		pb, err := playOnce(srv.PlayURL(name), d)
		if err == nil {
			return pb
		}
		if len(pb.video) > 0 || time.Now().After(deadline) {
			require.Failf(t, "no playback", "play %s from %s: %v after %v and %d video packets\n%s\nserver log:\n%s", name, srv.Name, err,
				pb.wall.Round(time.Millisecond), len(pb.video), pb.stderr, tail(srv.Log.String(), 30))
		}
		time.Sleep(200 * time.Millisecond) // retry interval, not a wait for a condition
	}
}

// playOnce runs ffprobe once on url.
func playOnce(url string, d time.Duration) (*playback, error) {
	pb := &playback{url: url}
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	// stdbuf -oL: a line per packet as ffprobe reads it, for the arrival
	// times. -rtmp_live live: without it ffprobe asks getStreamLength,
	// which go2rtc does not know.
	args := []string{"-oL", "ffprobe", "-v", "error"}
	if strings.HasPrefix(url, "rtmp://") {
		pb.want = int(d.Seconds() * packetsPerSecond)
		args = append(args, "-rtmp_live", "live", "-rw_timeout", "5000000",
			"-read_intervals", fmt.Sprintf("%%+#%d", pb.want))
	}
	args = append(args, "-show_entries", "packet=codec_type,dts:stream=codec_type,codec_name,width,height,sample_rate",
		"-of", "compact", url)
	cmd := exec.CommandContext(ctx, "stdbuf", args...)
	var stderr testpeer.LogBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return pb, err
	}
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return pb, err
	}
	perr := pb.parse(out, begin)
	err = cmd.Wait()
	pb.wall = time.Since(begin)
	pb.stderr = stderr.String()
	switch {
	case err != nil:
		return pb, err
	case perr != nil:
		return pb, perr
	case len(pb.video) == 0:
		return pb, fmt.Errorf("no video packet")
	}
	return pb, nil
}

// parse reads ffprobe's compact output: "packet|codec_type=video|dts=40"
// and, at the end, "stream|codec_name=h264|codec_type=video|width=640|...".
func (pb *playback) parse(r io.Reader, begin time.Time) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		at := time.Since(begin)
		section, rest, _ := strings.Cut(sc.Text(), "|")
		kv := map[string]string{}
		for _, f := range strings.Split(rest, "|") {
			k, v, _ := strings.Cut(f, "=")
			kv[k] = v
		}
		switch section {
		case "packet":
			dts, err := strconv.ParseInt(kv["dts"], 10, 64)
			if err != nil {
				continue // N/A
			}
			p := packet{dts: time.Duration(dts) * time.Millisecond, at: at} // FLV's time base is 1/1000
			switch kv["codec_type"] {
			case "video":
				pb.video = append(pb.video, p)
			case "audio":
				pb.audio = append(pb.audio, p)
			}
		case "stream":
			w, _ := strconv.Atoi(kv["width"])
			h, _ := strconv.Atoi(kv["height"])
			rate, _ := strconv.Atoi(kv["sample_rate"])
			pb.streams = append(pb.streams, playStream{codecType: kv["codec_type"], codecName: kv["codec_name"],
				width: w, height: h, rate: rate})
		}
	}
	return sc.Err()
}

// stream returns the first stream of a kind, or nil.
func (pb *playback) stream(kind string) *playStream {
	for i := range pb.streams {
		if pb.streams[i].codecType == kind {
			return &pb.streams[i]
		}
	}
	return nil
}

// track is what one track's packets show.
type track struct {
	frames   int
	span     time.Duration // last DTS - first DTS
	maxStep  time.Duration
	backward int    // steps that go back
	repeats  int    // steps that repeat a DTS
	firstBad string // the first backward or repeating step
	// odd counts the steps other than the nominal ones (ms → count): the
	// loop seam shows there.
	odd map[int64]int
	// window is the real-time window (settle after the first packet line
	// to the last); inWindow the packets printed in it and windowSpan the
	// DTS they advance.
	window, windowSpan time.Duration
	inWindow           int
}

// analyse measures a track; steps within [low, high] are nominal. The
// real-time window runs from first+settle to last (both arrival times, over
// every track).
func analyse(ps []packet, low, high, first, last time.Duration) track {
	tr := track{frames: len(ps), odd: map[int64]int{}}
	if len(ps) == 0 {
		return tr
	}
	tr.span = ps[len(ps)-1].dts - ps[0].dts
	tr.window = last - (first + settle)
	var from *packet
	for i := range ps {
		if ps[i].at > first+settle {
			if from == nil {
				from = &ps[i]
			}
			tr.inWindow++
			tr.windowSpan = ps[i].dts - from.dts
		}
		if i == 0 {
			continue
		}
		step := ps[i].dts - ps[i-1].dts
		switch {
		case step < 0:
			tr.backward++
		case step == 0:
			tr.repeats++
		}
		if step <= 0 && tr.firstBad == "" {
			tr.firstBad = fmt.Sprintf("packet %d: %v → %v", i, ps[i-1].dts, ps[i].dts)
		}
		tr.maxStep = max(tr.maxStep, step)
		if step < low || step > high {
			tr.odd[step.Milliseconds()]++
		}
	}
	return tr
}

// oddSteps renders the odd steps, e.g. "71ms×5 39ms×1".
func (tr track) oddSteps() string {
	if len(tr.odd) == 0 {
		return "none"
	}
	keys := make([]int64, 0, len(tr.odd))
	for k := range tr.odd {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return tr.odd[keys[i]] > tr.odd[keys[j]] || (tr.odd[keys[i]] == tr.odd[keys[j]] && keys[i] > keys[j])
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%dms×%d", k, tr.odd[k]))
	}
	return strings.Join(parts, " ")
}

// verdict is the checked playback, in figures, for the report line.
type verdict struct {
	video, audio track
	// realTime is the video frames printed in the real-time window over
	// those real time gives (25 fps); audioRealTime the same for audio.
	realTime, audioRealTime float64
}

// checks say what a server is allowed in its playback.
type checks struct {
	// audioRepeats allows audio DTS that repeat (never that go back):
	// go2rtc re-times audio through RTP clock units and prints several AAC
	// frames with one millisecond timestamp.
	audioRepeats bool
	// rebases: the server starts each player's timestamps at 0 (go2rtc),
	// so the publisher's timeline does not show in its playback.
	rebases bool
	// playable, when set, is how long after a publish began the server's
	// RTMP playback of it keeps sound timestamps: go2rtc's breaks 42-48 s
	// into a publish, whoever publishes (TestGo2RTCPlaybackTimestampsBreak).
	// Playback stops short of it; the publish goes on.
	playable time.Duration
}

// playSpan is how long to play a publish that began at began, when d is
// wanted: d, or what is left of c.playable (at least 5 s).
func playSpan(t *testing.T, d time.Duration, began time.Time, c checks) time.Duration {
	t.Helper()
	if c.playable == 0 {
		return d
	}
	// The player's probing (up to 5 s) comes on top of the span.
	left := c.playable - time.Since(began) - 5*time.Second
	require.GreaterOrEqual(t, left, 5*time.Second, "no playable time left")
	return min(d, left)
}

// check requires what every scenario must show from the server: H.264
// 640x360 and AAC; on both tracks, frames printed at least at minRealTime of
// real time (in the window from settle after the first packet line to the
// last); DTS increasing on each track (audio only non-decreasing with
// c.audioRepeats) with no step over maxStep; and, for d long enough, at
// least one loop seam of the sample in the playback. It logs the figures.
func (pb *playback) check(t *testing.T, what string, d time.Duration, c checks) verdict {
	t.Helper()
	v, a := pb.stream("video"), pb.stream("audio")
	require.NotNil(t, v, "%s: no video stream played back", what)
	require.Equal(t, "h264", v.codecName, "%s: video codec", what)
	require.Equal(t, 640, v.width, "%s: width", what)
	require.Equal(t, 360, v.height, "%s: height", what)
	require.NotNil(t, a, "%s: no audio stream played back", what)
	require.Equal(t, "aac", a.codecName, "%s: audio codec", what)
	require.Positive(t, a.rate, "%s: audio sample rate", what)

	first, last := pb.video[0].at, pb.video[len(pb.video)-1].at
	if len(pb.audio) > 0 {
		first, last = min(first, pb.audio[0].at), max(last, pb.audio[len(pb.audio)-1].at)
	}
	audioStep := time.Duration(aacFrame) * time.Second / time.Duration(a.rate)
	res := verdict{
		video: analyse(pb.video, 39*time.Millisecond, 41*time.Millisecond, first, last),
		// FLV timestamps are whole milliseconds: 23.2 ms steps are 23 or 24.
		audio: analyse(pb.audio, audioStep.Truncate(time.Millisecond), audioStep.Truncate(time.Millisecond)+time.Millisecond, first, last),
	}
	window := res.video.window.Seconds()
	require.Greater(t, window, 2.0, "%s: packets printed over %v only", what, last-first)
	res.realTime = float64(res.video.inWindow) / (videoFPS * window)
	res.audioRealTime = float64(res.audio.inWindow) * audioStep.Seconds() / window
	t.Logf("%s: played %v for %.1fs (first packet line after %.1fs): "+
		"video %d frames, DTS %v to %v, %.0f%% of real time in the last %.1fs (DTS advanced %v), max step %v, odd steps %s; "+
		"audio %d Hz, %d frames, %.0f%% of real time, max step %v, odd steps %s, repeated DTS %d",
		what, pb.url, pb.wall.Seconds(), first.Seconds(),
		res.video.frames, pb.video[0].dts, pb.video[len(pb.video)-1].dts, 100*res.realTime, window, res.video.windowSpan, res.video.maxStep, res.video.oddSteps(),
		a.rate, res.audio.frames, 100*res.audioRealTime, res.audio.maxStep, res.audio.oddSteps(), res.audio.repeats)

	require.Zero(t, res.video.backward+res.video.repeats, "%s: video DTS not increasing (%s)", what, res.video.firstBad)
	require.Zero(t, res.audio.backward, "%s: audio DTS going back (%s)", what, res.audio.firstBad)
	if !c.audioRepeats {
		require.Zero(t, res.audio.repeats, "%s: audio DTS repeated (%s)", what, res.audio.firstBad)
	}
	require.LessOrEqual(t, res.video.maxStep, maxStep, "%s: a gap in the video", what)
	require.LessOrEqual(t, res.audio.maxStep, maxStep, "%s: a gap in the audio", what)
	require.GreaterOrEqual(t, res.realTime, minRealTime, "%s: %d video frames in %.1fs", what, res.video.inWindow, window)
	require.GreaterOrEqual(t, res.audioRealTime, minRealTime, "%s: %d audio frames in %.1fs", what, res.audio.inWindow, window)
	require.GreaterOrEqual(t, len(pb.video)+len(pb.audio), pb.want,
		"%s: the playback ended early (ffprobe read %d video and %d audio packets for %v)", what, len(pb.video), len(pb.audio), d)
	if d > sampleLoop+2*time.Second {
		require.Greater(t, res.video.span, sampleLoop, "%s: the playback spans no loop seam", what)
	}
	return res
}

// checkRecording requires of what a server recorded of a publish (nginx-rtmp
// records what it received, as it received it) what check requires of a
// playback, real time aside: H.264 640x360 and AAC, DTS increasing on
// each track with no step over maxStep, and at least minRealTime of d in
// video frames. It logs the figures.
func checkRecording(t *testing.T, what, file string, d time.Duration) {
	t.Helper()
	pb, err := playOnce(file, 0)
	require.NoError(t, err, "%s: ffprobe of the recording: %s", what, pb.stderr)
	v, a := pb.stream("video"), pb.stream("audio")
	require.NotNil(t, v, "%s: no video recorded", what)
	require.Equal(t, "h264", v.codecName)
	require.Equal(t, 640, v.width)
	require.Equal(t, 360, v.height)
	require.NotNil(t, a, "%s: no audio recorded", what)
	require.Equal(t, "aac", a.codecName)
	audioStep := (time.Duration(aacFrame) * time.Second / time.Duration(a.rate)).Truncate(time.Millisecond)
	vt := analyse(pb.video, 39*time.Millisecond, 41*time.Millisecond, 0, 0)
	at := analyse(pb.audio, audioStep, audioStep+time.Millisecond, 0, 0)
	t.Logf("%s: the server recorded video %d frames, DTS %v to %v, max step %v, odd steps %s; audio %d frames, max step %v, odd steps %s",
		what, vt.frames, pb.video[0].dts, pb.video[len(pb.video)-1].dts, vt.maxStep, vt.oddSteps(), at.frames, at.maxStep, at.oddSteps())
	require.Zero(t, vt.backward+vt.repeats, "%s: recorded video DTS not increasing (%s)", what, vt.firstBad)
	require.Zero(t, at.backward+at.repeats, "%s: recorded audio DTS not increasing (%s)", what, at.firstBad)
	require.LessOrEqual(t, vt.maxStep, maxStep, "%s: a gap in the recorded video", what)
	require.LessOrEqual(t, at.maxStep, maxStep, "%s: a gap in the recorded audio", what)
	require.GreaterOrEqual(t, float64(vt.frames), minRealTime*videoFPS*d.Seconds(), "%s: recorded video frames", what)
}

// tail returns the last n lines of text.
func tail(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
