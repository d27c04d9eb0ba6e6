package ffmpegpath

import (
	"github.com/hashicorp/go-hclog"

	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The target's TCP connection is watched from outside ffmpeg: the delivery
// package reads its TCP_INFO (what the server took, what waits) through
// sock_diag, found from the process's /proc/PID/fd socket inodes. This file
// finds that socket and ends it with a reset.

// targetAddrs returns the "ip:port" strings ffmpeg may connect to for an
// rtmp(s) target: the literal address when the host is an IP, otherwise every
// address the host resolves to now (net.DefaultResolver, once per run, within
// 2 s). ffmpeg resolves on its own and picks one of them; the watcher matches
// whichever it finds. A name that resolves differently for ffmpeg (another
// resolver, a round-robin answer that changed) is not watched: the run then
// falls back to the progress watchdog alone.
func targetAddrs(ctx context.Context, target string) ([]string, error) {
	u, err := url.Parse(target)
	if err != nil || u.Hostname() == "" {
		return nil, errors.New("the target has no host")
	}
	port := u.Port()
	if port == "" {
		port = "1935"
		if strings.EqualFold(u.Scheme, "rtmps") {
			port = "443"
		}
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		return []string{net.JoinHostPort(ip.Unmap().String(), port)}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, net.JoinHostPort(ip.Unmap().String(), port))
	}
	return out, nil
}

// procSocket is one established TCP socket of a process.
type procSocket struct {
	fd            int // the descriptor number in the process
	inode         uint64
	local, remote netip.AddrPort
}

// findSocket finds the process's TCP socket connected to remote ("ip:port"):
// the socket inodes of /proc/PID/fd matched against /proc/PID/net/tcp{,6}.
// More than one such socket (the libav driver shares this process with
// other connections) is errAmbiguous: no evidence rather than another
// connection's.
func findSocket(pid int, remote string) (procSocket, error) {
	want, err := netip.ParseAddrPort(remote)
	if err != nil {
		return procSocket{}, err
	}
	want = netip.AddrPortFrom(want.Addr().Unmap(), want.Port())
	byInode := map[uint64]procSocket{}
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[3] != "01" { // ESTABLISHED
				continue
			}
			rem, err1 := parseProcAddr(fs[2])
			loc, err2 := parseProcAddr(fs[1])
			inode, err3 := strconv.ParseUint(fs[9], 10, 64)
			if err1 != nil || err2 != nil || err3 != nil || rem != want {
				continue
			}
			byInode[inode] = procSocket{inode: inode, local: loc, remote: rem}
		}
		f.Close()
	}
	if len(byInode) == 0 {
		return procSocket{}, errNoSocket
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return procSocket{}, err
	}
	var found []procSocket
	for _, e := range ents {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		inode, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
		if err != nil {
			continue
		}
		if s, ok := byInode[inode]; ok {
			s.fd, _ = strconv.Atoi(e.Name())
			found = append(found, s)
			delete(byInode, inode) // a dup of it is the same socket
		}
	}
	switch len(found) {
	case 0:
		return procSocket{}, errNoSocket
	case 1:
		return found[0], nil
	}
	return procSocket{}, errAmbiguous
}

var errAmbiguous = errors.New("more than one connection to the target")

var errNoSocket = errors.New("no established socket to the target")

// parseProcAddr parses /proc/net/tcp's "0100007F:8B2F" (address words in
// host byte order, little-endian here).
func parseProcAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, errors.New("bad address")
	}
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw)%4 != 0 {
		return netip.AddrPort{}, errors.New("bad address")
	}
	for i := 0; i < len(raw); i += 4 { // each 32-bit word is little-endian
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, err
	}
	addr, ok := netip.AddrFromSlice(raw)
	if !ok {
		return netip.AddrPort{}, errors.New("bad address")
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// Ways a stalled connection was reset (resetter.how).
const (
	resetPidfd   = "pidfd_getfd+SO_LINGER0" // a duplicate of the socket, linger 0, closed last
	resetDup     = "dup+SO_LINGER0"         // the socket is in this process (libav)
	resetDestroy = "sock_destroy"           // netlink SOCK_DESTROY (needs CAP_NET_ADMIN)
)

// resetter ends one stalled TCP connection with a reset (RST) instead of
// the orderly close that a killed process's socket gets: with unsent data
// and a zero window, that socket would linger in FIN_WAIT1, retransmitting,
// and keep the stream name locked at servers that refuse a second
// publisher. arm takes hold of the socket before the owner is killed or
// interrupted; release, after the owner has let go, makes the reset
// happen.
type resetter struct {
	sock procSocket
	dup  int    // our duplicate of the socket, -1 if none
	how  string // resetPidfd, resetDup or resetDestroy
}

// armReset takes hold of pid's socket sock. With pidfd_getfd (Linux 5.6+,
// allowed on our own child) it duplicates the socket into this process and
// sets SO_LINGER {on, 0} on it: the socket then lives until release closes
// the duplicate, and that last close is an abortive one (RST). When pid is
// this process, a plain dup does the same. If neither works, release falls
// back to netlink SOCK_DESTROY of the connection (IPv4 only, CAP_NET_ADMIN).
func armReset(pid int, sock procSocket) *resetter {
	r := &resetter{sock: sock, dup: -1, how: resetDestroy}
	fd, how, err := dupSocket(pid, sock.fd)
	if err != nil {
		return r
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Ino != sock.inode { // the fd number was reused
		unix.Close(fd)
		return r
	}
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		unix.Close(fd)
		return r
	}
	r.dup, r.how = fd, how
	return r
}

// dupSocket duplicates fd of process pid into this process.
func dupSocket(pid, fd int) (int, string, error) {
	if pid == os.Getpid() {
		d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		return d, resetDup, err
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, "", err
	}
	defer unix.Close(pidfd)
	d, err := unix.PidfdGetfd(pidfd, fd, 0)
	return d, resetPidfd, err
}

// release resets the connection: it closes the duplicate (the last
// reference once the owner has closed or died), or destroys the socket
// through netlink. It reports how, or why it could not.
// finish resets the held connection once its owner (ffmpeg, or libav) has
// let it go, logs how, and returns how ("" when it could not).
func (r *resetter) finish(log hclog.Logger) string {
	if r == nil {
		return ""
	}
	how, err := r.release()
	if err != nil {
		log.Warn("the stalled connection could not be reset", "how", how, "error", err)
		return ""
	}
	log.Debug("the stalled connection was reset", "how", how)
	return how
}

func (r *resetter) release() (string, error) {
	if r.dup >= 0 {
		err := unix.Close(r.dup)
		r.dup = -1
		return r.how, err
	}
	return resetDestroy, destroySocket(r.sock.local, r.sock.remote)
}

// destroySocket ends a TCP connection by its addresses (SOCK_DESTROY): the
// kernel sends a RST and closes it, whoever holds it.
func destroySocket(local, remote netip.AddrPort) error {
	err := netlink.SocketDestroy(net.TCPAddrFromAddrPort(local), net.TCPAddrFromAddrPort(remote))
	if err != nil {
		return fmt.Errorf("sock_destroy: %w", err)
	}
	return nil
}
