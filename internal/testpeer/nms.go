package testpeer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// NMSVersion is the node-media-server release scripts/peers.sh installs
// from npm.
const NMSVersion = "4.4.3"

// StartNMS starts node-media-server on a free port of 127.0.0.1 with
// testdata/nms.json: RTMP only (no HTTP, HTTPS, RTMPS, web admin). Publish
// to AppURL/NAME, play from PlayURL(NAME). The node binary is $FMSPUSH_NODE,
// by default "node" from PATH (Debian 12's nodejs 18 in CI).
func StartNMS(t testing.TB) *Server {
	t.Helper()
	node := os.Getenv("FMSPUSH_NODE")
	if node == "" {
		Need(t, "node")
		node = "node"
	}
	app := filepath.Join(PeersDir(), "nms-"+NMSVersion, "node_modules", "node-media-server", "bin", "app.js")
	needPeerFile(t, app, "node-media-server "+NMSVersion)
	s := &Server{Name: "node-media-server " + NMSVersion, Port: FreePort(t), Dir: t.TempDir()}
	s.AppURL = fmt.Sprintf("rtmp://127.0.0.1:%d/live", s.Port)
	conf := writeConfig(t, s.Dir, "nms.json")
	return startServer(t, s, exec.Command(node, app, "-c", conf, "--bind", "127.0.0.1", "--rtmp-port", strconv.Itoa(s.Port)))
}
