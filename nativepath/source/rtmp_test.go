package source

import (
	"bytes"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
)

// The RTMP pull: ffmpeg publishes the sample to a real nginx-rtmp, the RTMP
// source plays it back into units.
func TestRTMPPullFromNginx(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	n := testpeer.StartNginx(t)
	url := n.AppURL + "/cam"
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-re", "-stream_loop", "-1",
		"-i", testpeer.SamplePath(t), "-c", "copy", "-f", "flv", url)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })

	rec := &recorder{}
	stop := runSource(&Retry{Source: &RTMP{URL: url}, Min: 200 * time.Millisecond}, rec)
	testpeer.Eventually(t, 30*time.Second, "two keyframes and audio over RTMP", func() bool {
		k, a := rec.count()
		return k >= 2 && a >= 50
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkUnits(t, rec)
	decodesCleanly(t, rec, "h264", 640, 360, true)
}

// The stream name (last segment plus query) moves into the fragment, where
// gortmplib's client takes it; the app stays in the path.
func TestPlayURL(t *testing.T) {
	for in, want := range map[string][2]string{
		"rtmp://h:1935/live/cam":         {"/live", "cam"},
		"rtmp://h/live/cam?token=x":      {"/live", "cam?token=x"},
		"rtmps://u:p@h/app/inst/key?a=b": {"/app/inst", "key?a=b"},
		"RTMP://h/live":                  {"/live", ""},
	} {
		u, err := playURL(in)
		if err != nil {
			t.Fatal(err)
		}
		if u.Path != want[0] || u.Fragment != want[1] || u.Scheme != strings.ToLower(in[:strings.Index(in, ":")]) {
			t.Errorf("%s: got path %q fragment %q scheme %q", in, u.Path, u.Fragment, u.Scheme)
		}
	}
}

// A stream nobody publishes: the error is redacted.
func TestRTMPDownRedacted(t *testing.T) {
	err := (&RTMP{URL: "rtmp://" + freeAddr(t) + "/live/secretkey?token=abc", ReadTimeout: 2 * time.Second}).
		Run(t.Context(), &recorder{})
	if err == nil || strings.Contains(err.Error(), "secretkey") || strings.Contains(err.Error(), "abc") {
		t.Fatalf("want a redacted error, got %v", err)
	}
}
