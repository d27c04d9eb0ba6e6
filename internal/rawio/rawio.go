//go:build linux

// Package rawio reads and writes a non-blocking socket with raw read(2) and
// write(2) calls inside syscall.RawConn's Read and Write, waiting in the
// netpoller (deadlines included) when the socket is not ready. A raw call
// never blocks the thread, and unlike a runtime-accounted syscall it does
// not wake the runtime's monitor thread (sysmon) from its idle sleep: with a
// read or a write per frame, that wake-up costs more CPU than the call on a
// virtual machine (docs/performance.md).
package rawio

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// Conn is a TCP connection whose Read is raw read(2) calls, with WriteRaw
// for raw write(2) calls; its other methods (Write included) are the
// *net.TCPConn's. Its errors read as net.Conn's.
type Conn struct {
	*net.TCPConn
	raw syscall.RawConn
}

// NewConn wraps tc; nil when its socket cannot be reached.
func NewConn(tc *net.TCPConn) *Conn {
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return &Conn{TCPConn: tc, raw: raw}
}

// Read reads with raw calls; io.EOF at the end of the stream.
func (c *Conn) Read(p []byte) (int, error) { return c.ReadBefore(p, nil) }

// ReadBefore is Read with before (when set) run on the socket each time it
// is ready, before the read (as Read's before).
func (c *Conn) ReadBefore(p []byte, before func(fd uintptr)) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := Read(c.raw, p, before)
	if err != nil {
		return n, c.opError("read", err)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// WriteRaw writes all of p with raw calls (as Write).
func (c *Conn) WriteRaw(p []byte) (int, error) {
	n, err := Write(c.raw, p)
	return n, c.opError("write", err)
}

// opError reads as net.Conn's errors do: the cause inside RawConn's own
// *net.OpError ("raw-read"), under op and the connection's addresses.
func (c *Conn) opError(op string, err error) error {
	if err == nil {
		return nil
	}
	if o, ok := err.(*net.OpError); ok {
		err = o.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Read reads into p (len(p) > 0) with raw read(2) calls on rc's socket;
// before, when set, runs on the socket each time it is ready, before the
// read (TCP_QUICKACK's re-arming, say). n == 0 with a nil error is the end
// of the stream. A failed call comes back as an *os.SyscallError, the
// RawConn's own errors (a deadline, a closed socket) as they are.
func Read(rc syscall.RawConn, p []byte, before func(fd uintptr)) (int, error) {
	n := 0
	var errno syscall.Errno
	err := rc.Read(func(fd uintptr) bool {
		if before != nil {
			before(fd)
		}
		for {
			k, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch e {
			case 0:
				n = int(k)
				return true
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
	})
	if errno != 0 {
		return n, os.NewSyscallError("read", errno)
	}
	return n, err
}

// Write writes all of p with raw write(2) calls on rc's socket, waiting in
// the netpoller while the send buffer is full. It returns how much was
// written; errors as Read's.
func Write(rc syscall.RawConn, p []byte) (int, error) {
	n := 0
	var errno syscall.Errno
	err := rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			k, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n))
			switch e {
			case 0:
				n += int(k)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	if errno != 0 {
		return n, os.NewSyscallError("write", errno)
	}
	return n, err
}
