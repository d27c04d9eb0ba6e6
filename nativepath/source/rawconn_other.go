//go:build !linux

package source

import (
	"context"
	"net"
)

// dialRaw is the plain dialer elsewhere.
func dialRaw(ctx context.Context, network, address string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, network, address)
}
