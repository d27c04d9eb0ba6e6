//go:build linux

package source

import (
	"context"
	"net"

	"github.com/fmspush/fmspush/internal/rawio"
)

// dialRaw dials a TCP connection whose reads are raw read(2) calls on the
// non-blocking socket, waiting in the netpoller (deadlines included). None
// blocks the thread, and unlike runtime-accounted syscalls they do not wake
// the runtime's monitor thread from its idle sleep: an RTSP camera's stream
// is a few hundred reads a second, and those wake-ups cost more than the
// reads on a virtual machine (rtmp's publisher does the same). Writes (the
// requests, a few RTCP reports) stay net.Conn's.
func dialRaw(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		if rc := rawio.NewConn(tc); rc != nil {
			return rc, nil
		}
	}
	return c, nil
}
