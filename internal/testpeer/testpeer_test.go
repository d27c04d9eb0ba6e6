package testpeer

import (
	"os/exec"
	"testing"
	"time"
)

func TestNginxAcceptsFFmpegPublish(t *testing.T) {
	Need(t, "ffmpeg")
	n := StartNginx(t)
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-t", "2",
		"-i", SamplePath(t), "-c", "copy", "-f", "flv", n.AppURL+"/peer")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg publish: %v: %s", err, out)
	}
	p := FFprobe(t, n.Recording("peer"))
	if v := p.Video(); v == nil || v.CodecName != "h264" || v.Width != 640 {
		t.Fatalf("recording has no 640-wide h264: %+v", p.Streams)
	}
}

func TestFFmpegListenReceives(t *testing.T) {
	l := StartFFmpegListen(t)
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-t", "1",
		"-i", SamplePath(t), "-c", "copy", "-f", "flv", l.URL)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg publish: %v: %s", err, out)
	}
	p := FFprobe(t, l.Wait(t, 20*time.Second))
	if a := p.Audio(); a == nil || a.CodecName != "aac" {
		t.Fatalf("no aac received: %+v", p.Streams)
	}
}
