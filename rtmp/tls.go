package rtmp

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxCAFileSize bounds a CA file read by TLSConfig.
const MaxCAFileSize = 1 << 20

// TLSConfig is the client TLS configuration of an rtmps:// target:
// certificate verification on, the certificates of caFile (PEM) as the
// only trusted roots when it is set (else the system's), and serverName as
// the name the certificate must be valid for and the SNI sent (else the
// URL's host, which Dial fills in). The file is read now.
func TLSConfig(caFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	f, err := os.Open(caFile)
	if err != nil {
		return nil, fmt.Errorf("rtmp: CA file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxCAFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("rtmp: CA file %s: %w", caFile, err)
	}
	pool := x509.NewCertPool()
	if len(b) > MaxCAFileSize || !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("rtmp: CA file %s holds no PEM certificate", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// The L0 causes of a failed TLS handshake.
const (
	// CauseTLSHostname: the certificate is not valid for the name checked
	// (the URL's host or rtmp.tls.server_name).
	CauseTLSHostname = "tls_hostname_mismatch"
	// CauseTLSUntrusted: the certificate chains to no trusted authority (a
	// self-signed or private CA's certificate without rtmp.tls.ca_file).
	CauseTLSUntrusted = "tls_untrusted_certificate"
	// CauseTLSExpired: the certificate (or one of its chain) is expired or
	// not yet valid.
	CauseTLSExpired = "tls_certificate_expired"
	// CauseTLSFailed: any other TLS failure (a server that speaks no TLS,
	// an alert, no common version or cipher).
	CauseTLSFailed = "tls_failed"
)

// tlsCause names a failed TLS handshake by what the verification found.
func tlsCause(err error) string {
	var host x509.HostnameError
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &host):
		return CauseTLSHostname
	case errors.As(err, &unknown):
		return CauseTLSUntrusted
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return CauseTLSExpired
	}
	return CauseTLSFailed
}
