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
	return startNMS(t, "node-media-server "+NMSVersion, "nms.json")
}

// startNMS starts node-media-server named name with the committed config
// file conf.
func startNMS(t testing.TB, name, conf string) *Server {
	t.Helper()
	node := os.Getenv("FMSPUSH_NODE")
	if node == "" {
		Need(t, "node")
		node = "node"
	}
	app := filepath.Join(PeersDir(), "nms-"+NMSVersion, "node_modules", "node-media-server", "bin", "app.js")
	needPeerFile(t, app, "node-media-server "+NMSVersion)
	s := &Server{Name: name, Port: FreePort(t), Dir: t.TempDir()}
	s.AppURL = fmt.Sprintf("rtmp://127.0.0.1:%d/live", s.Port)
	path := writeConfig(t, s.Dir, conf)
	return startServer(t, s, exec.Command(node, app, "-c", path, "--bind", "127.0.0.1", "--rtmp-port", strconv.Itoa(s.Port)))
}
