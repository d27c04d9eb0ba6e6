// Package interop holds tests only: both push paths (nativepath and
// ffmpegpath's exec driver) publishing to independent RTMP servers that
// internal/testpeer starts (lal, go2rtc, node-media-server), and what each
// server plays back. docs/compatibility.md names these tests.
package interop
