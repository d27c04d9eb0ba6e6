package rtmp

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/fmspush/fmspush/redact"
)

// CapsExReconnect is the Reconnect bit of connect's capsEx property
// (Enhanced RTMP v2, enum CapsExMask): the client follows a server's
// NetConnection.Connect.ReconnectRequest.
const CapsExReconnect = 0x01

// CodeReconnectRequest is the onStatus code (level "status") of a server
// asking the client to reconnect (Enhanced RTMP v2, "Reconnect Request").
const CodeReconnectRequest = "NetConnection.Connect.ReconnectRequest"

// Bounds of what a ReconnectRequest may carry: a longer tcUrl makes the
// request ignored (it is not followed half-read); a longer description is
// cut.
const (
	MaxReconnectTCURL       = 2048
	MaxReconnectDescription = 256
)

// ReconnectRequest is a server's NetConnection.Connect.ReconnectRequest.
// TCURL is the tcUrl it names, as sent (an absolute or a relative URI
// reference; "" when it names none: reconnect to the current tcUrl). It may
// carry secrets (a signature in its query): print the request with String.
type ReconnectRequest struct {
	TCURL string
	// Description is the server's words, secrets of the session masked,
	// at most MaxReconnectDescription bytes.
	Description string
}

// String describes the request with the tcUrl redacted.
func (r ReconnectRequest) String() string {
	to := "the current tcUrl"
	if r.TCURL != "" {
		to = redact.URL(r.TCURL)
	}
	if r.Description == "" {
		return "reconnect to " + to
	}
	return fmt.Sprintf("reconnect to %s (%s)", to, redact.Text(r.Description))
}

// TakeReconnectRequest returns the last ReconnectRequest the server sent
// since the previous call, and clears it; ok is false when none came. The
// reader signals Wake when one arrives: the owner polls it there. A session
// that did not advertise the capability (PublishOptions.Reconnect) never
// reports one (a server should not send it; if one does, it is ignored).
func (p *Publisher) TakeReconnectRequest() (r ReconnectRequest, ok bool) {
	got := p.reconnect.Swap(nil)
	if got == nil {
		return ReconnectRequest{}, false
	}
	return *got, true
}

// noteReconnect keeps a ReconnectRequest from the reader and wakes the owner.
func (p *Publisher) noteReconnect(st StatusInfo, tcURL any) {
	if !p.opts.Reconnect {
		return
	}
	r := ReconnectRequest{Description: cut(p.secrets.Text(st.Description), MaxReconnectDescription)}
	switch v := tcURL.(type) {
	case nil:
	case string:
		if len(v) > MaxReconnectTCURL {
			return
		}
		r.TCURL = v
	default:
		return // a tcUrl that is not a string: not a request we can follow
	}
	p.reconnect.Store(&r)
	p.conn.wakeWriter()
}

// cut shortens s to at most n bytes, on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// ReconnectURL is the publish URL a ReconnectRequest moves a publish of
// current (a publish URL: tcUrl, then the stream name with its query) to:
// tcURL resolved against current's tcUrl (an absolute URI, "//host/app" or
// "/app"; "" is the current tcUrl), then current's stream name and query.
// The user:password of current is kept only when the new tcUrl names the
// same host: credentials are not handed to another server.
func ReconnectURL(current, tcURL string) (string, error) {
	t, err := ParseURL(current)
	if err != nil {
		return "", err
	}
	if tcURL == "" {
		return current, nil
	}
	base, err := url.Parse(t.TCURL)
	if err != nil {
		return "", fmt.Errorf("rtmp: the current tcUrl %s: %w", redact.URL(t.TCURL), err)
	}
	ref, err := url.Parse(tcURL)
	if err != nil {
		return "", fmt.Errorf("rtmp: the reconnect tcUrl %s: %w", redact.URL(tcURL), err)
	}
	abs := base.ResolveReference(ref)
	abs.RawQuery, abs.Fragment = "", ""
	if abs.User == nil && strings.EqualFold(abs.Hostname(), base.Hostname()) {
		if cu, err := url.Parse(current); err == nil {
			abs.User = cu.User
		}
	}
	next := strings.TrimRight(abs.String(), "/") + "/" + t.StreamName
	nt, err := ParseURL(next)
	if err != nil {
		return "", err
	}
	if nt.StreamName != t.StreamName {
		// The new tcUrl's path is not one app (or app/instance) as ours is
		// split: the name would be read differently there.
		return "", fmt.Errorf("rtmp: the reconnect tcUrl %s does not split as an app", redact.URL(tcURL))
	}
	return next, nil
}
