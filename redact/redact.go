// Package redact hides stream keys and auth values wherever a URL is shown.
//
// It is the one redaction function of fmspush: every URL that enters a log line,
// a status document, a metric label or an error text passes through URL or Text.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces every secret value.
const Mask = "***"

// URL returns raw with its secrets masked: the userinfo password, the last path
// segment of an rtmp/rtmps URL (the stream key) and every query value, in the
// path part too (Bilibili-style "?streamname=..&key=.." inside the app).
// A string that does not parse as a URL is masked whole after its scheme.
func URL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return maskQuery(raw)
	}
	if strings.EqualFold(scheme, "emulator") {
		// emulator://APP/NAME has no host: mask it as rtmp://host/APP/NAME.
		const host = "rtmp://emulator/"
		return scheme + "://" + strings.TrimPrefix(URL(host+rest), host)
	}
	authority, path, hasPath := splitAuthority(rest, isRTMP(scheme))
	authority = maskUserinfo(authority)
	if !hasPath {
		return scheme + "://" + maskQuery(authority)
	}
	path = maskQuery(path)
	if isRTMP(scheme) {
		path = maskLastSegment(path)
	}
	return scheme + "://" + authority + "/" + path
}

func isRTMP(scheme string) bool {
	switch strings.ToLower(scheme) {
	case "rtmp", "rtmps", "rtmpt", "rtmpe", "rtmpte", "rtmpts":
		return true
	}
	return false
}

// splitAuthority cuts rest (a URL after "://") into its authority and path.
// Users write passwords holding '/' ("rtsp://admin:pa/ss@cam/ch1"), which no
// parser accepts: when an '@' follows the first '/' before any query, the
// authority of a camera URL ends at the first '/' after the last such '@',
// so the password is masked as userinfo. An rtmp URL keeps the first '/':
// there an '@' is likelier part of the stream key, which is masked whole.
func splitAuthority(rest string, rtmp bool) (authority, path string, hasPath bool) {
	authority, path, hasPath = strings.Cut(rest, "/")
	if rtmp || !hasPath || strings.Contains(authority, "@") {
		return authority, path, hasPath
	}
	head := path
	if i := strings.IndexAny(head, "?#"); i >= 0 {
		head = head[:i]
	}
	at := strings.LastIndexByte(head, '@')
	if at < 0 || !strings.Contains(authority, ":") {
		return authority, path, hasPath
	}
	end := len(authority) + 1 + at + 1
	if slash := strings.IndexByte(rest[end:], '/'); slash >= 0 {
		return rest[:end+slash], rest[end+slash+1:], true
	}
	return rest, "", false
}

func maskUserinfo(authority string) string {
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return authority
	}
	user, _, hasPass := strings.Cut(authority[:at], ":")
	if !hasPass {
		return user + "@" + authority[at+1:]
	}
	return user + ":" + Mask + "@" + authority[at+1:]
}

// maskLastSegment masks the last non-empty path segment (the stream name)
// when the path has an app and a name, keeping any query already masked and
// any trailing slashes ("live/KEY/" is "live/***/"). A path with only an app
// ("live", "live/") carries no key.
func maskLastSegment(path string) string {
	body, query, hasQuery := strings.Cut(path, "?")
	trimmed := strings.TrimRight(body, "/")
	slash := strings.LastIndex(trimmed, "/")
	if slash >= 0 && slash < len(trimmed)-1 {
		key := trimmed[slash+1:]
		body = maskSegment(trimmed[:slash+1], key) + Mask + body[len(trimmed):]
	}
	if hasQuery {
		return body + "?" + query
	}
	return body
}

// maskSegment masks every path segment of prefix equal to key: a key that
// is also the app ("rtmp://host/KEY/KEY") must not show through the app.
func maskSegment(prefix, key string) string {
	if key == Mask || !strings.Contains(prefix, key) {
		return prefix
	}
	segs := strings.Split(prefix, "/")
	for i, s := range segs {
		if s == key {
			segs[i] = Mask
		}
	}
	return strings.Join(segs, "/")
}

// maskQuery masks every value in every "?k=v&k2=v2" part of s.
func maskQuery(s string) string {
	var b strings.Builder
	for {
		q := strings.IndexByte(s, '?')
		if q < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:q+1])
		s = s[q+1:]
		end := strings.IndexAny(s, "/?#")
		if end < 0 {
			end = len(s)
		}
		b.WriteString(maskPairs(s[:end]))
		s = s[end:]
	}
}

func maskPairs(query string) string {
	pairs := strings.Split(query, "&")
	for i, p := range pairs {
		if k, _, ok := strings.Cut(p, "="); ok {
			pairs[i] = k + "=" + Mask
		} else if p != "" {
			// A bare value ("?KEY") is a secret too.
			pairs[i] = Mask
		}
	}
	return strings.Join(pairs, "&")
}

var urlInText = regexp.MustCompile(`(?i)\b(rtmp[a-z]*|rtsps?|srt|https?)://[^\s'"<>]+`)

var secretPair = regexp.MustCompile(`(?i)\b(wsSecret|wsTime|txSecret|txTime|auth_key|key|sign|token|secret|auth|password|passwd|pwd|streamkey|stream_key)=([^\s&'"]+)`)

// Text masks every URL found in free text (an ffmpeg log line, an error) and
// every well-known secret key=value pair outside a URL.
func Text(s string) string {
	s = urlInText.ReplaceAllStringFunc(s, URL)
	return secretPair.ReplaceAllStringFunc(s, func(m string) string {
		k, v, _ := strings.Cut(m, "=")
		if v == Mask {
			return m
		}
		return k + "=" + Mask
	})
}

// Host returns the host:port of raw (no userinfo, path or query), or "" when
// raw is not a URL. It is safe to use as a metric label.
func Host(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Host
}

// URLs returns each of urls redacted as URL does.
func URLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = URL(u)
	}
	return out
}
