package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// writeCA writes a CA certificate made now (ECDSA P-256) as a PEM file.
func writeCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fmspush config test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return p
}

func tlsStream(target, tls string) []byte {
	return []byte(`stream "s" {
  source = "builtin:sample"
  target = "` + target + `"
  rtmp {
    tls {
` + tls + `
    }
  }
}
`)
}

// rtmp { tls { ca_file, server_name } } decodes for an rtmps target.
func TestTLSBlock(t *testing.T) {
	ca := writeCA(t)
	cfg, err := Parse(tlsStream("rtmps://127.0.0.1:4443/live/key", `ca_file = "`+ca+`"
server_name = "rtmp.test"`), "t.hcl")
	require.NoError(t, err)
	st, _ := cfg.Stream("s")
	require.Equal(t, TLS{CAFile: ca, ServerName: "rtmp.test"}, st.RTMP.TLS)

	cfg, err = Parse(tlsStream("rtmps://ingest.example.com/live/key", `server_name = "10.0.0.7"`), "t.hcl")
	require.NoError(t, err)
	st, _ = cfg.Stream("s")
	require.Equal(t, TLS{ServerName: "10.0.0.7"}, st.RTMP.TLS)

	// Absent, the block changes nothing; a changed server name is a change.
	cfg, err = Parse(tlsStream("rtmps://ingest.example.com/live/key", ``), "t.hcl")
	require.NoError(t, err)
	plain, _ := cfg.Stream("s")
	require.Equal(t, TLS{}, plain.RTMP.TLS)
	require.False(t, plain.Equal(st))
}

// A bad tls block fails at its attribute's position, and never echoes the
// target's key.
func TestTLSBlockErrors(t *testing.T) {
	ca := writeCA(t)
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	tests := []struct {
		name, target, tls, want string
	}{
		{"missing file", "rtmps://h/live/KEYSECRET", `ca_file = "/nonexistent/ca.pem"`, `t.hcl:6:11: stream "s": rtmp.tls.ca_file: cannot read "/nonexistent/ca.pem": no such file or directory`},
		{"not pem", "rtmps://h/live/KEYSECRET", `ca_file = "` + notPEM + `"`, `holds no PEM certificate`},
		{"empty", "rtmps://h/live/KEYSECRET", `ca_file = ""`, `rtmp.tls.ca_file: must not be empty`},
		{"url as name", "rtmps://h/live/KEYSECRET", `server_name = "rtmps://h:443"`, `t.hcl:6:15: stream "s": rtmp.tls.server_name: "rtmps://h:443" is not a host name`},
		{"wildcard", "rtmps://h/live/KEYSECRET", `server_name = "*.example.com"`, `is not a host name`},
		{"plain rtmp", "rtmp://h/live/KEYSECRET", `ca_file = "` + ca + `"`, `t.hcl:6:1: stream "s": rtmp.tls.ca_file: the stream's target is not rtmps://`},
		{"emulator", "emulator://live/KEYSECRET", `server_name = "rtmp.test"`, `rtmp.tls.server_name: the stream's target is not rtmps://`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tlsStream(tc.target, tc.tls)
			if strings.HasPrefix(tc.target, "emulator://") {
				src = append([]byte("emulator {}\n"), src...)
				tc.want = strings.Replace(tc.want, "t.hcl:6:", "t.hcl:7:", 1)
			}
			_, err := Parse(src, "t.hcl")
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "KEYSECRET")
		})
	}
}

// An rtmp:// target with an rtmps:// probe target may carry a tls block.
func TestTLSBlockForProbeTarget(t *testing.T) {
	_, err := Parse([]byte(`stream "s" {
  source = "builtin:sample"
  target = "rtmp://h/live/key"
  rtmp {
    tls { server_name = "rtmp.test" }
  }
  failover {
    probe_depth  = "L3"
    probe_target = "rtmps://h/live/probe"
  }
}
`), "t.hcl")
	require.NoError(t, err)
}
