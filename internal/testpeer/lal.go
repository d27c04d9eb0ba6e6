package testpeer

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// LalVersion is the lal release scripts/peers.sh builds (tools/peers/go.mod).
const LalVersion = "v0.37.4"

// StartLal starts lal's lalserver on a free port of 127.0.0.1 with
// testdata/lal.json: RTMP only, every other listener off. Publish to
// AppURL/NAME, play from PlayURL(NAME).
func StartLal(t testing.TB) *Server {
	t.Helper()
	bin := filepath.Join(PeersDir(), "bin", "lalserver-"+LalVersion)
	needPeerFile(t, bin, "lal "+LalVersion)
	s := &Server{Name: "lal " + LalVersion, Port: FreePort(t), Dir: t.TempDir()}
	s.AppURL = fmt.Sprintf("rtmp://127.0.0.1:%d/live", s.Port)
	conf := writeConfig(t, s.Dir, "lal.json", "@RTMP_ADDR@", s.Addr())
	return startServer(t, s, exec.Command(bin, "-c", conf))
}
