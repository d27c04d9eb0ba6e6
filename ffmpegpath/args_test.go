package ffmpegpath

import (
	"strings"
	"testing"
	"time"

	"github.com/fmspush/fmspush/media"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hasSeq reports whether args contains seq as consecutive elements.
func hasSeq(args, seq []string) bool {
	for i := 0; i+len(seq) <= len(args); i++ {
		match := true
		for j := range seq {
			if args[i+j] != seq[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

func index(args []string, s string) int {
	for i, a := range args {
		if a == s {
			return i
		}
	}
	return -1
}

func TestBuildArgs(t *testing.T) {
	aac := SourceInfo{Known: true, HasAudio: true, AudioCodec: "aac"}
	pcm := SourceInfo{Known: true, HasAudio: true, AudioCodec: "pcm_alaw"}
	mute := SourceInfo{Known: true}
	const target = "rtmp://127.0.0.1:1935/live/key"
	tests := []struct {
		name string
		s    Settings
		src  SourceInfo
		base time.Duration
		want [][]string
		not  []string
	}{
		{name: "sample file is read at native rate and looped",
			s:   Settings{Source: SampleSource, SampleFile: "/x/sample.flv"},
			src: aac,
			want: [][]string{{"-nostdin", "-hide_banner"}, {"-loglevel", "level+debug"}, {"-progress", "pipe:3", "-stats_period", "0.25"},
				{"-re", "-stream_loop", "-1", "-i", "/x/sample.flv"}, {"-map", "0:v:0", "-c:v", "copy"},
				{"-map", "0:a:0", "-c:a", "copy"}, {"-f", "flv", "-flvflags", "no_duration_filesize"},
				{"-rtmp_flashver", DefaultFlashVer}, {"-rw_timeout", "4000000"}},
			not: []string{"-rtsp_transport", "-output_ts_offset", "-rtmp_app", "-rtmp_playpath", "-shortest"}},
		{name: "rtsp over tcp with a socket timeout in µs, never -re",
			s:    Settings{Source: "rtsp://cam/1", StaleTimeout: 2 * time.Second},
			src:  aac,
			want: [][]string{{"-rtsp_transport", "tcp", "-timeout", "1600000", "-i", "rtsp://cam/1"}},
			not:  []string{"-re", "-stream_loop"}},
		{name: "rtmp source uses rw_timeout, not timeout (listen)",
			s:    Settings{Source: "rtmp://cam/live/a", IOTimeout: 3 * time.Second},
			src:  aac,
			want: [][]string{{"-rw_timeout", "3000000", "-i", "rtmp://cam/live/a"}},
			not:  []string{"-re", "-timeout"}},
		{name: "non-FLV audio is transcoded to AAC",
			s: Settings{Source: "rtsp://cam/1"}, src: pcm,
			want: [][]string{{"-map", "0:a:0", "-c:a", "aac"}}},
		{name: "mp3 is copied",
			s: Settings{Source: "rtsp://cam/1"}, src: SourceInfo{Known: true, HasAudio: true, AudioCodec: "mp3"},
			want: [][]string{{"-map", "0:a:0", "-c:a", "copy"}}},
		{name: "unknown source: optional audio, transcoded",
			s: Settings{Source: "rtsp://cam/1"}, src: SourceInfo{},
			want: [][]string{{"-map", "0:a:0?", "-c:a", "aac"}}},
		{name: "silent_if_missing adds anullsrc when the source is mute",
			s: Settings{Source: "rtsp://cam/1", Audio: media.AudioSilentIfMissing}, src: mute,
			want: [][]string{{"-i", "rtsp://cam/1", "-f", "lavfi", "-i", silentInput}, {"-map", "1:a:0", "-c:a", "aac"}, {"-shortest"}}},
		{name: "silent_if_missing copies existing AAC",
			s: Settings{Source: "rtsp://cam/1", Audio: media.AudioSilentIfMissing}, src: aac,
			want: [][]string{{"-map", "0:a:0", "-c:a", "copy"}},
			not:  []string{"lavfi", "-shortest"}},
		{name: "copy with a mute source pushes no audio",
			s: Settings{Source: "rtsp://cam/1"}, src: mute,
			want: [][]string{{"-an"}}, not: []string{"lavfi"}},
		{name: "silent replaces the source audio",
			s: Settings{Source: "rtsp://cam/1", Audio: media.AudioSilent}, src: aac,
			want: [][]string{{"-map", "1:a:0", "-c:a", "aac"}}, not: []string{"0:a:0"}},
		{name: "drop",
			s: Settings{Source: "rtsp://cam/1", Audio: media.AudioDrop}, src: aac,
			want: [][]string{{"-an"}}, not: []string{"0:a:0", "lavfi"}},
		{name: "base continues the target's timeline",
			s: Settings{Source: "/f.flv"}, src: aac, base: 90500 * time.Millisecond,
			want: [][]string{{"-output_ts_offset", "90.5", "-f", "flv"}}},
		{name: "bilibili shape: app and play path verbatim",
			s:    Settings{Source: "/f.flv", Target: "rtmp://h/live-bvc/?streamname=live_1_2&key=abc&schedule=rtmp"},
			src:  aac,
			want: [][]string{{"-rtmp_app", "live-bvc", "-rtmp_playpath", "?streamname=live_1_2&key=abc&schedule=rtmp"}}},
		{name: "bilibili shape without the slash",
			s:    Settings{Source: "/f.flv", Target: "rtmp://h/live-bvc?streamname=s&key=k"},
			src:  aac,
			want: [][]string{{"-rtmp_app", "live-bvc", "-rtmp_playpath", "?streamname=s&key=k"}}},
		{name: "explicit app, play path, flashVer and extra args",
			s: Settings{Source: "/f.flv", RTMPApp: "a/b", RTMPPlayPath: "k?x=1", FlashVer: "FMLE/3.0 (compatible; Lavf)",
				InputArgs: []string{"-fflags", "+genpts"}, ExtraArgs: []string{"-g", "50"}},
			src: aac,
			want: [][]string{{"-fflags", "+genpts", "-i", "/f.flv"}, {"-rtmp_app", "a/b", "-rtmp_playpath", "k?x=1"},
				{"-rtmp_flashver", "FMLE/3.0 (compatible; Lavf)"}, {"-g", "50", target}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.s.Target == "" {
				tc.s.Target = target
			}
			args := BuildArgs(tc.s.withDefaults(), tc.src, tc.base)
			for _, w := range tc.want {
				assert.True(t, hasSeq(args, w), "missing %q in\n%s", w, strings.Join(args, " "))
			}
			for _, n := range tc.not {
				assert.Less(t, index(args, n), 0, "unexpected %q in\n%s", n, strings.Join(args, " "))
			}
			assert.Equal(t, tc.s.Target, args[len(args)-1], "target is not last: %q", args)
			assert.GreaterOrEqual(t, index(args, "-c:v"), index(args, "-i"), "output options before the input: %q", args)
		})
	}
}

func TestKindOf(t *testing.T) {
	for in, want := range map[string]SourceKind{
		SampleSource: SourceFile, "/a/b.flv": SourceFile, "file:///a.mp4": SourceFile,
		"rtsp://c/1": SourceRTSP, "RTSPS://c/1": SourceRTSP, "rtmp://c/l/a": SourceRTMP,
		"http://c/a.flv": SourceNetwork, "srt://c:1": SourceNetwork,
	} {
		assert.Equal(t, want, KindOf(in), "KindOf(%q)", in)
	}
}

func TestSettingsDefaultsAndValidate(t *testing.T) {
	s := Settings{FFmpegPath: "/opt/ff/bin/ffmpeg"}.withDefaults()
	require.True(t, s.FFprobePath == "/opt/ff/bin/ffprobe" && s.StaleTimeout == 5*time.Second && s.Grace == 3*time.Second &&
		s.StartTimeout == 15*time.Second && s.IOTimeout == 4*time.Second && s.Audio == media.AudioCopy, "defaults: %+v", s)
	bad := []Settings{
		{Target: "rtmp://h/a/k"},
		{Source: SampleSource, Target: "rtmp://h/a/k"},
		{Source: "/f", Target: "http://h/a/k"},
		{Source: "/f", Target: "rtmp://h/a/k", Audio: "loud"},
	}
	for _, b := range bad {
		assert.Error(t, b.withDefaults().validate(), "validate(%+v)", b)
	}
	require.NoError(t, (Settings{Source: "/f", Target: "rtmp://h/a/secretkey"}).withDefaults().validate())
	err := Settings{Source: "/f", Target: "rtmps//h/a/secretkey"}.withDefaults().validate()
	require.Error(t, err, "validate error must exist and hide the key")
	require.NotContains(t, err.Error(), "secretkey", "validate error must exist and hide the key")
}

func TestNewDrivers(t *testing.T) {
	d, err := New(Settings{})
	require.NoError(t, err, "New exec")
	require.Equal(t, "ffmpeg", d.Kind(), "New exec")
	_, err = New(Settings{Driver: "gstreamer"})
	require.Error(t, err, "unknown driver accepted")
	d, err = New(Settings{Driver: DriverLibav})
	if LibavAvailable {
		require.NoError(t, err, "New libav")
		require.Equal(t, "ffmpeg", d.Kind(), "New libav")
	} else {
		require.ErrorContains(t, err, "built without libav", "New libav without the tag")
	}
}
