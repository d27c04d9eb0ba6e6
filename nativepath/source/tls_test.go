package source

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/media"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "camera"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// rtsps:// with the camera's certificate trusted: media flows over TLS.
func TestRTSPS(t *testing.T) {
	cert, pool := selfSigned(t)
	c, err := media.OpenClip(testpeer.SamplePath(t))
	require.NoError(t, err)
	s := testpeer.StartRTSPTLS(t, "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	h264 := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: c.Video.SPS, PPS: c.Video.PPS}
	vm := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{h264}}
	stop := writeVideo(t, s.Serve(t, &description.Session{Medias: []*description.Media{vm}}), vm, h264, c)
	defer stop()

	url := "rtsps://" + s.Addr() + "/cam"
	err = (&RTSP{URL: url, ReadTimeout: 3 * time.Second}).Run(t.Context(), &recorder{})
	require.Error(t, err, "an untrusted certificate was accepted")
	rec := &recorder{}
	stopSrc := runSource(&RTSP{URL: url, TLSConfig: &tls.Config{RootCAs: pool}}, rec)
	testpeer.Eventually(t, 20*time.Second, "media over rtsps", func() bool { k, _ := rec.count(); return k >= 1 })
	require.NoError(t, stopSrc())
}
