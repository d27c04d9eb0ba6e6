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
// may read as the server taking the publish back (L3 publish_refused).
// ffmpeg notices a close only at a write or a poll: 0-110 ms after its
// output opened against lal and node-media-server (measured on loopback).
// Without ffmpeg's count of muxed packets (the libav driver), only a
// failure within refuseWindow counts.
const refuseWindow = 200 * time.Millisecond

// refusedVerdict is the L3 verdict for a publish the server accepted and
// took back at once, when the target's name carries credentials in its
// query: how lal's simple_auth and node-media-server's signed URLs refuse a
// wrong or expired signature (both answer NetStream.Publish.Start, then
// close). At once means that ffmpeg's first video frame was the write that
// failed (its count of muxed video packets is at most 1: the close had
// arrived before the server could have judged a frame; a server that
// rejects the first frame is seen some frames later), within a second of
// the output opening; or, without that count, within refuseWindow. nil
// otherwise.
func refusedVerdict(e Exit, st *stages, published time.Time) *health.Verdict {
	at := st.writeErr.At
	since := at.Sub(published)
	switch n := videoPacketsMuxed(e); {
	case n < 0 && since > refuseWindow, n > 1, since > time.Second:
		return nil
	}
	names := []string{e.PlayPath}
	if t, err := rtmp.ParseURL(e.Target); err == nil {
		names = append(names, t.App, t.StreamName)
	}
	if !rtmp.CredentialsInName(names...) {
		return nil
	}
	return verdict(e, st, rtmp.LayerPublish, rtmp.CausePublishRefused, at, fmt.Sprintf(
		"the server ended the connection %d ms after the publish opened, at ffmpeg's first video frame: it refused "+
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
