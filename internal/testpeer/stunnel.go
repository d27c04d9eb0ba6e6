package testpeer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestCA is a certificate authority made for one test (crypto/x509, ECDSA
// P-256): its certificate is in CertFile (PEM) for clients to trust, and
// Issue signs server certificates with it. Nothing is written outside the
// test's temporary directories.
type TestCA struct {
	// Name is the CA's common name.
	Name string
	// CertFile is the CA certificate, PEM.
	CertFile string
	// Cert is the CA certificate.
	Cert *x509.Certificate

	key *ecdsa.PrivateKey
	dir string
}

// serials numbers the certificates of a test binary.
var serials atomic.Int64

// NewTestCA makes a CA named name, valid from an hour ago for a day.
func NewTestCA(t testing.TB, name string) *TestCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("CA key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serials.Add(1)),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"fmspush tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &TestCA{Name: name, Cert: cert, key: key, dir: t.TempDir()}
	ca.CertFile = filepath.Join(ca.dir, "ca.pem")
	writePEM(t, ca.CertFile, "CERTIFICATE", der)
	return ca
}

// Pool is a certificate pool holding only the CA.
func (ca *TestCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue signs a server certificate for hosts (DNS names, or IP addresses)
// and writes it and its key as PEM files; it returns their paths.
func (ca *TestCA) Issue(t testing.TB, hosts ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("server key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serials.Add(1)),
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"fmspush tests"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("server certificate: %v", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	n := serials.Load()
	certFile = filepath.Join(ca.dir, fmt.Sprintf("server-%d.pem", n))
	keyFile = filepath.Join(ca.dir, fmt.Sprintf("server-%d.key", n))
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// StunnelBinary is Debian's stunnel (package stunnel4).
const StunnelBinary = "stunnel4"

// StartStunnel starts stunnel (Debian's stunnel4) as a TLS terminator on a
// free port of 127.0.0.1 in front of upstream (host:port of a plain RTMP
// server), serving certFile and keyFile. Publish to AppURL + "/" + name
// (rtmps://127.0.0.1:PORT/live): stunnel decrypts and relays to the same
// app and name at upstream; play from upstream's own rtmp:// URL. It is
// stopped by t.Cleanup.
func StartStunnel(t testing.TB, upstream, certFile, keyFile string) *Server {
	t.Helper()
	Need(t, StunnelBinary)
	s := &Server{Name: "stunnel", Port: FreePort(t), Dir: t.TempDir()}
	if out, err := exec.Command(StunnelBinary, "-version").CombinedOutput(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "stunnel" {
				s.Name = "stunnel " + f[1]
				break
			}
		}
	}
	s.AppURL = fmt.Sprintf("rtmps://127.0.0.1:%d/live", s.Port)
	conf := filepath.Join(s.Dir, "stunnel.conf")
	// foreground: stunnel logs to stderr and stays the process testpeer
	// stops; "pid =" writes no pid file.
	text := fmt.Sprintf(`foreground = yes
pid =
debug = notice
[rtmps]
accept = %s
connect = %s
cert = %s
key = %s
`, s.Addr(), upstream, certFile, keyFile)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServer(t, s, exec.Command(StunnelBinary, conf))
}
