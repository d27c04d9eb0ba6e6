package testpeer

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
)

// StartLalRTSP starts lal (as StartLal) with testdata/lal_rtsp.json: RTMP
// in, and lal's RTSP server on a second free port of 127.0.0.1. Publish to
// AppURL/NAME; PlayURL(NAME) is rtsp://127.0.0.1:RTSPPORT/live/NAME, what
// lal remuxed from the RTMP publish (an H.265 publish plays back there for
// ffprobe, whose FLV demuxer in ffmpeg 5.1 reads no H.265), and
// AppURL/NAME plays the RTMP stream as lal relays it.
func StartLalRTSP(t testing.TB) *Server {
	t.Helper()
	bin := filepath.Join(PeersDir(), "bin", "lalserver-"+LalVersion)
	needPeerFile(t, bin, "lal "+LalVersion)
	s := &Server{Name: "lal " + LalVersion + " (RTSP out)", Port: FreePort(t), Dir: t.TempDir()}
	s.AppURL = fmt.Sprintf("rtmp://127.0.0.1:%d/live", s.Port)
	rtsp := FreePort(t)
	s.playURL = func(name string) string { return fmt.Sprintf("rtsp://127.0.0.1:%d/live/%s", rtsp, name) }
	conf := writeConfig(t, s.Dir, "lal_rtsp.json", "@RTMP_ADDR@", s.Addr(), "@RTSP_ADDR@", fmt.Sprintf("127.0.0.1:%d", rtsp))
	return startServer(t, s, exec.Command(bin, "-c", conf))
}
