package tap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
	"github.com/fmspush/fmspush/internal/testpeer"
)

// selfSigned returns a server certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tap test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// startTLSFront terminates TLS on 127.0.0.1 for one connection and passes
// it on to upstream (an rtmps front end, as platforms run them).
func startTLSFront(t *testing.T, upstream string) (addr string, pool *x509.CertPool) {
	t.Helper()
	cert, pool := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		up, err := net.Dial("tcp", upstream)
		if err != nil {
			return
		}
		defer up.Close()
		done := make(chan struct{})
		go func() { io.Copy(c, up); c.Close(); close(done) }()
		io.Copy(up, c)
		up.(*net.TCPConn).CloseWrite()
		<-done
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String(), pool
}

func TestRelayOverTLS(t *testing.T) {
	srv := &fmsim.Server{Listen: "127.0.0.1:0", Profile: fmsim.ProfileCloud}
	require.NoError(t, srv.Start())
	defer srv.Close()
	front, pool := startTLSFront(t, srv.Addr())
	target := "rtmps://" + front + "/live/tlskey"
	tg, err := ParseTarget(target, "")
	require.NoError(t, err)
	require.True(t, tg.TLS)
	r, _ := startRelay(t, tg.Addr, func(r *Relay) { r.TLS = &tls.Config{RootCAs: pool} })
	p := push(t, r, target, testpeer.SamplePath(t), true)
	testpeer.Eventually(t, 15*time.Second, "acknowledged media over TLS", func() bool {
		return r.Reading().Acks >= 5
	})
	rd := r.Reading()
	requireAcked(t, rd)
	s, ok := srv.Session(1)
	require.True(t, ok)
	require.True(t, s.Published())
	require.Equal(t, tg.TCURL, s.TCURL, "the server sees the real tcUrl")
	t.Logf("over TLS: acks %d, forwarded %d B, acked %d B, emulator %d video frames, tcUrl %s", rd.Acks, rd.Forwarded, rd.Acked, s.VideoFrames, s.TCURL)
	stopClean(t, r, p)
}

// A certificate the relay cannot verify (not valid for the name checked)
// ends the relay with a *DialError marked TLS, wrapping x509's reason.
func TestRelayTLSDialError(t *testing.T) {
	rec := startRecorder(t, nil)
	front, pool := startTLSFront(t, rec.ln.Addr().String())
	r, _ := startRelay(t, front, func(r *Relay) { r.TLS = &tls.Config{RootCAs: pool, ServerName: "other.test"} })
	c, err := net.Dial("tcp", r.Addr())
	require.NoError(t, err)
	defer c.Close()
	err = waitDone(t, r, 5*time.Second)
	var de *DialError
	require.ErrorAs(t, err, &de)
	require.True(t, de.TLS, "%v", err)
	var host x509.HostnameError
	require.ErrorAs(t, err, &host)
	require.ErrorContains(t, err, "tap: TLS handshake with "+front)
}
