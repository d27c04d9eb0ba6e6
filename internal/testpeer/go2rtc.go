package testpeer

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// Go2RTCVersion is the go2rtc release scripts/peers.sh builds
// (tools/peers/go.mod).
const Go2RTCVersion = "v1.9.9"

// StartGo2RTC starts go2rtc on a free port of 127.0.0.1 with
// testdata/go2rtc.yaml: RTMP only, its API, RTSP, WebRTC and SRTP listeners
// off. go2rtc keys a stream by the RTMP application, so it holds one stream,
// "live": publish to AppURL/NAME (NAME is ignored by the server) and play
// from PlayURL(NAME), which is rtmp://127.0.0.1:PORT/live.
func StartGo2RTC(t testing.TB) *Server {
	t.Helper()
	bin := filepath.Join(PeersDir(), "bin", "go2rtc-"+Go2RTCVersion)
	needPeerFile(t, bin, "go2rtc "+Go2RTCVersion)
	s := &Server{Name: "go2rtc " + Go2RTCVersion, Port: FreePort(t), Dir: t.TempDir()}
	s.AppURL = fmt.Sprintf("rtmp://127.0.0.1:%d/live", s.Port)
	s.playURL = func(string) string { return s.AppURL }
	conf := writeConfig(t, s.Dir, "go2rtc.yaml", "@RTMP_ADDR@", s.Addr())
	return startServer(t, s, exec.Command(bin, "-c", conf))
}
