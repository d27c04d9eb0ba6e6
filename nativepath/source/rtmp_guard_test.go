package source

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media/sample"
	"github.com/fmspush/fmspush/rtmp"
)

// playServer is a loopback RTMP server that answers one player's connect,
// createStream and play (gortmplib's server side), then sends before the
// embedded sample's tags the messages of first, chunked by rtmp's writer
// at chunk size 65536, and waits until the player goes away.
func playServer(t *testing.T, first ...*rtmp.Message) string {
	t.Helper()
	return playServerTLS(t, nil, first...)
}

// playServerTLS is playServer over TLS with tc (plain TCP when nil).
func playServerTLS(t *testing.T, tc *tls.Config, first ...*rtmp.Message) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	scheme := "rtmp"
	if tc != nil {
		l, scheme = tls.NewListener(l, tc), "rtmps"
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		sc := &gortmplib.ServerConn{RW: nc}
		if sc.Initialize() != nil || sc.Accept() != nil {
			return
		}
		w := rtmp.NewChunkWriter(nc, rtmp.HeaderAuto)
		w.SetChunkSize(65536) // announced by Accept
		for _, m := range append(first, sampleTags()...) {
			if w.WriteMessage(m) != nil {
				return
			}
		}
		io.Copy(io.Discard, nc)
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return fmt.Sprintf("%s://%s/live/SOURCEKEY", scheme, l.Addr())
}

// sampleTags are the embedded sample's FLV tags as RTMP messages (stream 1,
// audio and data on chunk stream 4, video on 6), script tags left out.
func sampleTags() []*rtmp.Message {
	flv := sample.Bytes()
	var out []*rtmp.Message
	for off := 13; off+11 <= len(flv); {
		typ := flv[off]
		size := int(flv[off+1])<<16 | int(flv[off+2])<<8 | int(flv[off+3])
		ts := uint32(flv[off+4])<<16 | uint32(flv[off+5])<<8 | uint32(flv[off+6]) | uint32(flv[off+7])<<24
		body := flv[off+11 : off+11+size]
		off += 11 + size + 4
		csid := rtmp.CSIDAudio
		switch typ {
		case rtmp.TypeVideo:
			csid = rtmp.CSIDVideo
		case rtmp.TypeAudio:
		default:
			continue
		}
		out = append(out, &rtmp.Message{ChunkStreamID: csid, Type: typ, Timestamp: ts, StreamID: 1, Payload: body})
	}
	return out
}

func dataMsg(t *testing.T, payload []byte) *rtmp.Message {
	return &rtmp.Message{ChunkStreamID: rtmp.CSIDAudio, Type: rtmp.TypeDataAMF0, StreamID: 1, Payload: payload}
}

// hostileMetadata is onMetaData with 5000 values (beyond rtmp's 4096), one
// of 200 KB (beyond 64 KiB) and one that is not AMF.
func hostileMetadata(t *testing.T) []*rtmp.Message {
	many := rtmp.AMFECMAArray{}
	for i := 0; i < 5000; i++ {
		many = append(many, rtmp.AMFObjectEntry{Key: "k", Value: float64(i)})
	}
	big, err := rtmp.EncodeAMF("onMetaData", strings.Repeat("x", 60000), strings.Repeat("y", 60000), strings.Repeat("z", 60000), strings.Repeat("w", 20000))
	require.NoError(t, err)
	manyP, err := rtmp.EncodeAMF("onMetaData", many)
	require.NoError(t, err)
	bad := []byte{0x02, 0, 10, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0x0B, 1}
	return []*rtmp.Message{dataMsg(t, manyP), dataMsg(t, big), dataMsg(t, bad)}
}

// An RTMP source whose server sends metadata beyond rtmp's bounds (5000
// values, 200 KB, not AMF) before the media: each is dropped with one
// warning and the media goes on. Before, gortmplib decoded any number of
// values and ended the session on the malformed one ("read tracks").
func TestRTMPSourceDropsHostileMetadata(t *testing.T) {
	url := playServer(t, hostileMetadata(t)...)
	var logs bytes.Buffer
	var mu sync.Mutex
	log := hclog.New(&hclog.LoggerOptions{Output: &lockedWriter{w: &logs, mu: &mu}, Level: hclog.Debug})
	rec := &recorder{}
	res := make(chan error, 1)
	src := &RTMP{URL: url, Log: log, ReadTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { res <- src.Run(ctx, rec) }()
	ended := false
	defer func() {
		if cancel(); !ended {
			<-res
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		keys, audio := rec.count()
		if keys >= 2 && audio >= 10 {
			break
		}
		select {
		case err := <-res:
			ended = true
			mu.Lock()
			require.FailNow(t, "the source ended", "%v\n%s", err, logs.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "no media (keys %d, audio %d)", keys, audio)
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	text := logs.String()
	mu.Unlock()
	require.Equal(t, 1, strings.Count(text, "source metadata dropped; the media goes on"), text)
	require.Contains(t, text, "more than 4096 values")
	require.Equal(t, 2, strings.Count(text, "[DEBUG] source metadata dropped"), text)
	require.NotContains(t, text, "SOURCEKEY")
}

// A command beyond rtmp's AMF bounds from a source's server ends the
// session at once, with the bound in its error.
func TestRTMPSourceHostileCommand(t *testing.T) {
	nulls := append([]byte{0x02, 0, 8, 'o', 'n', 'S', 't', 'a', 't', 'u', 's'}, bytes.Repeat([]byte{0x05}, 2000)...)
	url := playServer(t, &rtmp.Message{ChunkStreamID: rtmp.CSIDCommand, Type: rtmp.TypeCommandAMF0, StreamID: 1, Payload: nulls})
	rec := &recorder{}
	src := &RTMP{URL: url, ReadTimeout: 5 * time.Second}
	start := time.Now()
	err := src.Run(t.Context(), rec)
	require.Error(t, err)
	require.Contains(t, err.Error(), "more than 1024 values")
	require.NotContains(t, err.Error(), "SOURCEKEY")
	require.Less(t, time.Since(start), 3*time.Second)
}

// rtmps:// passes the Guard too: the source dials TCP, wraps TLS with its
// config (the server's name from the URL) and guards the TLS stream.
func TestRTMPSSourceGuarded(t *testing.T) {
	cert, pool := selfSigned(t)
	tc := &tls.Config{Certificates: []tls.Certificate{cert}}
	err := (&RTMP{URL: playServerTLS(t, tc), ReadTimeout: 3 * time.Second}).Run(t.Context(), &recorder{})
	require.Error(t, err, "an untrusted certificate was accepted")

	url := playServerTLS(t, tc, hostileMetadata(t)...)
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		res <- (&RTMP{URL: url, TLSConfig: &tls.Config{RootCAs: pool}, ReadTimeout: 5 * time.Second}).Run(ctx, rec)
	}()
	testpeer.Eventually(t, 20*time.Second, "media over rtmps", func() bool {
		keys, audio := rec.count()
		return keys >= 2 && audio >= 10
	})
	cancel()
	require.NoError(t, <-res)
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
