package ffmpegpath

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fmspush/fmspush/media"
)

// SourceInfo is what is known about the source before ffmpeg starts. With
// Known false (the probe failed or was skipped) the command line takes the
// conservative choices: audio mapped if present and transcoded to AAC.
type SourceInfo struct {
	Known      bool
	HasAudio   bool
	AudioCodec string // ffprobe's codec_name: "aac", "mp3", "pcm_alaw", ...
}

// flvAudio reports whether an audio codec can be copied into FLV as the
// targets expect it.
func flvAudio(codec string) bool { return codec == "aac" || codec == "mp3" }

// silentInput is the lavfi source of the silent AAC track.
const silentInput = "anullsrc=r=44100:cl=stereo"

// BuildArgs returns ffmpeg's arguments (without the program name) for one
// push straight to the target. s must have its defaults applied; base is
// where the target's timeline continues (-output_ts_offset). Progress goes
// to fd 3.
func BuildArgs(s Settings, src SourceInfo, base time.Duration) []string {
	return buildArgs(s, src, base, output{url: s.Target}, false)
}

// output is where ffmpeg publishes: the target itself, or the tap relay's
// local URL (relayed), with the tcUrl the server must see.
type output struct {
	url     string // the URL ffmpeg is given
	tcURL   string // -rtmp_tcurl, when relayed
	relayed bool   // through the tap relay: a plain rtmp:// hop, TLS done by the relay
}

// buildArgs is BuildArgs publishing to out, reading the feed on stdin when
// fed (the source's own input options then do not apply).
func buildArgs(s Settings, src SourceInfo, base time.Duration, out output, fed bool) []string {
	args := []string{"-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+debug",
		"-progress", "pipe:3", "-stats_period", seconds(s.ProgressPeriod)}
	if fed {
		args = append(args, feedInput...)
	} else {
		args = append(args, inputArgs(s)...)
	}
	audio := audioArgs(s.Audio, src)
	if audio.silent {
		args = append(args, "-f", "lavfi", "-i", silentInput)
	}
	args = append(args, "-map", "0:v:0", "-c:v", "copy")
	args = append(args, audio.args...)
	return append(args, outputArgs(s, base, out)...)
}

// inputArgs are the options and -i for the source.
func inputArgs(s Settings) []string {
	var a []string
	src := s.Source
	switch KindOf(src) {
	case SourceFile:
		if src == SampleSource {
			src = s.SampleFile
		}
		a = append(a, "-re", "-stream_loop", "-1")
	case SourceRTSP:
		a = append(a, "-rtsp_transport", "tcp", "-timeout", micros(s.IOTimeout))
	case SourceRTMP, SourceNetwork:
		a = append(a, "-rw_timeout", micros(s.IOTimeout))
	}
	a = append(a, s.InputArgs...)
	return append(a, "-i", src)
}

type audioPlan struct {
	silent bool // add the anullsrc input as input 1
	args   []string
}

// audioArgs maps the audio policy and what is known of the source to
// ffmpeg's audio options.
func audioArgs(p media.AudioPolicy, src SourceInfo) audioPlan {
	silent := audioPlan{silent: true, args: []string{"-map", "1:a:0", "-c:a", "aac", "-b:a", "64k", "-shortest"}}
	switch {
	case p == media.AudioDrop:
		return audioPlan{args: []string{"-an"}}
	case p == media.AudioSilent:
		return silent
	case !src.Known:
		return audioPlan{args: []string{"-map", "0:a:0?", "-c:a", "aac", "-b:a", "128k"}}
	case !src.HasAudio && p == media.AudioSilentIfMissing:
		return silent
	case !src.HasAudio:
		return audioPlan{args: []string{"-an"}}
	case flvAudio(src.AudioCodec):
		return audioPlan{args: []string{"-map", "0:a:0", "-c:a", "copy"}}
	}
	return audioPlan{args: []string{"-map", "0:a:0", "-c:a", "aac", "-b:a", "128k"}}
}

// outputArgs are the muxer and rtmp options and the output URL.
func outputArgs(s Settings, base time.Duration, out output) []string {
	var a []string
	if base > 0 {
		a = append(a, "-output_ts_offset", seconds(base))
	}
	a = append(a, "-f", "flv", "-flvflags", "no_duration_filesize",
		"-rtmp_flashver", s.FlashVer, "-rw_timeout", micros(s.IOTimeout))
	app, play := s.RTMPApp, s.RTMPPlayPath
	if app == "" && play == "" {
		app, play = splitBilibili(s.Target)
	}
	if app != "" {
		a = append(a, "-rtmp_app", app)
	}
	if play != "" {
		a = append(a, "-rtmp_playpath", play)
	}
	if out.relayed {
		// The relay speaks TLS to the server (relayTLS applies the tls
		// options of ExtraArgs); ffmpeg's hop to it is plain rtmp, where
		// ffmpeg refuses tls options. The server sees the real tcUrl.
		a = append(a, "-rtmp_tcurl", out.tcURL)
		a = append(a, withoutOptions(s.ExtraArgs, relayedTLSOptions)...)
		return append(a, out.url)
	}
	if isRTMPS(s.Target) {
		// ffmpeg 5.1's tls protocol verifies nothing by default; the native
		// path always verifies. ExtraArgs come after: "-tls_verify 0" there
		// turns it off, TLSArgs there name the CA file and the server name.
		a = append(a, "-tls_verify", "1")
	}
	a = append(a, s.ExtraArgs...)
	return append(a, out.url)
}

