package delivery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tcpEstablished is TCP_ESTABLISHED in a sock_diag message's state.
const tcpEstablished = 1

// dumpAttempts bounds the retries of a sock_diag dump the kernel reports as interrupted.
const dumpAttempts = 3

// ReadProcess samples another process's TCP socket connected to remote ("host:port", with an
// IPv4 or IPv6 literal host). It collects the socket inodes of /proc/PID/fd (links
// "socket:[INODE]") and matches them against a sock_diag dump with TCP info (AF_INET and
// AF_INET6), keeping the established socket whose destination is remote. Queued is the diag
// message's write queue (write_seq - snd_una: unacknowledged and unsent bytes). It returns
// ErrNoSocket when the process has no such socket.
func ReadProcess(pid int, remote string) (Sample, error) {
	dst, err := netip.ParseAddrPort(remote)
	if err != nil {
		return Sample{}, fmt.Errorf("delivery: remote %q: %w", remote, err)
	}
	inodes, err := socketInodes(pid)
	if err != nil {
		return Sample{}, err
	}
	if len(inodes) == 0 {
		return Sample{}, ErrNoSocket
	}
	for _, family := range families(dst.Addr()) {
		s, err := findSocket(family, inodes, dst)
		if !errors.Is(err, ErrNoSocket) {
			return s, err
		}
	}
	return Sample{}, ErrNoSocket
}

// families lists the address families a socket to addr may have: an IPv4 peer may be reached
// by an AF_INET6 socket through a v4-mapped address.
func families(addr netip.Addr) []uint8 {
	if addr.Unmap().Is4() {
		return []uint8{unix.AF_INET, unix.AF_INET6}
	}
	return []uint8{unix.AF_INET6}
}

// socketInodes returns the inodes of the sockets open in process pid.
func socketInodes(pid int) (map[uint32]struct{}, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	inodes := make(map[uint32]struct{})
	for _, e := range entries {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue // closed since ReadDir
		}
		if ino, ok := parseSocketLink(link); ok {
			inodes[ino] = struct{}{}
		}
	}
	return inodes, nil
}

// parseSocketLink reads INODE from "socket:[INODE]". sock_diag reports inodes as 32 bits.
func parseSocketLink(link string) (uint32, bool) {
	rest, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return 0, false
	}
	return uint32(n), true
}

// findSocket dumps the TCP sockets of one family and samples the established one among inodes
// whose destination is dst.
func findSocket(family uint8, inodes map[uint32]struct{}, dst netip.AddrPort) (Sample, error) {
	socks, err := dump(family)
	if err != nil {
		return Sample{}, err
	}
	at := time.Now()
	for _, r := range socks {
		if matches(r, inodes, dst) {
			return diagSample(r, at)
		}
	}
	return Sample{}, ErrNoSocket
}

// dump runs one sock_diag dump, retrying a few times if the kernel interrupts it; after the
// last attempt the possibly incomplete result is used.
func dump(family uint8) ([]*netlink.InetDiagTCPInfoResp, error) {
	var socks []*netlink.InetDiagTCPInfoResp
	var err error
	for range dumpAttempts {
		socks, err = netlink.SocketDiagTCPInfo(family)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, fmt.Errorf("delivery: sock_diag dump (family %d): %w", family, err)
	}
	return socks, nil
}

// matches reports whether r is an established socket among inodes connected to dst.
func matches(r *netlink.InetDiagTCPInfoResp, inodes map[uint32]struct{}, dst netip.AddrPort) bool {
	m := r.InetDiagMsg
	if m == nil || m.State != tcpEstablished || m.ID.DestinationPort != dst.Port() {
		return false
	}
	if _, ok := inodes[m.INode]; !ok {
		return false
	}
	return m.ID.Destination.Equal(net.IP(dst.Addr().Unmap().AsSlice()))
}

// diagSample converts a sock_diag answer to a Sample.
func diagSample(r *netlink.InetDiagTCPInfoResp, at time.Time) (Sample, error) {
	if r.TCPInfo == nil {
		return Sample{}, errors.New("delivery: sock_diag answer without TCP info")
	}
	return Sample{
		At:         at,
		Acked:      r.TCPInfo.Bytes_acked,
		Queued:     uint64(r.InetDiagMsg.WQueue),
		PeerWindow: r.TCPInfo.Snd_wnd,
		RTT:        time.Duration(r.TCPInfo.Rtt) * time.Microsecond,
	}, nil
}
