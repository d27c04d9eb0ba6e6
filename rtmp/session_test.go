package rtmp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"

	"github.com/stretchr/testify/require"
)

func dial(t *testing.T, url string, opts PublishOptions) (*Publisher, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Dial(ctx, url, opts)
}

func waitFinished(t *testing.T, s *scriptServer) {
	t.Helper()
	select {
	case <-s.finished:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "server session did not end")
	}
}

func commandNames(cmds []*Command) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, c.Name)
	}
	return out
}

// The whole publish sequence on the wire, as a strict server sees it: digest
// C1 with ffmpeg's version, connect with {app, type, flashVer, tcUrl} in that
// order, SetChunkSize 4096 before releaseStream, a Bilibili-style name kept
// verbatim, publish on csid 8 and on the (non-1) stream id the server chose,
// media on that id with ffmpeg's csids, metadata first with fmt 0, and
// FCUnpublish + deleteStream on Close. The server's _error to releaseStream
// is tolerated.
func TestPublishSequenceOnTheWire(t *testing.T) {
	s := newScriptServer(t, func(s *scriptServer) { s.RequireDigest = true; s.StreamID = 7 })
	const name = "?streamname=live_1_2&key=SECRET"
	p, err := dial(t, s.url("live-bvc/"+name), PublishOptions{})
	require.NoError(t, err)
	require.Equal(t, uint32(7), p.StreamID())
	su := loadSample(t)
	su.units = su.units[:30]
	publishUnits(t, p, su)
	require.NoError(t, p.Close())
	waitFinished(t, s)

	hs, _ := s.handshake()
	require.True(t, hs.ClientDigest)
	require.Equal(t, DefaultClientVersion, hs.ClientVersion)
	cmds := s.commands()
	require.Equal(t, []string{"connect", "releaseStream", "FCPublish", "createStream", "publish", "FCUnpublish", "deleteStream"}, commandNames(cmds))
	obj := cmds[0].ObjectArg(0)
	var keys []string
	for _, e := range obj {
		keys = append(keys, e.Key)
	}
	require.Equal(t, []string{"app", "type", "flashVer", "tcUrl"}, keys)
	app, _ := obj.GetString("app")
	tcURL, _ := obj.GetString("tcUrl")
	flashVer, _ := obj.GetString("flashVer")
	require.Equal(t, "live-bvc", app)
	require.Equal(t, "rtmp://127.0.0.1:"+strconv.Itoa(s.port())+"/live-bvc", tcURL)
	require.Equal(t, DefaultFlashVer, flashVer)
	for _, c := range cmds[1:3] {
		require.Equal(t, name, c.Arg(1))
	}
	require.Equal(t, []any{nil, name, "live"}, cmds[4].Args)
	require.Equal(t, 7.0, cmds[6].Arg(1))
	checkWireMessages(t, s.messages())
}

func checkWireMessages(t *testing.T, msgs []*Message) {
	t.Helper()
	sawChunkSize, sawMedia := false, false
	for _, m := range msgs {
		switch {
		case m.Type == TypeSetChunkSize:
			v, _ := ParseUint32(m)
			require.Equal(t, uint32(4096), v)
			sawChunkSize = true
		case m.Type == TypeCommandAMF0:
			c, _ := ParseCommand(m)
			if c.Name == "releaseStream" {
				require.True(t, sawChunkSize, "SetChunkSize after releaseStream")
			}
			if c.Name == "publish" {
				require.Equal(t, CSIDPublish, m.ChunkStreamID)
				require.Equal(t, uint32(7), m.StreamID)
			} else {
				require.Equal(t, CSIDCommand, m.ChunkStreamID)
				require.Equal(t, uint32(0), m.StreamID)
			}
		case m.Type == TypeDataAMF0:
			require.False(t, sawMedia, "metadata after media")
			require.Equal(t, uint8(0), m.Fmt)
			require.Equal(t, CSIDAudio, m.ChunkStreamID)
			vals, err := DecodeAMF(m.Payload)
			require.NoError(t, err)
			require.Equal(t, "@setDataFrame", vals[0])
			require.Equal(t, uint32(7), m.StreamID)
		case m.Type == TypeVideo || m.Type == TypeAudio:
			sawMedia = true
			require.Equal(t, uint32(7), m.StreamID)
			want := map[uint8]uint32{TypeVideo: CSIDVideo, TypeAudio: CSIDAudio}[m.Type]
			require.Equal(t, want, m.ChunkStreamID)
		}
	}
	require.True(t, sawMedia)
}

