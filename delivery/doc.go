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
// window the peer advertises (tcpi_snd_wnd) shrinks by every byte its application has not
// read. So the Meter keeps the largest window seen on the connection and counts
//
//	Backlog = max window seen - current window (0 if negative)
//	Taken   = Acked - Backlog (never decreasing: the largest value computed so far)
//
// Taken stops advancing the moment the server application stops reading, whatever the buffer
// sizes and whatever the bitrate.
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
// Lag is the media duration written but not yet taken: the caller marks the byte offset at
// which each piece of media ends ([Meter.Mark]) and the Meter subtracts the timestamp of the
// newest mark at or below Taken from the last marked timestamp. Throughput is the growth of
// Taken over about the last two seconds. Every buffer the Meter keeps is bounded.
//
// Samples come from a connection of this process ([ReadConn]: getsockopt TCP_INFO and ioctl
// SIOCOUTQ) or from another process's socket ([ReadProcess]: /proc/PID/fd and a sock_diag
// dump), so the judgement applies equally to the native publisher and to an ffmpeg child.
package delivery
