package fmsim

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fmspush/fmspush/rtmp"

	"github.com/fmspush/fmspush/internal/testpeer"

	"github.com/stretchr/testify/require"
)

// TestDiffFFmpegAgainstWrongClient records two real ffmpeg publishes and one
// by a client with gortmplib's flashVer against the same emulator: the two
// ffmpeg transcripts agree, and the wrong client diverges at connect's flashVer.
func TestDiffFFmpegAgainstWrongClient(t *testing.T) {
	t.Parallel()
	s := startServer(t, ProfileLenient)
	for i := 1; i <= 2; i++ {
		out, err := runFFmpeg(t, s.URL("live", "key"), 1)
		require.NoError(t, err, "ffmpeg: %s", out)
		waitEnded(t, s, i, 10*time.Second)
	}
	wrong := &testClient{FlashVer: "LNX 9,0,124,2"}
	require.NoError(t, publishAndSend(t, s, wrong, time.Second))
	wrong.close()
	third := waitEnded(t, s, 3, 5*time.Second)
	first, _ := s.Session(1)
	second, _ := s.Session(2)

	d := diffFiles(t, first.Transcript, second.Transcript)
	require.True(t, d.Same, "two ffmpeg runs: %s", d)

	d = diffFiles(t, first.Transcript, third.Transcript)
	require.False(t, d.Same)
	require.Equal(t, "in", d.Stream)
	require.Equal(t, "in CommandAMF0 connect", d.WhatA)
	require.Equal(t, "amf[2].flashVer", d.Field)
	require.Equal(t, "LNX 9,0,124,2", d.B)
	require.True(t, strings.HasPrefix(d.A, "FMLE/"), d.A)

	var out bytes.Buffer
	err := RunDiffCLI([]string{first.Transcript, third.Transcript}, &out)
	require.ErrorIs(t, err, ErrDiverged)
	require.True(t, strings.Contains(out.String(), "amf[2].flashVer"), out.String())
	out.Reset()
	require.NoError(t, RunDiffCLI([]string{first.Transcript, second.Transcript}, &out))
	out.Reset()
	require.ErrorIs(t, RunDiffCLI([]string{"-all", first.Transcript, third.Transcript}, &out), ErrDiverged)
	require.True(t, strings.Contains(out.String(), "flashVer"), out.String())
	t.Logf("diff -all:\n%s", out.String())
}

func diffFiles(t *testing.T, a, b string) Divergence {
	t.Helper()
	fa, err := os.Open(a)
	require.NoError(t, err)
	defer fa.Close()
	fb, err := os.Open(b)
	require.NoError(t, err)
	defer fb.Close()
	d, err := DiffTranscripts(fa, fb)
	require.NoError(t, err)
	return d
}