// L1: a strict server closes after a C1 without digest.
func TestDialHandshakeRejected(t *testing.T) {
	s := newScriptServer(t, func(s *scriptServer) { s.RequireDigest = true })
	_, err := dial(t, s.url("live/key"), PublishOptions{SimpleHandshake: true})
	re := asError(t, err)
	require.Equal(t, health.LayerHandshake, re.Layer)
	require.Equal(t, "handshake_closed", re.Cause)
	waitFinished(t, s)
	_, hsErr := s.handshake()
	require.ErrorIs(t, hsErr, ErrDigestRequired)
}

// L2: connect answered with _error; the server's code is in ServerWords.
func TestDialConnectRejected(t *testing.T) {
	s := newScriptServer(t, func(s *scriptServer) { s.ConnectError = "NetConnection.Connect.Rejected" })
	_, err := dial(t, s.url("live/key"), PublishOptions{FlashVer: "LNX 9,0,124,2"})
	re := asError(t, err)
	require.Equal(t, health.LayerConnect, re.Layer)
	require.Equal(t, "connect_rejected", re.Cause)
	require.True(t, strings.Contains(re.ServerWords, "NetConnection.Connect.Rejected"), re.ServerWords)
}

// L2: a server that never answers connect fails the step at its deadline.
func TestDialConnectTimeout(t *testing.T) {
	s := newScriptServer(t, func(s *scriptServer) { s.SilentConnect = true })
	_, err := dial(t, s.url("live/key"), PublishOptions{StepTimeout: 300 * time.Millisecond})
	re := asError(t, err)
	require.Equal(t, health.LayerConnect, re.Layer)
	require.Equal(t, "connect_timeout", re.Cause)
}

// L3: publish answered with Publish.BadName; the key and auth never show.
func TestDialPublishBadName(t *testing.T) {
	s := newScriptServer(t, func(s *scriptServer) { s.PublishError = "NetStream.Publish.BadName" })
	_, err := dial(t, s.url("live/SECRETKEY?wsSecret=SECRETSIG&wsTime=1"), PublishOptions{})
	re := asError(t, err)
	require.Equal(t, health.LayerPublish, re.Layer)
	require.Equal(t, "publish_bad_name", re.Cause)
	require.False(t, strings.Contains(err.Error(), "SECRET"), err.Error())
	require.Equal(t, time.Duration(-1), re.SincePublish)
}

// L4: the server closes some time after Publish.Start while no frame was sent.
func TestCloseAfterPublishIsL4(t *testing.T) {
	s := newScriptServer(t, func(s *scriptServer) { s.CloseAfterPublish = 200 * time.Millisecond })
	p, err := dial(t, s.url("live/key"), PublishOptions{})
	require.NoError(t, err)
	defer p.Close()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		require.FailNow(t, "close not noticed")
	}
	re := asError(t, p.Err())
	require.Equal(t, health.LayerUpkeep, re.Layer)
	require.Equal(t, "reset_after_publish", re.Cause)
	require.Positive(t, re.SincePublish)
	require.Equal(t, time.Duration(-1), re.SinceFirstFrame)
	require.Error(t, p.WriteMetadata(media.Metadata{}))
}

