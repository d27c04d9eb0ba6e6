// Package signurl signs RTMP push URLs the way Chinese CDNs expect them,
// with an expiry, at the moment a connection is made: a URL pasted into a
// configuration expires, so every connection, reconnect and probe asks Sign
// for a fresh signature instead.
//
// Two schemes are known:
//
//   - "tencent" (Tencent Cloud CSS hotlink protection): the query carries
//     txTime, the expiry as uppercase hex unix seconds, and txSecret,
//     lowercase hex MD5(key + stream name + txTime).
//   - "aliyun" (Alibaba Cloud ApsaraVideo Live, type A): the query carries
//     auth_key = "timestamp-rand-uid-md5hash", timestamp the expiry in
//     decimal unix seconds and md5hash lowercase hex
//     MD5("/AppName/StreamName-timestamp-rand-uid-key").
//
// The package reads nothing but the URL it is given and imports nothing of
// the project.
package signurl

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Schemes.
const (
	// SchemeTencent is Tencent Cloud's txSecret/txTime signature.
	SchemeTencent = "tencent"
	// SchemeAliyun is Alibaba Cloud's type A auth_key signature.
	SchemeAliyun = "aliyun"
)

// Query parameters the schemes write (and replace when the URL already
// carries them).
const (
	// ParamTxSecret is Tencent's signature parameter.
	ParamTxSecret = "txSecret"
	// ParamTxTime is Tencent's expiry parameter (hex unix seconds).
	ParamTxTime = "txTime"
	// ParamAuthKey is Aliyun's type A token parameter.
	ParamAuthKey = "auth_key"
)

// DefaultTTL is the signature's lifetime when Auth.TTL is zero: Tencent's
// documentation advises an expiry 24 hours ahead.
const DefaultTTL = 24 * time.Hour

// MaxURLLen is the longest URL Sign takes; a longer one is refused, so that
// what signing a URL costs is bounded whatever a configuration holds.
const MaxURLLen = 4096

// Auth is how a target's push URL is signed. The zero value signs nothing
// useful: Scheme and Key are required.
type Auth struct {
	// Scheme is SchemeTencent or SchemeAliyun.
	Scheme string
	// Key is the platform's push authentication key (Tencent's push
	// authentication key, Aliyun's primary or secondary URL signing key).
	Key string
	// TTL is how long a signature stays valid after it is made (default
	// DefaultTTL). Tencent expires the URL at txTime; Aliyun expires it at
	// timestamp plus the domain's own validity period, so there it is the
	// least the URL lives.
	TTL time.Duration
	// UID is Aliyun's uid field (default "0"); it must not hold '-'.
	UID string
	// Rand is Aliyun's rand field (default "0"), a random string such as a
	// UUID without hyphens; it must not hold '-'.
	Rand string
}

// Errors of Validate and Sign. They never quote the URL or the key.
var (
	// ErrScheme: Auth.Scheme is neither SchemeTencent nor SchemeAliyun.
	ErrScheme = errors.New("signurl: unknown scheme (want \"tencent\" or \"aliyun\")")
	// ErrNoKey: Auth.Key is empty.
	ErrNoKey = errors.New("signurl: no key")
	// ErrTTL: Auth.TTL is negative.
	ErrTTL = errors.New("signurl: the ttl is negative")
	// ErrField: Auth.UID or Auth.Rand would break the aliyun token or the query.
	ErrField = errors.New("signurl: the aliyun uid and rand must not hold '-', '&', '#', '?', '=', '/', '%', '+' or spaces")
	// ErrURL: the URL is not rtmp:// or rtmps:// with a host, or holds a '#'.
	ErrURL = errors.New("signurl: not an rtmp:// or rtmps:// URL with a host and no '#'")
	// ErrURLTooLong: the URL is longer than MaxURLLen.
	ErrURLTooLong = fmt.Errorf("signurl: the URL is longer than %d bytes", MaxURLLen)
	// ErrNoStream: the URL's path lacks an app or a stream name to sign.
	ErrNoStream = errors.New("signurl: the URL's path has no app and stream name (APP/STREAM)")
)

// Validate reports settings that cannot sign anything.
func (a Auth) Validate() error {
	switch a.Scheme {
	case SchemeTencent, SchemeAliyun:
	default:
		return ErrScheme
	}
	if a.Key == "" {
		return ErrNoKey
	}
	if a.TTL < 0 {
		return ErrTTL
	}
	if a.Scheme == SchemeAliyun && (!plainField(a.UID) || !plainField(a.Rand)) {
		return ErrField
	}
	return nil
}

