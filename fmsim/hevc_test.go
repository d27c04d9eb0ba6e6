package fmsim

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/rtmp"

	"github.com/stretchr/testify/require"
)

// hevcSample encodes three 320x240 frames with libx265 and returns the
// parameter sets and the access units (NALUs without start codes).
func hevcSample(t *testing.T) (vps, sps, pps []byte, aus [][][]byte) {
	t.Helper()
	h := testpeer.EncodeHEVC(t, 3)
	for _, pic := range h.Pictures {
		aus = append(aus, [][]byte{pic})
	}
	return h.VPS, h.SPS, h.PPS, aus
}

// hvcc builds a minimal HEVCDecoderConfigurationRecord with 4-byte lengths.
func hvcc(vps, sps, pps []byte) []byte {
	b := make([]byte, 23)
	b[0] = 1
	b[21] = 0x0f // ... lengthSizeMinusOne = 3
	b[22] = 3
	for i, n := range [][]byte{vps, sps, pps} {
		b = append(b, 0x80|byte(32+i), 0, 1, byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

func avcc(nalus [][]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = binary.BigEndian.AppendUint32(b, uint32(len(n)))
		b = append(b, n...)
	}
	return b
}

// TestHEVCBothWays publishes H.265 as Enhanced RTMP (hvc1) and as legacy
// codec id 12 with NALU validation on: both are decoded (320x240) and counted.
func TestHEVCBothWays(t *testing.T) {
	t.Parallel()
	vps, sps, pps, aus := hevcSample(t)
	require.Equal(t, 3, len(aus))
	s := startServer(t, ProfileCompanion, "audio_within=0", "require_metadata=false")
	for i, legacy := range []bool{false, true} {
		// A name per carriage: the companion profile refuses a second
		// publisher of a name until the first session has ended at the
		// server, which the client's close does not wait for.
		c := &testClient{Name: []string{"hevc-enhanced", "hevc-legacy"}[i]}
		_, err := c.dial(s.Addr())
		require.NoError(t, err)
		send := func(ts uint32, body []byte) {
			require.NoError(t, c.conn.WriteMessage(&rtmp.Message{ChunkStreamID: 6, Type: rtmp.TypeVideo,
				Timestamp: ts, StreamID: c.sid, Payload: body}))
		}
		if legacy {
			send(0, append([]byte{0x1c, 0, 0, 0, 0}, hvcc(vps, sps, pps)...))
		} else {
			send(0, append([]byte{0x90, 'h', 'v', 'c', '1'}, hvcc(vps, sps, pps)...))
		}
		for j, au := range aus {
			ft := byte(2)
			if j == 0 {
				ft = 1
			}
			if legacy {
				send(uint32(40*j), append([]byte{ft<<4 | 12, 1, 0, 0, 0}, avcc(au)...))
			} else {
				send(uint32(40*j), append([]byte{0x80 | ft<<4 | 3, 'h', 'v', 'c', '1'}, avcc(au)...))
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		info, err := s.WaitSession(ctx, func(x SessionInfo) bool { return x.ID == i+1 && (x.VideoFrames == 3 || x.Ended) })
		cancel()
		require.NoError(t, err)
		c.close()
		require.Nil(t, info.Violation)
		require.Equal(t, "hevc", info.VideoCodec)
		require.Equal(t, 320, info.Width)
		require.Equal(t, 240, info.Height)
		require.Equal(t, 1, info.KeyFrames)
	}
}

// TestCloseInterruptsSilentHandshake: a client that connects and says
// nothing does not hold Close up.
func TestCloseInterruptsSilentHandshake(t *testing.T) {
	t.Parallel()
	s := &Server{Listen: "127.0.0.1:0"}
	require.NoError(t, s.Start())
	nc, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = s.WaitSession(ctx, func(x SessionInfo) bool { return x.ID == 1 })
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, s.Close())
	require.True(t, time.Since(start) < time.Second, "Close took %v", time.Since(start))
	info, _ := s.Session(1)
	require.Equal(t, "server_closed", info.Verdict.Cause)
}
