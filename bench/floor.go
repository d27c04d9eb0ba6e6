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
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/fmspush/fmspush/internal/rawio"
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
// by one goroutine that wakes once per video frame and writes that frame's
// burst to every connection: only the socket writes and the pacing, with
// the cheapest means the native path uses (a timerfd read in the netpoller,
// raw write(2) calls; run it with GOMAXPROCS=1). It returns when ctx ends.
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
	clock, err := newFloorClock()
	if err != nil {
		return err
	}
	defer clock.close()
	stop := context.AfterFunc(ctx, clock.close)
	defer stop()
	start := time.Now()
	for pass := time.Duration(0); ; pass++ {
		for _, b := range l.Bursts {
			if err := clock.sleepUntil(start.Add(pass*l.Period + b.At)); err != nil {
				return nil // closed: ctx ended
			}
			for _, c := range conns {
				if _, err := rawio.Write(c, b.Bytes); err != nil {
					return err
				}
			}
		}
	}
}

// floorClock sleeps until an instant on a timerfd read in the netpoller.
type floorClock struct {
	fd       int
	file     *os.File
	rc       syscall.RawConn
	base     time.Time
	baseMono int64
}

func newFloorClock() (*floorClock, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		unix.Close(fd)
		return nil, err
	}
	c := &floorClock{fd: fd, base: time.Now(), baseMono: ts.Nano(), file: os.NewFile(uintptr(fd), "floor")}
	if c.rc, err = c.file.SyscallConn(); err != nil {
		c.file.Close()
		return nil, err
	}
	return c, nil
}

func (c *floorClock) close() { c.file.Close() }

func (c *floorClock) sleepUntil(t time.Time) error {
	if !time.Now().Before(t) {
		return nil
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(c.baseMono + int64(t.Sub(c.base)))}
	if _, _, e := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(c.fd), unix.TFD_TIMER_ABSTIME,
		uintptr(unsafe.Pointer(&spec)), 0, 0, 0); e != 0 {
		return e
	}
	var buf [8]byte
	return c.rc.Read(func(fd uintptr) bool {
		_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), 8)
		return e != unix.EAGAIN
	})
}
