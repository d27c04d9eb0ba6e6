package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/fmspush/fmspush/internal/rawio"
	"github.com/fmspush/fmspush/internal/wake"
	"github.com/fmspush/fmspush/nativepath/source"
)

// FLVBurst is what a paced writer sends at one instant: a coded video frame's
// tag and the audio tags up to the next one, as they are in the file (FLV
// tag headers, bodies and back-pointers; the sequence headers and what
// comes before the first frame are left out).
type FLVBurst struct {
	At    time.Duration // the video tag's timestamp, from the file's first
	Bytes []byte
}

// FLVLoop is an FLV file cut into bursts, to be looped.
type FLVLoop struct {
	Bursts      []FLVBurst
	Period      time.Duration // one pass: the video's span plus one frame
	VideoFrames int           // per pass
}

// FramesPerSecond is the video frame rate of the looped file: what every
// frame at real time is.
func (l FLVLoop) FramesPerSecond() float64 {
	return float64(l.VideoFrames) / l.Period.Seconds()
}

// ReadFLVLoop reads an FLV file's tags into bursts.
func ReadFLVLoop(path string) (FLVLoop, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return FLVLoop{}, err
	}
	if len(b) < 13 || string(b[:3]) != "FLV" {
		return FLVLoop{}, fmt.Errorf("%s: not FLV", path)
	}
	var l FLVLoop
	var first, last, prev time.Duration = -1, 0, 0
	pos := int(binary.BigEndian.Uint32(b[5:9])) + 4
	var cur *FLVBurst
	for pos+11 <= len(b) {
		typ := b[pos] & 0x1f
		size := int(b[pos+1])<<16 | int(b[pos+2])<<8 | int(b[pos+3])
		ts := time.Duration(uint32(b[pos+4])<<16|uint32(b[pos+5])<<8|uint32(b[pos+6])|uint32(b[pos+7])<<24) * time.Millisecond
		end := pos + 11 + size + 4
		if end > len(b) {
			break
		}
		if typ == 9 && size >= 2 && b[pos+12] == 1 { // a coded frame, not a sequence header
			if first < 0 {
				first = ts
			}
			if l.VideoFrames > 0 {
				prev = ts - last
			}
			last = ts
			l.VideoFrames++
			l.Bursts = append(l.Bursts, FLVBurst{At: ts - first})
			cur = &l.Bursts[len(l.Bursts)-1]
		}
		if cur != nil && (typ != 9 || b[pos+12] == 1) {
			cur.Bytes = append(cur.Bytes, b[pos:end]...)
		}
		pos = end
	}
	if l.VideoFrames < 2 {
		return FLVLoop{}, errors.New("floor: the file needs video")
	}
	l.Period = last - first + prev
	return l, nil
}

// RunFloor is the physical reference: the bytes of the file's tags written
// at real time to addr (a raw TCP port that discards), on n connections,
// by one goroutine paced as the service paces a looped clip
// (source.ClipGrid: it wakes on the 100 ms grid of the process's clock and
// writes every burst due by then in one write to each connection): only
// the socket writes and the pacing, with the cheapest means the native
// path uses (the process's timerfd clock, raw write(2) calls; run it with
// GOMAXPROCS=1). It returns when ctx ends.
func RunFloor(ctx context.Context, addr string, l FLVLoop, n int) error {
	conns := make([]syscall.RawConn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if conns[i], err = c.(*net.TCPConn).SyscallConn(); err != nil {
			return err
		}
	}
	var (
		clock   wake.Sleeper
		pending []byte
		due     time.Time
	)
	start := time.Now()
	for pass := time.Duration(0); ; pass++ {
		for _, b := range l.Bursts {
			at := wake.Align(start.Add(pass*l.Period+b.At), source.ClipGrid)
			if len(pending) > 0 && at.After(due) {
				for _, c := range conns {
					if _, err := rawio.Write(c, pending); err != nil {
						return err
					}
				}
				pending = pending[:0]
			}
			if len(pending) == 0 {
				due = at
				if err := clock.Until(ctx, due); err != nil {
					return nil // ctx ended
				}
			}
			pending = append(pending, b.Bytes...)
		}
	}
}
