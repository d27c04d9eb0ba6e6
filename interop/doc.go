// Package interop holds tests only: both push paths (nativepath and
// ffmpegpath's exec driver) publishing to RTMP servers that
// internal/testpeer starts (nginx-rtmp, lal, go2rtc, node-media-server),
// checked by what each server plays back to ffprobe: the scenarios (the
// sample, a video-only source with silent AAC added, an auth query; one
// minute each, all at once), a server restart mid-stream, and the layered
// probe. docs/compatibility.md names these tests. FMSPUSH_INTEROP_DURATION
// shortens the scenarios for local runs.
package interop
