package delivery

import (
	"fmt"
	"net"
	"syscall"
	"time"

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

// readFD samples the TCP socket fd.
func readFD(fd int) (Sample, error) {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return Sample{}, fmt.Errorf("delivery: getsockopt TCP_INFO: %w", err)
	}
	outq, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return Sample{}, fmt.Errorf("delivery: ioctl SIOCOUTQ: %w", err)
	}
	return Sample{
		At:         time.Now(),
		Acked:      info.Bytes_acked,
		Queued:     uint64(max(outq, 0)),
		PeerWindow: info.Snd_wnd,
		RTT:        time.Duration(info.Rtt) * time.Microsecond,
	}, nil
}
