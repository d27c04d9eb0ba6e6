// Package delivery measures what a TCP peer has taken, from the kernel's own accounting.
//
// A publisher that only sees its own successful write calls reports "live" for as long as
// the socket buffers keep accepting bytes: against a hung server that is a minute or more.
// This package reads TCP's accounting of a socket instead (a [Sample]: bytes acknowledged,
// bytes still queued, the peer's advertised window and the round trip) and a [Meter] turns
// successive samples into a [Reading]: how many bytes the server application has taken,
// how long it has taken nothing while newer data waited, the media lag and the throughput.
//
// # The judgement
//
// When the server application stops reading, its kernel still acknowledges data until its
// receive buffer is full, so the acknowledged byte count alone keeps advancing for
// buffer/bitrate seconds: seconds with a default buffer, far longer with a large one. But the
// window the peer advertises (tcpi_snd_wnd) shrinks by the bytes its application has not
// read. So the Meter keeps the largest window seen on the connection and counts
//
//	Backlog = max window seen - current window (0 if negative)
//	Taken   = Acked - Backlog (never decreasing: the largest value computed so far)
//
// Taken is the right edge of the peer's window (Acked + window) less a constant: it advances
// when the peer's kernel, having room again, moves its window forward.
//
// A Linux receiver sends a window update after a read only when the window at least doubles,
// so a reduced window that is stale is normal once the sender goes idle: the last bytes were
// acknowledged before the application read them, and nothing tells us it did. Therefore the
// stall clock runs only while all of these hold:
//
//   - Taken has not advanced,
//   - more bytes were handed to TCP after Taken last advanced (Sent now > Sent then),
//   - bytes are pending (Sent - Taken > 0),
//
// and it counts time only up to the latest sample that showed the writer active (Sent grew
// since the previous sample, or bytes are still queued in TCP). StalledFor is measured from the
// sample at which Taken last advanced (or nothing waited) to that latest active sample. An idle
// writer (a paused source) never accrues stall time beyond the single sample interval in which
// it last wrote; a writer blocked by a full send buffer keeps bytes queued and so keeps the
// clock running. A reading is Stalled once StalledFor reaches StallTimeout.
//
// # Where the window tells nothing
//
// A Linux receiver advertises min(free space, rcv_ssthresh), scaled by its estimate of
// payload per buffer byte, and never moves the window's right edge back. So unread bytes
// shrink the window only once free space is what bounds it, and a window promised earlier
// shrinks by every byte received, read or not. Measured on loopback (Linux 6.18, StallTimeout
// 1 s, a sample every 100 ms, the reader stopping after 2 s; TestLoopback):
//
//   - 4 Mbit/s, default receive buffer: Stalled 1.3-1.4 s after the reader stopped
//     (bytes_acked stopped after 0.3 s, when the 107 KB window closed).
//   - 0.5 Mbit/s, default receive buffer: the 64 KB window is capped below the free space, so
//     it hardly moves for 0.9 s; then it shrinks by about 80% of each byte. Stalled after
//     3.0-3.2 s: what bytes_acked alone tells (it stopped after 2.0-2.1 s).
//   - 4 MB SO_RCVBUF, 4 Mbit/s: the window shrinks by 87% of each unread byte, so Taken keeps
//     advancing at 13% of the bitrate: not Stalled within 6 s, but Throughput falls to about
//     0.5 Mbit/s and Lag grows.
//   - 4 MB SO_RCVBUF, 0.5 Mbit/s: the window promised at the handshake (4.19 MB) shrinks by
//     every byte received even while the application reads, for the first 520 KB (8 s at
//     this bitrate), so reading and not reading look the same from the sender: not Stalled
//     within 6 s (Taken creeps at 2% of the bitrate). On a healthy flow the window then holds
//     steady, Taken advances at the bitrate again, and Backlog stays overstated by those
//     520 KB (Lag about 8 s).
//
// No healthy flow (10 s, both bitrates, both buffers) was ever judged stalled. So Stalled
// errs towards late, never early; Backlog can be overstated by a large buffer's promised
// window, and is exact only once the peer's free space bounds its window. Where the window
// tells nothing, the Meter is no worse than bytes_acked: once the window closes, Acked stops,
// Taken stops, and bytes wait in TCP. An exact answer needs the server application's own
// word: RTMP Acknowledgements at a window the publisher asks for (the native path does).
//
// Lag is the media duration written but not yet acknowledged by the server's TCP: the caller
// marks the byte offset at which each piece of media ends ([Meter.Mark]) and the Meter
// subtracts the timestamp of the newest mark at or below Acked from the last marked timestamp.
// It is measured against Acked rather than Taken so that an overstated Backlog never shows as
// a slow uplink (and drops frames): what a slow uplink fills is the sender's own queue and the
// path. Throughput is the growth of Acked over about the last two seconds: what the uplink
// delivers. DrainRate is the same growth per second of TCP's busy time (tcpi_busy_time: data
// waiting or unacknowledged): the rate a queue drains at, which the moments the writer had
// nothing to send do not lower. Every buffer the Meter keeps is bounded.
//
// Samples come from a connection of this process ([ReadConn]: getsockopt TCP_INFO and ioctl
// SIOCOUTQ) or from another process's socket ([ReadProcess]: /proc/PID/fd and a sock_diag
// dump), so the judgement applies equally to the native publisher and to an ffmpeg child.
package delivery