// TestDiffSynthetic checks what the diff ignores and what it reports.
func TestDiffSynthetic(t *testing.T) {
	a := `{"t_ms":1,"dir":"in","type_name":"C0C1","handshake":{"version":"09007c02","digest":true}}
{"t_ms":2,"dir":"in","csid":3,"type":20,"type_name":"CommandAMF0","command":"connect","amf":["connect",1,{"app":"live","tcUrl":"rtmp://127.0.0.1:1111/live"}]}
{"t_ms":3,"dir":"in","csid":6,"msid":1,"type":9,"type_name":"Video","ts":0,"kind":"avc_seq"}
{"t_ms":4,"dir":"in","csid":4,"msid":1,"type":8,"type_name":"Audio","ts":0,"kind":"aac_seq"}
{"t_ms":5,"dir":"in","csid":6,"fmt":1,"msid":1,"type":9,"type_name":"Video","ts":40,"kind":"avc_nalu key"}
{"t_ms":6,"dir":"end","verdict":{"layer":"L5","cause":"client_closed","action":"none"}}
`
	// Other times, tids, ports, audio before video: no divergence.
	b := `{"t_ms":9,"dir":"in","type_name":"C0C1","handshake":{"version":"09007c02","digest":true}}
{"t_ms":9,"dir":"in","csid":3,"type":20,"type_name":"CommandAMF0","command":"connect","amf":["connect",7,{"app":"live","tcUrl":"rtmp://127.0.0.1:2222/live"}]}
{"t_ms":9,"dir":"in","csid":4,"msid":1,"type":8,"type_name":"Audio","ts":5,"kind":"aac_seq"}
{"t_ms":9,"dir":"in","csid":6,"msid":1,"type":9,"type_name":"Video","ts":5,"kind":"avc_seq"}
{"t_ms":9,"dir":"in","csid":6,"fmt":1,"msid":1,"type":9,"type_name":"Video","ts":90,"kind":"avc_nalu key"}
{"t_ms":9,"dir":"end","verdict":{"layer":"L5","cause":"client_closed","action":"none"}}
`
	d, err := DiffTranscripts(strings.NewReader(a), strings.NewReader(b))
	require.NoError(t, err)
	require.True(t, d.Same, d.String())

	c := strings.Replace(b, `"msid":1,"type":9,"type_name":"Video","ts":5`, `"msid":7,"type":9,"type_name":"Video","ts":5`, 1)
	d, err = DiffTranscripts(strings.NewReader(a), strings.NewReader(c))
	require.NoError(t, err)
	require.Equal(t, "video", d.Stream)
	require.Equal(t, "msid", d.Field)

	e := strings.Replace(b, `"digest":true`, `"digest":false`, 1)
	d, err = DiffTranscripts(strings.NewReader(a), strings.NewReader(e))
	require.NoError(t, err)
	require.Equal(t, "handshake", d.WhatA)
	require.Equal(t, 1, d.LineA)

	_, err = DiffTranscripts(strings.NewReader("{"), strings.NewReader(b))
	require.Error(t, err)
}

func TestRunCLI(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, RunCLIContext(context.Background(), []string{"-list-rules"}, &out, &out))
	require.True(t, strings.Contains(out.String(), "rst_after_first_frame"), out.String())
	require.Error(t, RunCLIContext(context.Background(), []string{"-rule", "nope=1"}, &out, &out))
	require.Error(t, RunCLIContext(context.Background(), []string{"-profile", "nope", "-listen", "127.0.0.1:0"}, &out, &out))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stdout, stderr testpeer.LogBuffer
	go func() {
		done <- RunCLIContext(ctx, []string{"-listen", "127.0.0.1:0", "-profile", "companion", "-rule", "stream_id=9"}, &stdout, &stderr)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(stdout.String(), "listening") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling for the banner
	}
	require.True(t, strings.Contains(stdout.String(), "stream_id=9"), stdout.String())
	cancel()
	require.NoError(t, <-done)

	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	require.NoError(t, (&Server{Listen: "127.0.0.1:0"}).Run(ctx2))
}

// FuzzSessionInput feeds arbitrary bytes after a valid handshake into a
// session: the server must neither panic nor hang.
func FuzzSessionInput(f *testing.F) {
	connect, _ := (&rtmp.Command{Name: "connect", TransactionID: 1, Args: []any{rtmp.AMFObject{{Key: "app", Value: "live"}}}}).Message(3, 0)
	var seed bytes.Buffer
	w := rtmp.NewChunkWriter(&seed, rtmp.HeaderAuto)
	_ = w.WriteMessage(connect)
	f.Add(seed.Bytes())
	f.Add([]byte{0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0})        // SetChunkSize 0
	f.Add([]byte{0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 20, 0, 0, 0, 0}) // huge message
	f.Add([]byte{0x06, 0, 0, 0, 0, 0, 5, 9, 1, 0, 0, 0, 0x17, 1, 0, 0, 0})  // video before publish
	f.Add([]byte("garbage that is not rtmp at all"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &Server{Listen: "127.0.0.1:0", Profile: ProfileCompanion}
		require.NoError(t, s.Start())
		defer s.Close()
		nc, err := net.Dial("tcp", s.Addr())
		require.NoError(t, err)
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = rtmp.ClientHandshake(nc, rtmp.HandshakeOptions{})
		require.NoError(t, err)
		_, _ = nc.Write(data)
		_ = nc.(*net.TCPConn).CloseWrite()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = s.WaitSession(ctx, func(x SessionInfo) bool { return x.Ended })
		require.NoError(t, err, "session did not end after EOF: %+v", s.Sessions())
	})
}
