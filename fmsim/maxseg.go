package fmsim

import "syscall"

// maxSegment returns a listener Control that sets TCP_MAXSEG to mss (none
// when mss <= 0): accepted connections inherit it.
func maxSegment(mss int) func(network, address string, c syscall.RawConn) error {
	if mss <= 0 {
		return nil
	}
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, mss)
		})
		if err != nil {
			return err
		}
		return serr
	}
}
