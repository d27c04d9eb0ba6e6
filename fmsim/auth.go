package fmsim

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Why a token was refused.
var (
	errTokenMissing = errors.New("auth token missing")
	errTokenBad     = errors.New("auth token does not match")
	errTokenExpired = errors.New("auth token expired")
	errTokenTime    = errors.New("auth time is not a unix time")
)

// SplitName splits a publish name "key?a=b" into the bare stream name and its
// raw query.
func SplitName(name string) (stream, query string) {
	stream, query, _ = strings.Cut(name, "?")
	return stream, query
}

// Sign returns the token a cloud platform expects for stream at expiry t:
// lowercase hex MD5(secret + stream + hex(t)), and the hex time.
func Sign(secret, stream string, t time.Time) (token, hexTime string) {
	hexTime = strconv.FormatInt(t.Unix(), 16)
	return md5hex(secret + stream + hexTime), hexTime
}

// SignedName returns "stream?wsSecret=..&wsTime=.." valid until t.
func SignedName(secret, stream string, t time.Time) string {
	tok, ht := Sign(secret, stream, t)
	return stream + "?wsSecret=" + tok + "&wsTime=" + ht
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// checkToken verifies a publish name's wsSecret/txSecret against secret at now.
// The time (wsTime/txTime, hex or decimal unix seconds) is the expiry; the
// token is MD5 over the time exactly as it was written in the query.
func checkToken(secret, name string, now time.Time) error {
	stream, query := SplitName(name)
	q, err := url.ParseQuery(query)
	if err != nil {
		return errTokenBad
	}
	tok, ts := q.Get("wsSecret"), q.Get("wsTime")
	if tok == "" {
		tok, ts = q.Get("txSecret"), q.Get("txTime")
	}
	if tok == "" || ts == "" {
		return errTokenMissing
	}
	want := md5hex(secret + stream + ts)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(tok)), []byte(want)) != 1 {
		return errTokenBad
	}
	exp, ok := parseUnixTime(ts)
	if !ok {
		return errTokenTime
	}
	if now.After(exp) {
		return errTokenExpired
	}
	return nil
}

// checkAliyunKey verifies a publish name's Alibaba Cloud type A token
// (auth_key=timestamp-rand-uid-md5hash) against key at now: md5hash must be
// lowercase hex MD5("/app/stream-timestamp-rand-uid-key"), the app as
// connect named it and the bare stream name, and timestamp (decimal unix
// seconds) not past. The platform adds its domain's validity period to the
// timestamp; the emulator adds none, so a signature is refused as soon as
// its timestamp has passed.
func checkAliyunKey(key, app, name string, now time.Time) error {
	stream, query := SplitName(name)
	q, err := url.ParseQuery(query)
	if err != nil {
		return errTokenBad
	}
	tok := q.Get("auth_key")
	if tok == "" {
		return errTokenMissing
	}
	parts := strings.Split(tok, "-")
	if len(parts) != 4 {
		return errTokenBad
	}
	ts, rand, uid, hash := parts[0], parts[1], parts[2], parts[3]
	app, _, _ = strings.Cut(app, "?")
	want := md5hex("/" + strings.Trim(app, "/") + "/" + stream + "-" + ts + "-" + rand + "-" + uid + "-" + key)
	if subtle.ConstantTimeCompare([]byte(hash), []byte(want)) != 1 {
		return errTokenBad
	}
	exp, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || exp <= 0 {
		return errTokenTime
	}
	if now.After(time.Unix(exp, 0)) {
		return errTokenExpired
	}
	return nil
}

// AliyunName returns "stream?auth_key=.." for app, valid until t (rand and
// uid "0"): what the emulator's aliyun_key rule accepts.
func AliyunName(key, app, stream string, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return stream + "?auth_key=" + ts + "-0-0-" + md5hex("/"+app+"/"+stream+"-"+ts+"-0-0-"+key)
}

// parseUnixTime reads a hex (as the platforms write it) or, failing a
// plausible hex value, a decimal unix time.
func parseUnixTime(s string) (time.Time, bool) {
	const plausible = 946684800 // 2000-01-01
	if n, err := strconv.ParseInt(s, 16, 64); err == nil && n >= plausible && n < 1<<34 {
		return time.Unix(n, 0), true
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= plausible {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}