// plainField reports whether an aliyun token field can stand between the
// token's '-' separators and in a query unescaped.
func plainField(s string) bool {
	return !strings.ContainsAny(s, "-&#?=/ \t\r\n%+")
}

// ttl is the signature's lifetime.
func (a Auth) ttl() time.Duration {
	if a.TTL == 0 {
		return DefaultTTL
	}
	return a.TTL
}

// Params lists the query parameters the scheme writes: their values are
// secrets for as long as they are valid.
func (a Auth) Params() []string {
	switch a.Scheme {
	case SchemeTencent:
		return []string{ParamTxSecret, ParamTxTime}
	case SchemeAliyun:
		return []string{ParamAuthKey}
	}
	return nil
}

// Sign returns rawURL with a signature valid until now+TTL: the scheme's
// parameters already in the query (an expired signature pasted with the
// URL) are removed, every other parameter is kept as written and in order,
// and the new ones are appended. The stream name and path are signed as
// written in the URL (not unescaped), as the server receives them.
func (a Auth) Sign(rawURL string, now time.Time) (string, error) {
	if err := a.Validate(); err != nil {
		return "", err
	}
	u, err := parse(rawURL)
	if err != nil {
		return "", err
	}
	exp := now.Add(a.ttl()).Unix()
	var add []string
	switch a.Scheme {
	case SchemeTencent:
		txTime := TencentTime(exp)
		add = []string{ParamTxSecret + "=" + TencentSecret(a.Key, u.stream, txTime), ParamTxTime + "=" + txTime}
	case SchemeAliyun:
		add = []string{ParamAuthKey + "=" + AliyunToken(a.Key, u.path, exp, orZero(a.Rand), orZero(a.UID))}
	}
	pairs := keepPairs(u.query, a.Params())
	return u.base + "?" + strings.Join(append(pairs, add...), "&"), nil
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// TencentTime is txTime for an expiry: uppercase hex unix seconds, as
// Tencent's documentation writes it ("5C271099").
func TencentTime(expiry int64) string {
	return strings.ToUpper(strconv.FormatInt(expiry, 16))
}

// TencentSecret is txSecret: lowercase hex MD5(key + stream + txTime), the
// time exactly as written in the query.
func TencentSecret(key, stream, txTime string) string {
	return md5hex(key + stream + txTime)
}

// AliyunToken is the type A auth_key for path ("/AppName/StreamName") at
// expiry: "timestamp-rand-uid-md5hash", md5hash = lowercase hex
// MD5("path-timestamp-rand-uid-key").
func AliyunToken(key, path string, expiry int64, rand, uid string) string {
	ts := strconv.FormatInt(expiry, 10)
	return ts + "-" + rand + "-" + uid + "-" + md5hex(path+"-"+ts+"-"+rand+"-"+uid+"-"+key)
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// parsed is an rtmp URL cut where signing needs it.
type parsed struct {
	base   string // scheme://authority/path, no query
	path   string // "/app/stream" (app may have several segments)
	stream string // the last path segment
	query  string // raw, without '?'
}

// parse cuts an rtmp(s) URL by hand rather than with net/url, which would
// re-encode what it writes back: the URL must reach the server byte for
// byte as configured, the new parameters aside. A '#' is refused: ffmpeg
// and the rtmp package would send it as part of the name, a URL parser
// would cut it as a fragment, and the signed name must be the one the
// server sees.
func parse(raw string) (parsed, error) {
	if len(raw) > MaxURLLen {
		return parsed{}, ErrURLTooLong
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (!strings.EqualFold(scheme, "rtmp") && !strings.EqualFold(scheme, "rtmps")) {
		return parsed{}, ErrURL
	}
	if strings.ContainsAny(rest, "#\x00") {
		return parsed{}, ErrURL
	}
	var p parsed
	rest, p.query, _ = strings.Cut(rest, "?")
	authority, path, ok := strings.Cut(rest, "/")
	if authority == "" || strings.ContainsAny(authority, " \t\r\n") {
		return parsed{}, ErrURL
	}
	if !ok {
		return parsed{}, ErrNoStream
	}
	slash := strings.LastIndexByte(path, '/')
	if slash <= 0 || slash == len(path)-1 || strings.HasPrefix(path, "/") {
		return parsed{}, ErrNoStream
	}
	p.base = raw[:len(scheme)+3+len(rest)]
	p.path = "/" + path
	p.stream = path[slash+1:]
	return p, nil
}

// keepPairs returns the query's pairs except those named drop (compared
// after unescaping the name); empty pairs are dropped too.
func keepPairs(query string, drop []string) []string {
	var out []string
	for _, pair := range strings.Split(query, "&") {
		if pair == "" {
			continue
		}
		name, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if !contains(drop, name) {
			out = append(out, pair)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}
