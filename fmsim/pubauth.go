package fmsim

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"sync"
	"time"
)

// The server side of publish authentication in connect (adobe_auth,
// llnw_auth), as FMS and Wowza (authmod=adobe) and Limelight (authmod=llnw)
// answer ffmpeg's libavformat:
//
//  1. a connect whose app names no scheme is rejected with
//     "[ AccessManager.Reject ] : [ code=403 need auth; authmod=MOD ] : ";
//  2. "app?authmod=MOD&user=USER" is rejected with the challenge,
//     "[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth&user=USER&salt=S&challenge=C&opaque=O"
//     (llnw: "?reason=needauth&user=USER&nonce=N"), or "?reason=nosuchuser";
//  3. the response is checked against an opaque (nonce) the server issued and
//     has not seen used: a match connects, anything else is "?reason=authfailed".
//
// Every rejection ends the session (the client reconnects), with an L3
// Outcome of rule adobe_auth or llnw_auth. Descriptions stay under the 255
// bytes libavformat reads of one.

// The Outcome causes of publish authentication.
const (
	causeAuthNeeded    = "auth_needed"    // step 1: the scheme asked for
	causeAuthChallenge = "auth_challenge" // step 2: the challenge sent
	causeAuthFailed    = "auth_failed"    // a wrong user, password, response or opaque
)

const (
	authRejectPrefix = "[ AccessManager.Reject ] : "
	// nonceTTL bounds how long an issued opaque or nonce may be answered.
	nonceTTL = 2 * time.Minute
	// maxNonces bounds the challenges outstanding; the oldest go first.
	maxNonces = 4096
	// maxEcho bounds the user name echoed in a description.
	maxEcho = 64
)

// authChallenge is an issued challenge, keyed by its opaque (adobe) or nonce (llnw).
type authChallenge struct {
	mod, user, challenge string
	issued               time.Time
}

// nonces are the challenges a Server issued and that were not answered yet.
type nonces struct {
	mu    sync.Mutex
	byKey map[string]authChallenge
	order []string
	salt  string // the adobe salt of this server: per user in FMS, one here
}

func (n *nonces) issue(c authChallenge) string {
	key := randomToken()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byKey == nil {
		n.byKey = map[string]authChallenge{}
	}
	for len(n.order) >= maxNonces {
		delete(n.byKey, n.order[0])
		n.order = n.order[1:]
	}
	n.byKey[key] = c
	n.order = append(n.order, key)
	return key
}

// take returns and forgets the challenge issued under key, if it is fresh.
func (n *nonces) take(key string, now time.Time) (authChallenge, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.byKey[key]
	if !ok {
		return c, false
	}
	delete(n.byKey, key)
	for i, k := range n.order {
		if k == key {
			n.order = append(n.order[:i], n.order[i+1:]...)
			break
		}
	}
	return c, now.Sub(c.issued) <= nonceTTL
}

func (n *nonces) adobeSalt() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.salt == "" {
		n.salt = randomToken()
	}
	return n.salt
}

// randomToken is 8 random bytes in URL-safe base64 without padding (11
// characters, none of them '&', '=', '?' or ' ').
func randomToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// authVerdict is the emulator's answer to a connect under publish auth: the
// description of the rejection (empty: accepted), the rule, the Outcome's
// cause and its detail (which never holds a password or a response).
type authVerdict struct {
	desc, rule, cause, detail string
}

// authQuery splits a connect's app ("live?authmod=adobe&user=u&...") into
// the bare app and its parameters, verbatim (base64 responses carry '+' and
// '/', which a URL decoder would change). The tcUrl's query is used when
// the app has none.
func authQuery(app, tcURL string) (bare string, params map[string]string) {
	bare, q, ok := strings.Cut(app, "?")
	if !ok {
		_, q, _ = strings.Cut(tcURL, "?")
	}
	params = map[string]string{}
	for _, pair := range strings.Split(q, "&") {
		if k, v, ok := strings.Cut(pair, "="); ok {
			if _, seen := params[k]; !seen {
				params[k] = v
			}
		}
	}
	return bare, params
}

