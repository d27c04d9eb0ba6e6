package ffmpegpath

import (
	"context"
	"encoding/json"
	"os/exec"
	"syscall"
	"time"

	"github.com/fmspush/fmspush/media"
)

// probeTimeout bounds the ffprobe of a source.
const probeTimeout = 10 * time.Second

// sourceInfo returns what is known of the source's audio. It is needed only
// when the audio policy depends on it; the answer of ffprobe is cached
// until a push fails at the source, so that a failover to this path does not
// wait for a probe. A failed probe is not cached and yields the
// conservative SourceInfo{Known: false}.
func (e *Exec) sourceInfo(ctx context.Context, s Settings) SourceInfo {
	if s.Audio == media.AudioDrop || s.Audio == media.AudioSilent {
		return SourceInfo{}
	}
	e.mu.Lock()
	cached := e.probe
	e.mu.Unlock()
	if cached != nil {
		return *cached
	}
	info, err := ProbeSource(ctx, s.FFprobePath, inputOf(s), s.IOTimeout)
	if err != nil {
		s.Logger.Warn("source probe failed; audio is mapped if present and transcoded to AAC", "error", NewRedactor(s.Source, s.Target, s.RTMPPlayPath).Text(err.Error()))
		return SourceInfo{}
	}
	e.mu.Lock()
	e.probe = &info
	e.mu.Unlock()
	return info
}

func (e *Exec) forgetProbe() {
	e.mu.Lock()
	e.probe = nil
	e.mu.Unlock()
}

// inputOf is what ffmpeg reads for the source.
func inputOf(s Settings) string {
	if s.Source == SampleSource {
		return s.SampleFile
	}
	return s.Source
}

// ProbeSource asks ffprobe for the streams of input and reports its first
// audio stream.
func ProbeSource(ctx context.Context, ffprobe, input string, ioTimeout time.Duration) (SourceInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	args := []string{"-v", "error", "-show_streams", "-of", "json"}
	switch KindOf(input) {
	case SourceRTSP:
		args = append(args, "-rtsp_transport", "tcp", "-timeout", micros(ioTimeout))
	case SourceRTMP, SourceNetwork:
		args = append(args, "-rw_timeout", micros(ioTimeout))
	}
	cmd := exec.CommandContext(ctx, ffprobe, append(args, input)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.Output()
	if err != nil {
		return SourceInfo{}, err
	}
	var doc struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			CodecName string `json:"codec_name"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return SourceInfo{}, err
	}
	info := SourceInfo{Known: true}
	for _, st := range doc.Streams {
		if st.CodecType == "audio" {
			info.HasAudio, info.AudioCodec = true, st.CodecName
			break
		}
	}
	return info, nil
}
