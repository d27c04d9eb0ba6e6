package rtmp

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Publish authentication in connect, as Wowza, FMS (authmod=adobe) and
// Limelight (authmod=llnw) ask for it and as ffmpeg's libavformat answers
// (rtmpproto.c, handle_connect_error): a target URL with user:password
// connects; the server rejects the connect with a description naming the
// scheme; the client connects again with "?authmod=MOD&user=USER" after the
// app (and the tcUrl); the server rejects that with its challenge
// ("?reason=needauth&..."); the client connects a third time with its
// response. At most three connects: a rejection after the response, or the
// server asking again for what was sent, is the end (libavformat would loop
// on a server that keeps saying "need auth").

// The schemes and the causes of an authentication failure (always L3: the
// target's credentials are refused, as a wrong publish token is).
const (
	// AuthAdobe is authmod=adobe (FMS, Wowza).
	AuthAdobe = "adobe"
	// AuthLLNW is authmod=llnw (Limelight).
	AuthLLNW = "llnw"
	// CauseAuthFailed (L3): the server refused the URL's user or password,
	// or the response to its challenge.
	CauseAuthFailed = "auth_failed"
	// CauseAuthRequired (L3): the server asks for publish authentication and
	// the target URL carries no user:password, or names a scheme fmspush
	// does not speak.
	CauseAuthRequired = "auth_required"
)

// maxAuthDesc bounds what of a rejection's description is read for its
// parameters (libavformat copies 300 bytes).
const maxAuthDesc = 300

// authReject is what a NetConnection.Connect.Rejected description says about
// publish authentication. Its strings are parts of the description.
type authReject struct {
	// Mod is "adobe" or "llnw", empty when the description names neither.
	Mod string
	// NeedAuth: "code=403 need auth", the server wants the scheme and the
	// user first.
	NeedAuth bool
	// Reason is the "?reason=" value: "needauth" (the challenge follows),
	// "authfailed", "nosuchuser", or another word; empty if absent.
	Reason string
	// The challenge's parameters (needauth).
	User, Salt, Challenge, Opaque, Nonce string
	// HasOpaque and HasChallenge tell an empty value from an absent one.
	HasOpaque, HasChallenge bool
}

// parseAuthReject reads a rejection's description the way libavformat does:
// the scheme after "authmod=" (up to a space), the reason, and the
// parameters of "?reason=needauth&k=v&...". It never allocates more than the
// result's fields and reads at most maxAuthDesc bytes of parameters.
func parseAuthReject(desc string) authReject {
	var r authReject
	i := strings.Index(desc, "authmod=adobe")
	if i < 0 {
		i = strings.Index(desc, "authmod=llnw")
	}
	if i < 0 {
		return r
	}
	mod := desc[i+len("authmod="):]
	if sp := strings.IndexByte(mod, ' '); sp >= 0 {
		mod = mod[:sp]
	}
	switch {
	case strings.HasPrefix(mod, AuthAdobe):
		r.Mod = AuthAdobe
	default:
		r.Mod = AuthLLNW
	}
	r.NeedAuth = strings.Contains(desc, "code=403 need auth")
	q := strings.Index(desc, "?reason=")
	if q < 0 {
		return r
	}
	params := desc[q+1:]
	if len(params) > maxAuthDesc {
		params = params[:maxAuthDesc]
	}
	for params != "" {
		var pair string
		pair, params, _ = strings.Cut(params, "&")
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		switch k {
		case "reason":
			r.Reason = v
		case "user":
			r.User = v
		case "salt":
			r.Salt = v
		case "challenge":
			r.Challenge, r.HasChallenge = v, true
		case "opaque":
			r.Opaque, r.HasOpaque = v, true
		case "nonce":
			r.Nonce = v
		}
	}
	return r
}

// adobeResponse is authmod=adobe's response: base64(md5(base64(md5(user +
// salt + password)) + (opaque, or the server's challenge when there is no
// opaque) + the client's challenge)).
func adobeResponse(user, pass, salt, serverToken, clientChallenge string) string {
	h := md5.Sum([]byte(user + salt + pass))
	inner := base64.StdEncoding.EncodeToString(h[:])
	h = md5.Sum([]byte(inner + serverToken + clientChallenge))
	return base64.StdEncoding.EncodeToString(h[:])
}

