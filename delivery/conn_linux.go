package delivery

import (
	"fmt"
	"net"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxUnwrap bounds how many NetConn layers ReadConn peels off.
const maxUnwrap = 8

// ReadConn samples a connection of this process: a *net.TCPConn, or any net.Conn with a
// NetConn() net.Conn method (such as *tls.Conn) unwrapped to one. It reads getsockopt
// TCP_INFO (bytes acknowledged, the peer's window, the round trip) and ioctl SIOCOUTQ (bytes
// not yet acknowledged, unsent included) inside SyscallConn().Control.
func ReadConn(c net.Conn) (Sample, error) {
	sc, err := rawConn(c)
	if err != nil {
		return Sample{}, err
	}
	var s Sample
	var opErr error
	if err := sc.Control(func(fd uintptr) { s, opErr = readFD(int(fd)) }); err != nil {
		return Sample{}, fmt.Errorf("delivery: control: %w", err)
	}
	return s, opErr
}

// rawConn unwraps c to the syscall.RawConn of its socket.
func rawConn(c net.Conn) (syscall.RawConn, error) {
	for range maxUnwrap {
		if c == nil {
			break
		}
		if s, ok := c.(syscall.Conn); ok {
			return s.SyscallConn()
		}
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = w.NetConn()
	}
	return nil, errNotTCP
}

// readFD samples the TCP socket fd, with raw syscalls: neither call blocks,
// and a runtime-accounted syscall wakes the runtime's monitor thread from
// its idle sleep, which costs more than the reading itself when a session
// samples its socket ten times a second.
func readFD(fd int) (Sample, error) {
	var info unix.TCPInfo
	size := uint32(unsafe.Sizeof(info))
	if _, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0); e != 0 {
		return Sample{}, fmt.Errorf("delivery: getsockopt TCP_INFO: %w", e)
	}
	var outq int32
	if _, _, e := unix.RawSyscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCOUTQ, uintptr(unsafe.Pointer(&outq))); e != 0 {
		return Sample{}, fmt.Errorf("delivery: ioctl SIOCOUTQ: %w", e)
	}
	return Sample{
		At:         time.Now(),
		Acked:      info.Bytes_acked,
		Queued:     uint64(max(outq, 0)),
		PeerWindow: info.Snd_wnd,
		RTT:        time.Duration(info.Rtt) * time.Microsecond,
		Busy:       time.Duration(info.Busy_time) * time.Microsecond,
		HasBusy:    uintptr(size) >= unsafe.Offsetof(info.Busy_time)+unsafe.Sizeof(info.Busy_time),
	}, nil
}
