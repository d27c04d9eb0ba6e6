//go:build libav

package ffmpegpath

/*
#cgo pkg-config: libavutil
#include <stdarg.h>
#include <libavutil/log.h>

extern void fmspLogLine(long sink, int level, char *line);

// fmsp_sink routes libav's log lines of this thread to one push. Every push
// runs its libav calls on its own locked OS thread, so the thread tells
// whose line it is.
static __thread long fmsp_sink;
static __thread int fmsp_print_prefix = 1;

static void fmsp_set_sink(long sink) { fmsp_sink = sink; fmsp_print_prefix = 1; }

// fmsp_log formats into a bounded buffer (av_log_format_line2 truncates),
// unlike a plain vsprintf into a fixed array.
static void fmsp_log(void *avcl, int level, const char *fmt, va_list vl) {
	char line[2048];
	if (level > av_log_get_level() || fmsp_sink == 0) return;
	av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &fmsp_print_prefix);
	fmspLogLine(fmsp_sink, level, line);
}

static void fmsp_install_log(void) {
	av_log_set_level(AV_LOG_DEBUG);
	av_log_set_callback(fmsp_log);
}
*/
import "C"

import (
	"strings"
	"sync"
	"time"
)

// logSink collects one push's libav log lines; partial lines are joined.
type logSink struct {
	mu      sync.Mutex
	partial strings.Builder
	emit    func(LogLine)
}

var (
	installLog sync.Once
	sinksMu    sync.Mutex
	sinks      = map[int64]*logSink{}
	nextSink   int64
)

// libavLevels names libav's numeric levels as ffmpeg's -loglevel level+
// prefix does.
func libavLevel(l int) string {
	switch {
	case l <= 8:
		return "fatal"
	case l <= 16:
		return "error"
	case l <= 24:
		return "warning"
	case l <= 32:
		return "info"
	case l <= 40:
		return "verbose"
	}
	return "debug"
}

// registerSink installs the log callback once and returns the id of a new
// sink; bindSink must run on the thread that makes the libav calls.
func registerSink(emit func(LogLine)) int64 {
	installLog.Do(func() { C.fmsp_install_log() })
	sinksMu.Lock()
	defer sinksMu.Unlock()
	nextSink++
	sinks[nextSink] = &logSink{emit: emit}
	return nextSink
}

func unregisterSink(id int64) {
	sinksMu.Lock()
	s := sinks[id]
	delete(sinks, id)
	sinksMu.Unlock()
	if s != nil {
		s.flush()
	}
}

// bindSink routes this OS thread's libav lines to sink id (0: nowhere).
func bindSink(id int64) { C.fmsp_set_sink(C.long(id)) }

//export fmspLogLine
func fmspLogLine(id C.long, level C.int, line *C.char) {
	sinksMu.Lock()
	s := sinks[int64(id)]
	sinksMu.Unlock()
	if s != nil {
		s.write(int(level), C.GoString(line))
	}
}

// write adds text to the partial line and emits every complete one as the
// exec driver would read it from ffmpeg's stderr.
func (s *logSink) write(level int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial.WriteString(text)
	buf := s.partial.String()
	i := strings.LastIndexAny(buf, "\r\n")
	if i < 0 {
		return
	}
	s.partial.Reset()
	s.partial.WriteString(buf[i+1:])
	for _, l := range strings.FieldsFunc(buf[:i], func(r rune) bool { return r == '\r' || r == '\n' }) {
		s.emitLine(level, l)
	}
}

func (s *logSink) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rest := s.partial.String(); strings.TrimSpace(rest) != "" {
		s.emitLine(32, rest)
	}
	s.partial.Reset()
}

// emitLine parses a "[comp @ 0x..] text" line and tags it with its level.
func (s *logSink) emitLine(level int, text string) {
	l := ParseLogLine(text, time.Now())
	l.Level = libavLevel(level)
	s.emit(l)
}
