package ffmpegpath

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/rtmp"
)

// refuseWindow bounds how soon after the publish opened a failed write
// reads as the server taking the publish back (L3 publish_refused), unless
// the failed write was ffmpeg's first video frame. ffmpeg notices a close
// at its next write, which first reads what the server sent: against lal
// (a reset) the first video frame fails, 0-60 ms after the output opened;
// against node-media-server (a close, the server still reading) the third,
// 78-114 ms after (loopback, -race). A server that rejects the first frame
// shows later (315 ms and 7 frames in testdata/l5_reset_after_first_frame).
const refuseWindow = 200 * time.Millisecond

// refusedVerdict is the L3 verdict for a publish the server accepted and
// took back at once, when the target's name carries credentials in its
// query: how lal's simple_auth and node-media-server's signed URLs refuse a
// wrong or expired signature (both answer NetStream.Publish.Start, then
// close). At once means within refuseWindow of the output opening, or at
// ffmpeg's first video frame (its count of muxed video packets is 1: the
// close had arrived before the server could have judged a frame) within a
// second. nil otherwise.
func refusedVerdict(e Exit, st *stages, published time.Time) *health.Verdict {
	at := st.writeErr.At
	since := at.Sub(published)
	if first := videoPacketsMuxed(e) == 1; since > time.Second || (since > refuseWindow && !first) {
		return nil
	}
	names := []string{e.PlayPath}
	if t, err := rtmp.ParseURL(e.Target); err == nil {
		names = append(names, t.App, t.StreamName)
	}
	if !rtmp.CredentialsInName(names...) {
		return nil
	}
	return verdict(e, st, health.LayerPublish, rtmp.CausePublishRefused, at, fmt.Sprintf(
		"the server ended the connection %d ms after the publish opened, too soon to have judged the media: it refused "+
			"the publish's authentication (a wrong or expired signature or secret in the target's query; lal and "+
			"node-media-server accept the publish, then close), or the name is held by another publisher: %s",
		since.Milliseconds(), st.writeErr.Msg))
}

// videoPacketsMuxed is ffmpeg's count of video packets muxed into the
// output at its exit ("Output stream #0:0 (video): N packets muxed"), or -1
// when ffmpeg did not print it.
func videoPacketsMuxed(e Exit) int {
	for _, l := range e.Lines {
		rest, ok := strings.CutPrefix(strings.TrimSpace(l.Msg), "Output stream #0:")
		if !ok {
			continue
		}
		_, rest, ok = strings.Cut(rest, " (video): ")
		if !ok {
			continue
		}
		n, _, ok := strings.Cut(rest, " packets muxed")
		if v, err := strconv.Atoi(n); ok && err == nil {
			return v
		}
	}
	return -1
}
