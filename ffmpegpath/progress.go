package ffmpegpath

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"
)

// Progress is one block of ffmpeg's -progress output.
type Progress struct {
	Frame     int64         // video frames written so far
	FPS       float64       // current frame rate
	Bitrate   float64       // kbit/s; zero when ffmpeg reports N/A
	TotalSize int64         // bytes written to the output so far
	OutTime   time.Duration // output timestamp reached (without -output_ts_offset)
	Speed     float64       // media time per wall time; zero when N/A
	DropFrame int64         // frames dropped
	DupFrame  int64         // frames duplicated
	End       bool          // progress=end: ffmpeg's last report
}

// ProgressParser assembles -progress key=value lines into blocks. The zero
// value is ready; it is not safe for concurrent use.
type ProgressParser struct {
	cur    Progress
	haveUS bool // out_time_us seen in this block (wins over out_time_ms)
}

// Line feeds one line. It returns the block and true when the line ends a
// block ("progress=continue" or "progress=end"). Unknown keys and malformed
// values are ignored; a malformed value keeps the previous block's value.
func (p *ProgressParser) Line(line string) (Progress, bool) {
	key, val, ok := strings.Cut(strings.TrimSpace(line), "=")
	if !ok {
		return Progress{}, false
	}
	val = strings.TrimSpace(val)
	switch key {
	case "frame":
		p.cur.Frame = parseInt(val, p.cur.Frame)
	case "fps":
		p.cur.FPS = parseFloat(val, p.cur.FPS)
	case "bitrate":
		p.cur.Bitrate = parseFloat(strings.TrimSuffix(val, "kbits/s"), 0)
	case "total_size":
		p.cur.TotalSize = parseInt(val, p.cur.TotalSize)
	case "out_time_us":
		p.cur.OutTime = parseMicros(val, p.cur.OutTime)
		p.haveUS = true
	case "out_time_ms":
		// ffmpeg writes microseconds under this key too (a historical bug);
		// it is only a fallback when out_time_us is missing.
		if !p.haveUS {
			p.cur.OutTime = parseMicros(val, p.cur.OutTime)
		}
	case "speed":
		p.cur.Speed = parseFloat(strings.TrimSuffix(val, "x"), 0)
	case "drop_frames":
		p.cur.DropFrame = parseInt(val, p.cur.DropFrame)
	case "dup_frames":
		p.cur.DupFrame = parseInt(val, p.cur.DupFrame)
	case "progress":
		return p.finish(val == "end"), true
	}
	return Progress{}, false
}

// finish closes the current block; the next block starts from its values so
// that a key missing from a block keeps its last value.
func (p *ProgressParser) finish(end bool) Progress {
	b := p.cur
	b.End = end
	p.haveUS = false
	p.cur.End = false
	return b
}

// ReadProgress parses r until EOF, sending each block to out. It closes
// nothing; it returns when r ends. It never stops reading early, so that
// ffmpeg can never block on a full progress pipe.
func ReadProgress(r io.Reader, out chan<- Progress) {
	var p ProgressParser
	for {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 4096), 64*1024)
		for sc.Scan() {
			if b, ok := p.Line(sc.Text()); ok {
				out <- b
			}
		}
		if sc.Err() != bufio.ErrTooLong { // an overlong line is skipped
			break
		}
	}
	io.Copy(io.Discard, r)
}

func parseInt(s string, keep int64) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return keep
	}
	return n
}

// parseMicros parses a count of microseconds that fits a time.Duration.
func parseMicros(s string, keep time.Duration) time.Duration {
	n := parseInt(s, -1)
	if n < 0 || n > int64(time.Duration(1<<62)/time.Microsecond) {
		return keep
	}
	return time.Duration(n) * time.Microsecond
}

func parseFloat(s string, keep float64) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f != f || f < 0 || f > 1e12 {
		return keep
	}
	return f
}
