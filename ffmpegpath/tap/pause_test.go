package tap

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ackOnceServer accepts one connection, sends reply (a handshake and one
// Acknowledgement), then reads everything and acknowledges nothing more:
// its application reads (TCP shows no stall), its acks stop.
func ackOnceServer(t *testing.T, reply []byte) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(reply)
		io.Copy(io.Discard, c)
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln
}

// A pause of this process (Paused reporting one) restarts the stall
// clocks instead of ending in a stall: while the process is taken for
// paused at every judgement no stall is judged, and one StallTimeout after
// the last pause the server's missing acks are a stall again.
func TestRelayRestartsItsClocksAfterAPause(t *testing.T) {
	const stall = 600 * time.Millisecond
	reply, _ := serverReply(100)
	ln := ackOnceServer(t, reply)
	pausedUntil := time.Now().Add(2 * time.Second)
	var asked atomic.Int64
	r, log := startRelay(t, ln.Addr().String(), func(r *Relay) {
		r.StallTimeout = stall
		r.Paused = func(now time.Time) bool {
			asked.Add(1)
			return now.Before(pausedUntil)
		}
	})
	c, err := net.Dial("tcp", r.Addr())
	require.NoError(t, err)
	defer c.Close()
	client, _ := clientPublish()
	e := newChunkEncoder()
	for i := range 10 {
		client = append(client, e.encode(testMsg{csid: 4, typ: typeVideo, msid: 1, ts: uint32(40 * i), payload: fill(9000)})...)
	}
	_, err = c.Write(client)
	require.NoError(t, err)
	go io.Copy(io.Discard, c)

	err = waitDone(t, r, 10*time.Second)
	var se *StallError
	require.True(t, errors.As(err, &se), "want a *StallError, got %v", err)
	t.Logf("%v at %v after the last pause; Paused asked %d times", se, se.At.Sub(pausedUntil).Round(time.Millisecond), asked.Load())
	require.Equal(t, EvidenceAck, se.Evidence)
	require.False(t, se.At.Before(pausedUntil.Add(stall-DefaultSampleInterval)), "a stall judged across a pause: %v", se)
	require.Less(t, se.For, stall+time.Second, "the stall counts from the pause, not from the last ack")
	require.Greater(t, asked.Load(), int64(5))
	require.Contains(t, log.String(), "stall clocks restarted after a pause")
}
