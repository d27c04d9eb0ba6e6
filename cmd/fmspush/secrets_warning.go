package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/redact"
)

// ffmpegArgvSecrets names the secrets the ffmpeg path's exec driver puts on
// ffmpeg's command line for st, where every local user reads them (ps,
// /proc/PID/cmdline). ffmpeg 5.1 takes its input and output URLs from argv
// only (docs/triage.md, "Secrets on ffmpeg's command line"). It names them,
// never quotes them.
func ffmpegArgvSecrets(st config.Stream) []string {
	if !st.Enabled || st.FFmpeg.Driver != config.DriverExec {
		return nil
	}
	var what []string
	// The target as written: an emulator:// name is no platform key, but
	// its query values are treated as secrets like any other.
	body, query, _ := strings.Cut(st.TargetSpec, "?")
	if len(redact.URLSecrets(body, true)) > 0 || st.RTMP.PlayPath != "" {
		what = append(what, "the stream key")
	}
	if query != "" || st.Auth != nil || strings.Contains(st.RTMP.App, "?") || strings.Contains(st.RTMP.PlayPath, "?") {
		what = append(what, "the target's auth query")
	}
	if u, err := url.Parse(st.Source); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			what = append(what, "the camera's password")
		}
	}
	if _, q, ok := strings.Cut(st.Source, "?"); ok && q != "" && st.SourceKind != config.SourceFile {
		what = append(what, "the source URL's query")
	}
	return slices.Compact(what)
}

// warnArgvSecrets logs, for each named stream (started or restarted by this
// config), what its ffmpeg path would show on ffmpeg's command line.
func (s *service) warnArgvSecrets(cfg *config.Config, names []string) {
	for _, name := range names {
		st, ok := cfg.Stream(name)
		if !ok {
			continue
		}
		what := ffmpegArgvSecrets(st)
		if len(what) == 0 {
			continue
		}
		s.log.Warn(fmt.Sprintf("stream %s: the ffmpeg path passes %s on ffmpeg's command line, visible to local users in ps; "+
			"use the libav driver (ffmpeg { driver = \"libav\" }), run the service as a dedicated user and mount /proc with hidepid=2",
			name, joinAnd(what)))
	}
}

func joinAnd(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
