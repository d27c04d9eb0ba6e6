package testpeer

import (
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNginxAcceptsFFmpegPublish(t *testing.T) {
	Need(t, "ffmpeg")
	n := StartNginx(t)
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-t", "2",
		"-i", SamplePath(t), "-c", "copy", "-f", "flv", n.AppURL+"/peer")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "ffmpeg publish: %s", out)
	p := FFprobe(t, n.Recording("peer"))
	v := p.Video()
	require.True(t, v != nil && v.CodecName == "h264" && v.Width == 640, "recording has no 640-wide h264: %+v", p.Streams)
}

func TestFFmpegListenReceives(t *testing.T) {
	l := StartFFmpegListen(t)
	cmd := exec.Command("ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-t", "1",
		"-i", SamplePath(t), "-c", "copy", "-f", "flv", l.URL)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "ffmpeg publish: %s", out)
	p := FFprobe(t, l.Wait(t, 20*time.Second))
	a := p.Audio()
	require.True(t, a != nil && a.CodecName == "aac", "no aac received: %+v", p.Streams)
}