// relayedTLSOptions are the tls protocol options (each with a value) the
// relay applies itself (relayTLS) and ffmpeg's plain hop to it must not get.
var relayedTLSOptions = []string{"tls_verify", "ca_file", "verifyhost"}

// withoutOptions returns args without the options named (each "-name
// value").
func withoutOptions(args, names []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if i+1 < len(args) && slices.Contains(names, strings.TrimPrefix(args[i], "-")) && strings.HasPrefix(args[i], "-") {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// rtmpApp is the -rtmp_app ffmpeg is given, "" if none: the last one of
// ExtraArgs (ffmpeg keeps the last), else the settings' (or the one
// derived from a Bilibili-shaped target).
func rtmpApp(s Settings) string {
	for i := len(s.ExtraArgs) - 2; i >= 0; i-- {
		if s.ExtraArgs[i] == "-rtmp_app" {
			return s.ExtraArgs[i+1]
		}
	}
	app, play := s.RTMPApp, s.RTMPPlayPath
	if app == "" && play == "" {
		app, _ = splitBilibili(s.Target)
	}
	return app
}

// isRTMPS reports whether target is an rtmps:// URL.
func isRTMPS(target string) bool {
	return len(target) >= 8 && strings.EqualFold(target[:8], "rtmps://")
}

// TLSArgs are the ffmpeg output options (for Settings.ExtraArgs) of an
// rtmps:// target's rtmp.tls block, for ffmpeg 5.1's tls protocol under
// rtmps: -ca_file, the PEM file of the trusted authorities (else the
// system's); -verifyhost, the name the certificate must be valid for, also
// sent as SNI (else the URL's host). BuildArgs turns verification on
// (-tls_verify 1) for every rtmps:// target. Empty values add nothing.
func TLSArgs(caFile, serverName string) []string {
	var a []string
	if caFile != "" {
		a = append(a, "-ca_file", caFile)
	}
	if serverName != "" {
		a = append(a, "-verifyhost", serverName)
	}
	return a
}

// splitBilibili returns the app and play path of a target whose stream name
// is a query ("rtmp://host/app/?streamname=..&key=.." or
// "rtmp://host/app?streamname=.."), verbatim; otherwise two empty strings and
// ffmpeg parses the URL itself.
func splitBilibili(target string) (app, play string) {
	_, rest, ok := strings.Cut(target, "://")
	if !ok {
		return "", ""
	}
	_, path, ok := strings.Cut(rest, "/")
	if !ok {
		return "", ""
	}
	if a, q, ok := strings.Cut(path, "/?"); ok && !strings.Contains(a, "?") {
		return a, "?" + q
	}
	if a, q, ok := strings.Cut(path, "?"); ok && !strings.Contains(a, "/") {
		return a, "?" + q
	}
	return "", ""
}

// seconds renders d as ffmpeg's decimal seconds.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// micros renders d in microseconds, as ffmpeg's timeout options take it.
func micros(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) }

// tlsOptions are the tls protocol options of an rtmps:// target for
// drivers that take no command line (libav), as name=value pairs:
// tls_verify=1, then -tls_verify, -ca_file and -verifyhost as ExtraArgs
// give them (TLSArgs; a later one replaces an earlier one, as on ffmpeg's
// command line). nil for any other target.
func tlsOptions(s Settings) []string {
	if !isRTMPS(s.Target) {
		return nil
	}
	vals := map[string]string{"tls_verify": "1"}
	order := []string{"tls_verify"}
	for i := 0; i+1 < len(s.ExtraArgs); i++ {
		name := strings.TrimPrefix(s.ExtraArgs[i], "-")
		if name != "tls_verify" && name != "ca_file" && name != "verifyhost" {
			continue
		}
		if _, seen := vals[name]; !seen {
			order = append(order, name)
		}
		vals[name] = s.ExtraArgs[i+1]
		i++
	}
	out := make([]string, len(order))
	for i, n := range order {
		out[i] = n + "=" + vals[n]
	}
	return out
}
