//go:build linux

package fmsim

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peerGone reports, without reading a byte, whether the client has ended the
// connection: "fin" once its FIN arrived, "rst" once it reset it; "" while it
// is open. It asks poll(2) with a zero timeout for POLLRDHUP: the kernel sets
// it when the FIN is received, even with unread data queued ahead of it (a
// stalled session has plenty), where a MSG_PEEK read would only see that
// data. A RST raises POLLERR and POLLHUP (the socket is closed both ways).
func peerGone(nc net.Conn) string {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return ""
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return ""
	}
	how := ""
	_ = rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		if n, err := unix.Poll(fds, 0); err != nil || n == 0 {
			return
		}
		switch ev := fds[0].Revents; {
		case ev&(unix.POLLERR|unix.POLLHUP) != 0:
			how = PeerRST
		case ev&unix.POLLRDHUP != 0:
			how = PeerFIN
		}
	})
	return how
}
