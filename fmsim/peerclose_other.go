//go:build !linux

package fmsim

import "net"

// peerGone cannot look at a socket without reading it here: a stalled
// session notices its client's close only when the server closes it.
func peerGone(net.Conn) string { return "" }
