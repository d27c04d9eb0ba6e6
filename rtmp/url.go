package rtmp

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/fmspush/fmspush/redact"
)

// Target is a publish URL split the way ffmpeg splits it, verbatim (nothing
// is percent-decoded or re-encoded).
type Target struct {
	Scheme     string // "rtmp" or "rtmps"
	Host       string // host name or address, without brackets
	Port       int    // 1935 for rtmp, 443 for rtmps unless given
	App        string // "live", "live/_definst_", "live-bvc"
	StreamName string // the name with its query: "key?wsSecret=..", Bilibili "?streamname=..&key=.."
	TCURL      string // scheme://authority/app, never with the query
}

// Addr is host:port for dialing.
func (t *Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// String is the URL with its secrets redacted.
func (t *Target) String() string { return redact.URL(t.TCURL + "/" + t.StreamName) }

// ParseURL splits an rtmp:// or rtmps:// publish URL. The app is the first
// path segment, or the first two when the path has three or more (as in
// ffmpeg); the stream name is the rest with the query. A query right after
// the app ("/live-bvc/?streamname=..&key=..") becomes the stream name.
func ParseURL(raw string) (*Target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "rtmp" && scheme != "rtmps") {
		return nil, fmt.Errorf("rtmp: %s: not an rtmp:// or rtmps:// URL", redact.URL(raw))
	}
	authority, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		authority = authority[at+1:]
	}
	t := &Target{Scheme: scheme}
	if err := t.setHostPort(authority); err != nil {
		return nil, fmt.Errorf("rtmp: %s: %w", redact.URL(raw), err)
	}
	t.App, t.StreamName = splitAppName(path)
	if t.App == "" {
		return nil, fmt.Errorf("rtmp: %s: no app in the path", redact.URL(raw))
	}
	t.TCURL = scheme + "://" + authority + "/" + t.App
	return t, nil
}

func (t *Target) setHostPort(authority string) error {
	t.Port = 1935
	if t.Scheme == "rtmps" {
		t.Port = 443
	}
	host, port, err := net.SplitHostPort(authority)
	if err != nil {
		host = strings.Trim(authority, "[]")
	} else {
		p, err := strconv.Atoi(port)
		if err != nil || p <= 0 || p > 65535 {
			return fmt.Errorf("bad port %q", port)
		}
		t.Port = p
	}
	if host == "" {
		return fmt.Errorf("no host")
	}
	t.Host = host
	return nil
}

func splitAppName(path string) (app, name string) {
	body, query, hasQuery := strings.Cut(path, "?")
	segs := strings.Split(body, "/")
	switch {
	case len(segs) >= 3:
		app, name = segs[0]+"/"+segs[1], strings.Join(segs[2:], "/")
	case len(segs) == 2:
		app, name = segs[0], segs[1]
	default:
		app = segs[0]
	}
	if hasQuery {
		name += "?" + query
	}
	return app, name
}