// L5: a reset right after the first video frame is a frame-level rejection.
func TestResetAfterFirstFrameIsL5(t *testing.T) {
	s := newScriptServer(t, func(s *scriptServer) { s.ResetOnFirstVideo = true })
	p, err := dial(t, s.url("live/key"), PublishOptions{})
	require.NoError(t, err)
	defer p.Close()
	su := loadSample(t)
	require.NoError(t, p.WriteMetadata(media.MetadataFor(&su.video, &su.audio, media.HEVCEnhanced)))
	require.NoError(t, p.WriteVideoConfig(su.video, 0))
	for _, u := range su.units {
		if p.WriteUnit(u) != nil {
			break
		}
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		require.FailNow(t, "reset not noticed")
	}
	re := asError(t, p.Err())
	require.Equal(t, health.LayerMedia, re.Layer, re.Error())
	require.Equal(t, "reset_after_first_frame", re.Cause)
	require.True(t, IsReset(re), re.Error())
	require.GreaterOrEqual(t, re.SinceFirstFrame, time.Duration(0))
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// rtmps: TLS with SNI from the URL's host, then the same publish.
func TestPublishRTMPS(t *testing.T) {
	cert, pool := selfSigned(t)
	s := newTLSScriptServer(t, cert, nil)
	url := "rtmps://localhost:" + strconv.Itoa(s.port()) + "/live/key"
	p, err := dial(t, url, PublishOptions{TLSConfig: &tls.Config{RootCAs: pool}})
	require.NoError(t, err)
	require.NoError(t, p.WriteMetadata(media.Metadata{}))
	require.NoError(t, p.Close())
	waitFinished(t, s)
	s.mu.Lock()
	require.Equal(t, "localhost", s.sni)
	s.mu.Unlock()
	require.Equal(t, "rtmps://localhost:"+strconv.Itoa(s.port())+"/live", p.Target().TCURL)
}

// URLs split like ffmpeg's, verbatim, with overrides.
func TestParseURL(t *testing.T) {
	for _, tc := range []struct{ url, app, name, tc string }{
		{"rtmp://h/live/key", "live", "key", "rtmp://h/live"},
		{"rtmp://h:1936/live/key?wsSecret=a%2Fb&wsTime=1", "live", "key?wsSecret=a%2Fb&wsTime=1", "rtmp://h:1936/live"},
		{"rtmp://h/live-bvc/?streamname=live_1&key=k", "live-bvc", "?streamname=live_1&key=k", "rtmp://h/live-bvc"},
		{"rtmp://h/live/_definst_/key", "live/_definst_", "key", "rtmp://h/live/_definst_"},
		{"rtmps://u:p@h/app/a/b", "app/a", "b", "rtmps://h/app/a"},
	} {
		got, err := ParseURL(tc.url)
		require.NoError(t, err, tc.url)
		require.Equal(t, tc.app, got.App, tc.url)
		require.Equal(t, tc.name, got.StreamName, tc.url)
		require.Equal(t, tc.tc, got.TCURL, tc.url)
	}
	got, _ := ParseURL("rtmps://h/live/key")
	require.Equal(t, 443, got.Port)
	_, err := ParseURL("http://h/live/key")
	require.Error(t, err)
}

// Explicit app, name and tcUrl overrides reach the wire as given.
func TestPublishOverrides(t *testing.T) {
	s := newScriptServer(t, nil)
	p, err := dial(t, s.url("ignored/alsoignored"), PublishOptions{App: "app2", StreamName: "n2?x=1", TCURL: "rtmp://example.invalid/app2",
		FlashVer: "FMLE/3.0 (compatible; test)", SwfURL: "http://s/swf", PageURL: "http://s/page"})
	require.NoError(t, err)
	require.NoError(t, p.Close())
	waitFinished(t, s)
	cmds := s.commands()
	obj := cmds[0].ObjectArg(0)
	for k, want := range map[string]string{"app": "app2", "tcUrl": "rtmp://example.invalid/app2", "swfUrl": "http://s/swf", "pageUrl": "http://s/page", "flashVer": "FMLE/3.0 (compatible; test)"} {
		got, _ := obj.GetString(k)
		require.Equal(t, want, got, k)
	}
	require.Equal(t, "n2?x=1", cmds[4].Arg(1))
}

// Connect walks L0-L2 and sends nothing past connect and SetChunkSize;
// Close then just closes.
func TestConnectOnlyNeverPublishes(t *testing.T) {
	s := newScriptServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := Connect(ctx, s.url("live/key"), PublishOptions{})
	require.NoError(t, err)
	st, fmsVer := p.ConnectInfo()
	require.Equal(t, "NetConnection.Connect.Success", st.Code)
	require.Equal(t, "FMS/3,5,7,7009", fmsVer)
	require.Positive(t, p.StepDone(health.LayerConnect))
	require.Error(t, p.WriteMetadata(media.Metadata{}))
	require.NoError(t, p.Close())
	waitFinished(t, s)
	require.Equal(t, []string{"connect"}, commandNames(s.commands()))
}

// The reader goroutine keeps the session up: it queues an ack once the
// server's window is passed and a ping response, which the owner sends when
// Wake fires, and tolerates message types and user control events it does
// not know.
func TestPublisherUpkeep(t *testing.T) {
	s := newScriptServer(t, func(s *scriptServer) {
		s.Window = 1000
		s.AfterPublish = func(c *Conn) error {
			return c.WriteMessages(
				&Message{ChunkStreamID: 5, Type: 0x1F, Payload: make([]byte, 3000)},
				&Message{ChunkStreamID: 5, Type: TypeDataAMF0, StreamID: 1, Payload: mustAMF(t, "|RtmpSampleAccess", false, false)},
				UserControlMessage(0x20, 1),
				UserControlMessage(PingRequest, 99),
			)
		}
	})
	p, err := dial(t, s.url("live/key"), PublishOptions{})
	require.NoError(t, err)
	var pong, ack bool
	testpeer.Eventually(t, 5*time.Second, "an ack and a ping response", func() bool {
		select {
		case <-p.Wake():
			require.NoError(t, p.Service())
		default:
		}
		for _, m := range s.messages() {
			if m.Type == TypeAck {
				ack = true
			}
			if ev, v, err := ParseUserControl(m); err == nil && m.Type == TypeUserControl && ev == PingResponse && v == 99 {
				pong = true
			}
		}
		return ack && pong
	})
	require.NoError(t, p.Err())
	st := p.Stats()
	require.GreaterOrEqual(t, st.AcksSent, int64(1))
	require.Equal(t, int64(1), st.PingsAnswered)
	require.NoError(t, p.Close())
}

func mustAMF(t *testing.T, vals ...any) []byte {
	t.Helper()
	b, err := EncodeAMF(vals...)
	require.NoError(t, err)
	return b
}

// The real ffmpeg binary publishing to our server primitives: its C1 digest
// passes ServerHandshake's check (RequireDigest), it accepts our signed S1
// and S2, and its whole publish sequence arrives on the stream id we chose.
func TestFFmpegPublishesToOurServer(t *testing.T) {
	testpeer.Need(t, "ffmpeg")
	s := newScriptServer(t, func(s *scriptServer) { s.RequireDigest = true; s.StreamID = 7 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
		"-i", testpeer.SamplePath(t), "-c", "copy", "-f", "flv", s.url("live/key"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "ffmpeg: %s", out)
	waitFinished(t, s)
	hs, hsErr := s.handshake()
	require.NoError(t, hsErr)
	require.True(t, hs.ClientDigest)
	require.Equal(t, SchemeA, hs.Scheme)
	require.Equal(t, DefaultClientVersion, hs.ClientVersion)
	require.Equal(t, []string{"connect", "releaseStream", "FCPublish", "createStream", "publish", "FCUnpublish", "deleteStream"},
		commandNames(s.commands()))
	video := 0
	for _, m := range s.messages() {
		if m.Type == TypeVideo {
			require.Equal(t, uint32(7), m.StreamID)
			video++
		}
	}
	require.Equal(t, 252, video) // sequence header + 250 frames + end of sequence
}
