// Package tap relays an ffmpeg RTMP publish through this process so that
// the ffmpeg path learns what the server's application read, as the native
// path does, without touching ffmpeg or the native RTMP stack.
//
// # Why
//
// A server that stops reading keeps its kernel acknowledging into its
// receive buffer, so TCP's evidence of ffmpeg's socket shows a stall late
// (5-7 s, or 30 s at 0.5 Mbit/s against a large buffer: delivery's package
// documentation). The native path asks the server for RTMP Acknowledgements
// (a Window Acknowledgement Size after connect) and judges from them; ffmpeg,
// as a client, never sends that message, so servers never acknowledge it.
//
// # What the relay does
//
// A [Relay] listens on 127.0.0.1, takes ffmpeg's one connection (ffmpeg is
// pointed at rtmp://ADDR/app/name with -rtmp_tcurl set to the real tcUrl:
// [ParseTarget] and [Target.LocalURL]), dials the real server (TLS for
// rtmps) and forwards the bytes both ways, each direction's writes owned by
// one goroutine. Past the handshakes it follows both chunk streams only as
// far as chunk and message boundaries (basic and message headers, extended
// timestamps, each chunk stream's length and type, SetChunkSize and Abort):
// it never assembles a message, keeps at most 64 chunk streams per direction
// and fixed buffers, so nothing a peer sends makes it allocate.
//
//   - Client to server: after ffmpeg's connect (its first complete command
//     on message stream 0) the relay inserts one Window Acknowledgement Size
//     (type 5, AckWindow, 16 KiB by default) at that chunk boundary, with a
//     fmt 0 header on a chunk stream ffmpeg does not use (7; ffmpeg uses 2,
//     3, 4, 8 and 9) and below 32, which nginx-rtmp requires. It notes where
//     each audio and video message ends, for the lag.
//   - Server to client: it reads the server's Acknowledgements (type 3: the
//     bytes its application read) and does not pass them on: ffmpeg never
//     asked for them and reads the server's messages too slowly to keep up
//     with them (they would pile up in its socket, and its exit with
//     unread bytes resets the connection, losing its unpublish). Everything
//     else passes verbatim, except that a chunk whose header depended on a
//     stripped ack's (fmt 1-3, from servers that compress headers) gets the
//     self-contained fmt 0 header of the same message.
//
// A parse error in either direction stops the parsing of that direction
// (logged once); the bytes keep flowing verbatim from there on: the relay
// never breaks a push it does not understand. It then only lacks the
// evidence.
//
// # The judgement
//
// Every SampleInterval the relay judges. Where the server acknowledges
// (nginx-rtmp, SRS, FMS, the emulator), its acks are the evidence: the relay
// learns their usual spacing (at least AckWindow), starts a clock when more
// than one spacing was forwarded past the last ack (an ack is owed), and
// judges a stall when that clock reaches StallTimeout while more than two
// spacings wait. Where the server never acknowledges (lal, go2rtc,
// node-media-server), or has sent no ack for StallTimeout, delivery.Meter
// on the relay's own socket to the server is the evidence, as for the
// native path without acks. [Relay.Reading] reports both.
//
// On a stall the relay resets the server connection (SO_LINGER 0, then
// close: the server drops the session and frees the stream name at once),
// closes ffmpeg's connection (ffmpeg then fails its next write) and ends
// with a [*StallError] saying how long nothing was acknowledged and how
// much was queued.
//
// # What the relay cannot do
//
// It relays one connection: ffmpeg's own reconnects (RTMP authentication
// with credentials in the URL, a server's redirect) would need another, so
// [ParseTarget] refuses URLs with credentials. RTMPE (an encrypted
// handshake) passes through unparsed, without acks. Over TLS the lag counts
// the relayed plaintext against TCP's bytes (TLS records add a few percent),
// so it reads a little low.
package tap
