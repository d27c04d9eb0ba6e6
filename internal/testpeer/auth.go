package testpeer

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// LalAuthKey is the simple_auth key of testdata/lal_auth.json.
const LalAuthKey = "fmspush-auth-test-key"

// NMSAuthSecret is the auth secret of testdata/nms_auth.json.
const NMSAuthSecret = "fmspush-auth-test-secret"

// StartLalAuth starts lal (as StartLal) with testdata/lal_auth.json:
// simple_auth on for RTMP publishes, off for plays. A publish is accepted
// when its name's query carries lal_secret=LalSecret(LalAuthKey, NAME).
// lal answers every publish with NetStream.Publish.Start and closes the
// connection right after it when the secret is missing or wrong.
func StartLalAuth(t testing.TB) *Server {
	t.Helper()
	bin := filepath.Join(PeersDir(), "bin", "lalserver-"+LalVersion)
	needPeerFile(t, bin, "lal "+LalVersion)
	s := &Server{Name: "lal " + LalVersion + " (simple_auth)", Port: FreePort(t), Dir: t.TempDir()}
	s.AppURL = fmt.Sprintf("rtmp://127.0.0.1:%d/live", s.Port)
	conf := writeConfig(t, s.Dir, "lal_auth.json", "@RTMP_ADDR@", s.Addr())
	return startServer(t, s, exec.Command(bin, "-c", conf))
}

// LalSecret is lal v0.37.4's simple_auth secret of a stream name: the hex
// MD5 of key followed by the name (pkg/logic SimpleAuthCalcSecret). It has
// no expiry: the same name always has the same secret. The publish URL
// carries it as ?lal_secret=SECRET.
func LalSecret(key, name string) string {
	sum := md5.Sum([]byte(key + name))
	return hex.EncodeToString(sum[:])
}

// StartNMSAuth starts node-media-server (as StartNMS) with
// testdata/nms_auth.json: publish authentication on (auth.publish, secret
// NMSAuthSecret), play open. A publish is accepted when its name's query
// carries sign=NMSSign(...) with an expiry still ahead; otherwise the
// server answers NetStream.Publish.Start and ends the connection.
func StartNMSAuth(t testing.TB) *Server {
	t.Helper()
	return startNMS(t, "node-media-server "+NMSVersion+" (auth)", "nms_auth.json")
}

// NMSSign is node-media-server 4.4.3's signed-URL value for publishing (or
// playing) /APP/NAME until expiry: "EXPIRY-HASH", EXPIRY in Unix seconds and
// HASH the hex MD5 of "/APP/NAME-EXPIRY-SECRET" (BroadcastServer.verifyAuth).
// The URL carries it as ?sign=EXPIRY-HASH; the server refuses it once
// EXPIRY is past.
func NMSSign(app, name, secret string, expiry time.Time) string {
	exp := strconv.FormatInt(expiry.Unix(), 10)
	sum := md5.Sum([]byte("/" + app + "/" + name + "-" + exp + "-" + secret))
	return exp + "-" + hex.EncodeToString(sum[:])
}
