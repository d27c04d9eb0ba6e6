package testpeer

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
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
	s := startGo2RTC(t, []string{"live"})
	s.playURL = func(string) string { return s.AppURL }
	return s
}

// go2rtcName is what a go2rtc stream name may be here: it is written into
// the YAML config unquoted.
var go2rtcName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// StartGo2RTCStreams starts go2rtc like StartGo2RTC with one stream per
// name, so that several publishers can share the server. go2rtc names a
// stream by the RTMP application (it ignores the stream name and its
// query), and it refuses applications its config does not list: PublishURL(NAME)
// is rtmp://127.0.0.1:PORT/NAME/NAME and PlayURL(NAME) is
// rtmp://127.0.0.1:PORT/NAME. AppURL publishes to the first name.
func StartGo2RTCStreams(t testing.TB, names ...string) *Server {
	t.Helper()
	if len(names) == 0 {
		t.Fatal("StartGo2RTCStreams: no stream name")
	}
	s := startGo2RTC(t, names)
	base := fmt.Sprintf("rtmp://127.0.0.1:%d/", s.Port)
	s.AppURL = base + names[0]
	s.publishURL = func(name string) string { return base + name + "/" + name }
	s.playURL = func(name string) string { return base + name }
	return s
}

// startGo2RTC starts go2rtc with a config listing the streams names.
func startGo2RTC(t testing.TB, names []string) *Server {
	t.Helper()
	bin := filepath.Join(PeersDir(), "bin", "go2rtc-"+Go2RTCVersion)
	needPeerFile(t, bin, "go2rtc "+Go2RTCVersion)
	var streams strings.Builder
	for _, n := range names {
		if !go2rtcName.MatchString(n) {
			t.Fatalf("go2rtc stream name %q: want lower-case letters, digits, - and _", n)
		}
		fmt.Fprintf(&streams, "  %s: []\n", n)
	}
	s := &Server{Name: "go2rtc " + Go2RTCVersion, Port: FreePort(t), Dir: t.TempDir()}
	s.AppURL = fmt.Sprintf("rtmp://127.0.0.1:%d/live", s.Port)
	conf := writeConfig(t, s.Dir, "go2rtc.yaml", "@RTMP_ADDR@", s.Addr(), "@STREAMS@\n", streams.String())
	return startServer(t, s, exec.Command(bin, "-c", conf))
}
