//go:build !linux

package delivery

import (
	"errors"
	"net"
)

// ReadConn samples a connection of this process; it needs Linux's TCP_INFO.
func ReadConn(c net.Conn) (Sample, error) { return Sample{}, errors.ErrUnsupported }

// ReadProcess samples another process's TCP socket; it needs Linux's /proc and sock_diag.
func ReadProcess(pid int, remote string) (Sample, error) { return Sample{}, errors.ErrUnsupported }
