package tap

import (
	"errors"
	"net"
	"strconv"
	"strings"
)

// Default ports of the schemes (ffmpeg's RTMP_DEFAULT_PORT, RTMPS_DEFAULT_PORT).
const (
	rtmpPort  = 1935
	rtmpsPort = 443
)

// Errors of ParseTarget. Their text never includes the URL (it carries the
// stream key).
var (
	// ErrScheme: the target is not rtmp:// or rtmps://.
	ErrScheme = errors.New("tap: only rtmp:// and rtmps:// targets can be relayed")
	// ErrCredentials: the target has user:password@, which makes ffmpeg
	// authenticate by reconnecting.
	ErrCredentials = errors.New("tap: a target with credentials makes ffmpeg reconnect, which one relay cannot follow")
	// ErrHost: the target's host or port is missing or malformed.
	ErrHost = errors.New("tap: the target has no usable host")
)

// Target is an RTMP push URL as ffmpeg 5.1 would connect to it.
type Target struct {
	// Addr is the server's host:port (the Relay's Target).
	Addr string
	// TLS is true for rtmps (the Relay needs a TLS config).
	TLS bool
	// Host is the server's host name (TLS ServerName).
	Host string
	// TCURL is the tcUrl ffmpeg would send in connect: scheme://host:port/app,
	// the port always written (ffmpeg's ff_url_join). Hand it to ffmpeg as
	// -rtmp_tcurl when it pushes through the relay.
	TCURL string
	path  string // the path and query, as written
}

// ParseTarget splits raw (rtmp:// or rtmps://) as ffmpeg's rtmp_open
// does. app, when not empty, is the -rtmp_app ffmpeg is given (it
// replaces the application ffmpeg takes from the path, in the tcUrl too).
func ParseTarget(raw, app string) (Target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (scheme != "rtmp" && scheme != "rtmps") {
		return Target{}, ErrScheme
	}
	i := strings.IndexAny(rest, "/?")
	if i < 0 {
		i = len(rest)
	}
	authority, path := rest[:i], rest[i:]
	if strings.Contains(authority, "@") {
		return Target{}, ErrCredentials
	}
	host, port, err := splitHostPort(authority, scheme)
	if err != nil {
		return Target{}, err
	}
	if app == "" {
		app = ffmpegApp(path)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	return Target{Addr: addr, TLS: scheme == "rtmps", Host: host, TCURL: scheme + "://" + addr + "/" + app, path: path}, nil
}

// LocalURL is the URL ffmpeg pushes to through the relay listening at
// relayAddr: rtmp://relayAddr followed by the target's path and query.
func (t Target) LocalURL(relayAddr string) string { return "rtmp://" + relayAddr + t.path }

// splitHostPort parses host[:port] or [v6][:port] with the scheme's default port.
func splitHostPort(authority, scheme string) (string, int, error) {
	port := rtmpPort
	if scheme == "rtmps" {
		port = rtmpsPort
	}
	host, ps := authority, ""
	if strings.HasPrefix(authority, "[") {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return "", 0, ErrHost
		}
		host, ps = authority[1:end], strings.TrimPrefix(authority[end+1:], ":")
	} else if h, p, ok := strings.Cut(authority, ":"); ok {
		host, ps = h, p
	}
	if ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n <= 0 || n > 65535 {
			return "", 0, ErrHost
		}
		port = n
	}
	if host == "" {
		return "", 0, ErrHost
	}
	return host, port, nil
}

// ffmpegApp is the application ffmpeg 5.1 takes from a URL's path (with
// its query): the first directory, or the first two when the play path
// after the second has no ':' before its next '/'; "ondemand" for
// /ondemand/...; what precedes the query when it has "slist=".
func ffmpegApp(path string) string {
	if q := strings.IndexByte(path, '?'); q >= 0 && strings.Contains(path[q:], "slist=") {
		return path[min(1, q):q]
	}
	if strings.HasPrefix(path, "/ondemand/") {
		return "ondemand"
	}
	next := path
	if next != "" {
		next = next[1:] // ffmpeg skips the path's first character, '/' or '?'
	}
	p := strings.IndexByte(next, '/')
	if p < 0 {
		return ""
	}
	rest := next[p+1:]
	colon, slash := strings.IndexByte(rest, ':'), strings.IndexByte(rest, '/')
	if slash < 0 || (colon >= 0 && colon < slash) {
		return next[:p]
	}
	return next[:p+1+slash]
}
