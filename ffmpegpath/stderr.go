package ffmpegpath

import (
	"bufio"
	"bytes"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/redact"
)

// LogLine is one line of ffmpeg's stderr, as written with -loglevel
// level+...: "[rtmp @ 0x55..] [error] Server error: Already publishing".
type LogLine struct {
	At        time.Time // when the line was read
	Component string    // "rtmp", "tcp", "flv", ...; "" for ffmpeg itself
	Level     string    // "error", "warning", "info", "verbose", "debug", ...; "" when untagged
	Msg       string    // the text after the tags, raw (not redacted)
}

var ffLevels = map[string]hclog.Level{
	"panic": hclog.Error, "fatal": hclog.Error, "error": hclog.Error,
	"warning": hclog.Warn, "info": hclog.Info, "verbose": hclog.Debug,
	"debug": hclog.Trace, "trace": hclog.Trace,
}

// ParseLogLine splits a stderr line into component, level and message.
func ParseLogLine(s string, at time.Time) LogLine {
	l := LogLine{At: at}
	if strings.HasPrefix(s, "[") {
		if tag, rest, ok := strings.Cut(s[1:], "] "); ok && strings.Contains(tag, " @ ") {
			l.Component, _, _ = strings.Cut(tag, " @ ")
			s = rest
		}
	}
	if strings.HasPrefix(s, "[") {
		if tag, rest, ok := strings.Cut(s[1:], "] "); ok {
			if _, known := ffLevels[tag]; known {
				l.Level, s = tag, rest
			}
		}
	}
	l.Msg = strings.TrimRight(s, " \t")
	return l
}

// HclogLevel maps ffmpeg's level to hclog's: error/fatal/panic to Error,
// warning to Warn, info to Info, verbose to Debug, debug and trace to Trace.
// Untagged lines are Info.
func (l LogLine) HclogLevel() hclog.Level {
	if lv, ok := ffLevels[l.Level]; ok {
		return lv
	}
	return hclog.Info
}

// IsError reports whether the line is at error level or worse.
func (l LogLine) IsError() bool { return l.HclogLevel() == hclog.Error }

// splitCRLF is a bufio.SplitFunc that ends lines at '\r' or '\n' and drops
// empty lines.
func splitCRLF(data []byte, atEOF bool) (int, []byte, error) {
	start := 0
	for start < len(data) && (data[start] == '\r' || data[start] == '\n') {
		start++
	}
	if i := bytes.IndexAny(data[start:], "\r\n"); i >= 0 {
		return start + i + 1, data[start : start+i], nil
	}
	if atEOF && start < len(data) {
		return len(data), data[start:], nil
	}
	return start, nil, nil
}

// ReadLines splits r on '\r' and '\n' and sends every non-empty line with
// the time it was read. It returns at EOF and never stops reading early: a
// line longer than 256 KiB is cut, the scan goes on after it.
func ReadLines(r io.Reader, out chan<- LogLine) {
	for {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 16*1024), 256*1024)
		sc.Split(splitCRLF)
		for sc.Scan() {
			out <- ParseLogLine(sc.Text(), time.Now())
		}
		if sc.Err() != bufio.ErrTooLong {
			break
		}
	}
	io.Copy(io.Discard, r)
}

// Redactor hides one stream's secrets in ffmpeg's text: every URL and
// well-known key=value, plus the literal stream name, query values and
// passwords of the source and target (redact.Secrets, shared with the native
// path), which ffmpeg's debug lines print outside URLs ("fname = KEY",
// "publish command for 'KEY'") and servers echo in their own words ("KEY is
// already publishing"). On top of that it masks the shapes only ffmpeg
// prints: quoted names, the Proto line's fields and auth headers, so that a
// stream name shorter than redact.MinSecret is still hidden there.
type Redactor struct {
	secrets *redact.Secrets
}

var (
	quotedName  = regexp.MustCompile(`(command for|Unexpected stream|expecting) '[^']*'`)
	protoFields = regexp.MustCompile(`\b(path|fname) = [^,]*`)
	authHeader  = regexp.MustCompile(`(?i)\b((?:proxy-)?authorization:\s*)\S.*`)
)

// NewRedactor builds the redactor for a source and target (and an explicit
// play path, if any).
func NewRedactor(source, target, playPath string) *Redactor {
	return &Redactor{secrets: redact.NewSecrets(source, target, playPath)}
}

// Text redacts one line or sentence.
func (r *Redactor) Text(s string) string {
	s = quotedName.ReplaceAllString(s, "$1 '"+redact.Mask+"'")
	s = protoFields.ReplaceAllString(s, "$1 = "+redact.Mask)
	s = authHeader.ReplaceAllString(s, "${1}"+redact.Mask)
	return r.secrets.Text(s)
}

// logLine sends a line to the logger, redacted.
func logLine(log hclog.Logger, r *Redactor, l LogLine) {
	text := r.Text(l.Msg)
	lv := l.HclogLevel()
	if l.Component != "" {
		text = l.Component + ": " + text
	}
	log.Log(lv, text)
}