// llnwResponse is authmod=llnw's response, HTTP digest's MD5 with qop=auth
// over realm "live" and method "publish" on "/APP" ("/APP/_definst_" when
// the app names no instance): hex(md5(HA1:nonce:nc:cnonce:auth:HA2)).
func llnwResponse(user, pass, app, nonce, nc, cnonce string) string {
	uri := "/" + app
	if !strings.Contains(app, "/") {
		uri += "/_definst_"
	}
	ha1 := md5hex(user + ":live:" + pass)
	ha2 := md5hex("publish:" + uri)
	return md5hex(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// clientNonce is 8 lowercase hex digits, as libavformat's "%08x" of a random seed.
func clientNonce() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// urlCredentials is the user and password of an rtmp URL's authority
// ("rtmp://user:pass@host/..."), verbatim as libavformat 5.1 takes them
// (the userinfo before the last '@', cut at its first ':'); ok is false
// unless both are non-empty.
func urlCredentials(raw string) (user, pass string, ok bool) {
	_, rest, found := strings.Cut(raw, "://")
	if !found {
		return "", "", false
	}
	authority, _, _ := strings.Cut(rest, "/")
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return "", "", false
	}
	user, pass, _ = strings.Cut(authority[:at], ":")
	return user, pass, user != "" && pass != ""
}

// clientAuth is a Connect's state of publish authentication: what goes after
// the app and tcUrl, and which rounds were spent.
type clientAuth struct {
	user, pass string
	creds      bool
	query      string // "?authmod=..&user=.." or the response; empty at first
	asked      bool   // the scheme and user were sent
	answered   bool   // a response was sent
}

func newClientAuth(rawURL string) *clientAuth {
	a := &clientAuth{}
	a.user, a.pass, a.creds = urlCredentials(rawURL)
	return a
}

// next decides, from a rejected connect's description, the query of the next
// connect; or the authentication's failure (cause and why, L3); or neither
// (query and cause empty), when the rejection is not about authentication.
// app is the app the response is computed over (llnw). why never holds the
// password.
func (a *clientAuth) next(desc, app string) (query, cause string, why error) {
	r := parseAuthReject(desc)
	if r.Mod == "" {
		return "", "", nil
	}
	if !a.creds {
		return "", CauseAuthRequired, fmt.Errorf("the server asks for authmod=%s publish authentication "+
			"and the target URL carries no user:password", r.Mod)
	}
	switch {
	case r.Reason == "authfailed":
		return "", CauseAuthFailed, fmt.Errorf("authmod=%s: incorrect username or password (reason=authfailed)", r.Mod)
	case r.Reason == "nosuchuser":
		return "", CauseAuthFailed, fmt.Errorf("authmod=%s: incorrect username (reason=nosuchuser)", r.Mod)
	case a.answered:
		return "", CauseAuthFailed, fmt.Errorf("authmod=%s: the server rejected the response to its challenge", r.Mod)
	case r.NeedAuth && a.asked:
		return "", CauseAuthFailed, fmt.Errorf("authmod=%s: the server asked again for the user it was sent", r.Mod)
	case r.NeedAuth:
		a.asked = true
		return "?authmod=" + r.Mod + "&user=" + a.user, "", nil
	case r.Reason != "needauth":
		return "", CauseAuthFailed, fmt.Errorf("authmod=%s: no challenge in the server's rejection", r.Mod)
	}
	a.asked, a.answered = true, true
	cnonce := clientNonce()
	if r.Mod == AuthAdobe {
		token := r.Opaque
		if !r.HasOpaque {
			token = r.Challenge
		}
		q := "?authmod=adobe&user=" + r.User + "&challenge=" + cnonce + "&response=" +
			adobeResponse(r.User, a.pass, r.Salt, token, cnonce)
		if r.HasOpaque {
			q += "&opaque=" + r.Opaque
		}
		return q, "", nil
	}
	const nc = "00000001"
	return "?authmod=llnw&user=" + r.User + "&nonce=" + r.Nonce + "&cnonce=" + cnonce + "&nc=" + nc +
		"&response=" + llnwResponse(r.User, a.pass, app, r.Nonce, nc, cnonce), "", nil
}
