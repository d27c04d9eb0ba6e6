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
	"os"
	"syscall"
	"unsafe"
)

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
