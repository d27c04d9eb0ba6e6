//go:build linux

package rtmp

import (
	"net"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/fmspush/fmspush/internal/rawio"
)

// quickAckConn re-arms TCP_QUICKACK before every read of the setup, so that a server
// whose small writes wait for our ACK (Nagle) is not held up by our delayed
// ACK (40 ms on Linux). RTMP's setup is a chain of small request/answer
// exchanges: without it, a loopback connect to nginx-rtmp takes ~45 ms.
type quickAckConn struct {
	*rawio.Conn
	// setupOver stops the re-arming once published: then the server only
	// sends acks and pings, which nothing waits for.
	setupOver atomic.Bool
}

func (q *quickAckConn) endSetup() { q.setupOver.Store(true) }

func withQuickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc := rawio.NewConn(tc)
	if rc == nil {
		return c
	}
	return &quickAckConn{Conn: rc}
}

// Read re-arms TCP_QUICKACK during the setup and reads, with raw calls on
// the non-blocking socket (waiting in the netpoller, read deadlines
// included), for the reason Write gives. Errors read as those of
// net.Conn.Read.
func (q *quickAckConn) Read(p []byte) (int, error) {
	var arm func(fd uintptr)
	if !q.setupOver.Load() {
		arm = quickAck
	}
	return q.ReadBefore(p, arm)
}

// Write writes p with raw write(2) calls on the non-blocking socket, waiting
// in the netpoller (write deadlines included) when the send buffer is full.
// A raw call never blocks the thread, and unlike a runtime-accounted
// syscall it does not wake the runtime's monitor thread (sysmon) from its
// idle sleep: with one write per frame, that wake-up and the monitor's
// polling after it cost more CPU than the write itself (a thread switch is
// dear on a virtual machine). Errors read as those of net.Conn.Write.
func (q *quickAckConn) Write(p []byte) (int, error) { return q.WriteRaw(p) }

// quickAck re-arms TCP_QUICKACK on the socket fd.
func quickAck(fd uintptr) {
	one := int32(1)
	syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_QUICKACK,
		uintptr(unsafe.Pointer(&one)), 4, 0)
}