// checkPublishAuth applies adobe_auth and llnw_auth to a connect.
func (s *Server) checkPublishAuth(r *Rules, app, tcURL string) authVerdict {
	if r.AdobeAuth == "" && r.LLNWAuth == "" {
		return authVerdict{}
	}
	bare, q := authQuery(app, tcURL)
	mod, creds, rule := "adobe", r.AdobeAuth, "adobe_auth"
	if r.AdobeAuth == "" || (q["authmod"] == "llnw" && r.LLNWAuth != "") {
		mod, creds, rule = "llnw", r.LLNWAuth, "llnw_auth"
	}
	wantUser, pass, _ := strings.Cut(creds, ":")
	head := authRejectPrefix + "[ authmod=" + mod + " ] : "
	user := q["user"]
	echo := user
	if len(echo) > maxEcho {
		echo = echo[:maxEcho]
	}
	switch {
	case q["authmod"] != mod:
		return authVerdict{desc: authRejectPrefix + "[ code=403 need auth; authmod=" + mod + " ] : ", rule: rule,
			cause: causeAuthNeeded, detail: "connect without authmod=" + mod + ": authentication asked for"}
	case user != wantUser:
		return authVerdict{desc: head + "?reason=nosuchuser&user=" + echo, rule: rule, cause: causeAuthFailed,
			detail: "no such user"}
	case q["response"] == "" && mod == "adobe":
		c := authChallenge{mod: mod, user: user, challenge: randomToken(), issued: time.Now()}
		opaque := s.nonces.issue(c)
		return authVerdict{desc: head + "?reason=needauth&user=" + echo + "&salt=" + s.nonces.adobeSalt() +
			"&challenge=" + c.challenge + "&opaque=" + opaque, rule: rule, cause: causeAuthChallenge,
			detail: "challenge sent"}
	case q["response"] == "":
		nonce := s.nonces.issue(authChallenge{mod: mod, user: user, issued: time.Now()})
		return authVerdict{desc: head + "?reason=needauth&user=" + echo + "&nonce=" + nonce, rule: rule,
			cause: causeAuthChallenge, detail: "challenge sent"}
	}
	key := q["opaque"]
	if mod == "llnw" {
		key = q["nonce"]
	}
	c, fresh := s.nonces.take(key, time.Now())
	failed := authVerdict{desc: head + "?reason=authfailed", rule: rule, cause: causeAuthFailed}
	switch {
	case key == "" || c.mod != mod || c.user != user:
		failed.detail = "the response names no challenge this server issued"
		return failed
	case !fresh:
		failed.detail = "the challenge expired"
		return failed
	}
	var want string
	if mod == "adobe" {
		want = adobeExpected(user, pass, s.nonces.adobeSalt(), key, q["challenge"])
	} else {
		want = llnwExpected(user, pass, bare, key, q["nc"], q["cnonce"])
	}
	if subtle.ConstantTimeCompare([]byte(q["response"]), []byte(want)) != 1 {
		failed.detail = "wrong response (wrong password)"
		return failed
	}
	return authVerdict{}
}

// adobeExpected is the response FMS expects for authmod=adobe: the user's
// stored hash base64(md5(user+salt+password)), then base64(md5(that +
// opaque + the client's challenge)).
func adobeExpected(user, pass, salt, opaque, clientChallenge string) string {
	stored := md5.Sum([]byte(user + salt + pass))
	sum := md5.Sum([]byte(base64.StdEncoding.EncodeToString(stored[:]) + opaque + clientChallenge))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// llnwExpected is the digest Limelight expects for authmod=llnw (RFC 2617,
// qop=auth, realm "live", method "publish", URI "/APP" or
// "/APP/_definst_" when the app names no instance).
func llnwExpected(user, pass, app, nonce, nc, cnonce string) string {
	uri := "/" + app
	if !strings.Contains(app, "/") {
		uri += "/_definst_"
	}
	ha1 := md5.Sum([]byte(user + ":live:" + pass))
	ha2 := md5.Sum([]byte("publish:" + uri))
	sum := md5.Sum([]byte(hex.EncodeToString(ha1[:]) + ":" + nonce + ":" + nc + ":" + cnonce + ":auth:" + hex.EncodeToString(ha2[:])))
	return hex.EncodeToString(sum[:])
}
