//go:build !linux

package rtmp

import "net"

func withQuickAck(c net.Conn) net.Conn { return c }
