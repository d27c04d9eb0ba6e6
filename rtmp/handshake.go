package rtmp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fmspush/fmspush/health"
)

// HandshakeSize is the size of C1, C2, S1 and S2.
const HandshakeSize = 1536

// Digest schemes of the complex handshake.
const (
	SchemeNone = 0 // no valid digest
	SchemeA    = 1 // offset from bytes 8..11 (ffmpeg, librtmp)
	SchemeB    = 2 // offset from bytes 772..775 (RTMPE)
)

const rtmpVersion = 3

var (
	// DefaultClientVersion is the C1 version ffmpeg sends; non-zero announces a digest.
	DefaultClientVersion = [4]byte{0x09, 0x00, 0x7c, 0x02}
	// DefaultServerVersion is the S1 version sent with a server digest.
	DefaultServerVersion = [4]byte{0x0d, 0x0e, 0x0a, 0x0d}

	digestConst     = []byte{0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57, 0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE}
	clientKeyFull   = append([]byte("Genuine Adobe Flash Player 001"), digestConst...)
	serverKeyFull   = append([]byte("Genuine Adobe Flash Media Server 001"), digestConst...)
	clientKeyDigest = clientKeyFull[:30]
	serverKeyDigest = serverKeyFull[:36]
)

// ErrDigestRequired is wrapped by ServerHandshake's error when RequireDigest
// is set and C1 carries no valid digest.
var ErrDigestRequired = errors.New("rtmp: client C1 has no valid digest")

// HandshakeOptions configure ClientHandshake.
type HandshakeOptions struct {
	// Simple sends version 0 in C1 and no digest.
	Simple bool
	// Version is C1's version field; zero means DefaultClientVersion.
	Version [4]byte
	// Scheme is the digest scheme for C1: SchemeA (default) or SchemeB.
	Scheme int
	// Time is C1's time field.
	Time uint32
}

// HandshakeResult is what the client learned from S0 S1 S2.
type HandshakeResult struct {
	ServerVersion [4]byte
	// ServerDigestValid reports that S1 carries a valid server digest.
	ServerDigestValid bool
	// ServerScheme is the scheme S1's digest was found with (SchemeNone if none).
	ServerScheme int
	// S2DigestValid reports that S2 is signed from our C1 digest (informational;
	// ffmpeg does not check it when publishing).
	S2DigestValid bool
}

// ServerHandshakeOptions configure ServerHandshake.
type ServerHandshakeOptions struct {
	// RequireDigest closes the connection right after C1, without sending
	// S0S1, when C1 carries no valid digest, and returns an *Error wrapping
	// ErrDigestRequired.
	RequireDigest bool
	// Version is S1's version when answering a digest; zero means DefaultServerVersion.
	Version [4]byte
}

// ServerHandshakeResult is what the server learned from C0 C1.
type ServerHandshakeResult struct {
	ClientVersion [4]byte
	// ClientDigest reports that a valid digest was found in C1.
	ClientDigest bool
	// Scheme is the scheme the digest was found with (SchemeNone if none).
	Scheme int
}

func digestOffset(b []byte, scheme int) int {
	base := 8
	if scheme == SchemeB {
		base = 772
	}
	sum := int(b[base]) + int(b[base+1]) + int(b[base+2]) + int(b[base+3])
	return sum%728 + base + 4
}

func hmacSHA256(key []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// calcDigest computes the digest of a 1536-byte block whose digest sits at off.
func calcDigest(b []byte, off int, key []byte) []byte {
	return hmacSHA256(key, b[:off], b[off+32:])
}

// signBlock writes the digest of scheme into b and returns it.
func signBlock(b []byte, scheme int, key []byte) []byte {
	off := digestOffset(b, scheme)
	d := calcDigest(b, off, key)
	copy(b[off:], d)
	return d
}

// findDigest looks for a valid digest in b, trying scheme A then B.
func findDigest(b []byte, key []byte) (digest []byte, scheme int) {
	for _, s := range []int{SchemeA, SchemeB} {
		off := digestOffset(b, s)
		if hmac.Equal(calcDigest(b, off, key), b[off:off+32]) {
			return append([]byte(nil), b[off:off+32]...), s
		}
	}
	return nil, SchemeNone
}

// answerBlock builds C2/S2 for a peer's digest: random 1504 bytes then the signature.
func answerBlock(peerDigest, fullKey []byte) ([]byte, error) {
	b := make([]byte, HandshakeSize)
	if _, err := rand.Read(b[:HandshakeSize-32]); err != nil {
		return nil, err
	}
	copy(b[HandshakeSize-32:], hmacSHA256(hmacSHA256(fullKey, peerDigest), b[:HandshakeSize-32]))
	return b, nil
}

func checkAnswer(b, ownDigest, fullKey []byte) bool {
	want := hmacSHA256(hmacSHA256(fullKey, ownDigest), b[:HandshakeSize-32])
	return hmac.Equal(want, b[HandshakeSize-32:])
}

func randomBlock(t uint32, version [4]byte) ([]byte, error) {
	b := make([]byte, HandshakeSize)
	if _, err := rand.Read(b[8:]); err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint32(b, t)
	copy(b[4:8], version[:])
	return b, nil
}

// ClientHandshake runs the client side: C0 C1, S0 S1 S2, then C2 = a copy of
// S1 (as ffmpeg does). It does not set deadlines; the caller does.
func ClientHandshake(rw io.ReadWriter, opt HandshakeOptions) (HandshakeResult, error) {
	var res HandshakeResult
	version := opt.Version
	if opt.Simple {
		version = [4]byte{}
	} else if version == ([4]byte{}) {
		version = DefaultClientVersion
	}
	c1, err := randomBlock(opt.Time, version)
	if err != nil {
		return res, err
	}
	var c1Digest []byte
	if !opt.Simple {
		scheme := opt.Scheme
		if scheme != SchemeB {
			scheme = SchemeA
		}
		c1Digest = signBlock(c1, scheme, clientKeyDigest)
	}
	if _, err := rw.Write(append([]byte{rtmpVersion}, c1...)); err != nil {
		return res, fmt.Errorf("write C0C1: %w", err)
	}
	s := make([]byte, 1+2*HandshakeSize)
	if _, err := io.ReadFull(rw, s); err != nil {
		return res, fmt.Errorf("read S0S1S2: %w", err)
	}
	if s[0] != rtmpVersion {
		return res, fmt.Errorf("S0 version %d, want 3", s[0])
	}
	s1, s2 := s[1:1+HandshakeSize], s[1+HandshakeSize:]
	copy(res.ServerVersion[:], s1[4:8])
	if d, scheme := findDigest(s1, serverKeyDigest); d != nil {
		res.ServerDigestValid, res.ServerScheme = true, scheme
	}
	if c1Digest != nil {
		res.S2DigestValid = checkAnswer(s2, c1Digest, serverKeyFull)
	}
	if _, err := rw.Write(s1); err != nil {
		return res, fmt.Errorf("write C2: %w", err)
	}
	return res, nil
}

// ServerHandshake runs the server side: read C0 C1, answer S0 S1 S2, read C2
// (whose content is never checked). With a valid C1 digest, S1 carries a
// server digest (scheme A) and S2 is signed from the client digest; without
// one, S2 echoes C1 (simple handshake) unless RequireDigest refuses it: then
// nothing is sent and rw is closed if it is an io.Closer (set SO_LINGER 0
// first to make that a RST).
func ServerHandshake(rw io.ReadWriter, opt ServerHandshakeOptions) (ServerHandshakeResult, error) {
	var res ServerHandshakeResult
	c := make([]byte, 1+HandshakeSize)
	if _, err := io.ReadFull(rw, c); err != nil {
		return res, handshakeError("read_c0c1", fmt.Errorf("read C0C1: %w", err))
	}
	if c[0] != rtmpVersion {
		return res, handshakeError("bad_version", fmt.Errorf("C0 version %d, want 3", c[0]))
	}
	c1 := c[1:]
	copy(res.ClientVersion[:], c1[4:8])
	clientDigest, scheme := findDigest(c1, clientKeyDigest)
	res.ClientDigest, res.Scheme = clientDigest != nil, scheme
	if clientDigest == nil && opt.RequireDigest {
		if cl, ok := rw.(io.Closer); ok {
			cl.Close()
		}
		return res, handshakeError("client_digest_invalid", ErrDigestRequired)
	}
	out, err := serverBlocks(c1, clientDigest, opt)
	if err != nil {
		return res, handshakeError("internal", err)
	}
	if _, err := rw.Write(out); err != nil {
		return res, handshakeError("write_s0s1s2", fmt.Errorf("write S0S1S2: %w", err))
	}
	c2 := make([]byte, HandshakeSize)
	if _, err := io.ReadFull(rw, c2); err != nil {
		return res, handshakeError("read_c2", fmt.Errorf("read C2: %w", err))
	}
	return res, nil
}

func handshakeError(cause string, err error) error {
	return NewError(health.LayerHandshake, cause, err)
}

// serverBlocks builds S0 S1 S2.
func serverBlocks(c1, clientDigest []byte, opt ServerHandshakeOptions) ([]byte, error) {
	version := [4]byte{}
	if clientDigest != nil {
		version = opt.Version
		if version == ([4]byte{}) {
			version = DefaultServerVersion
		}
	}
	s1, err := randomBlock(0, version)
	if err != nil {
		return nil, err
	}
	s2 := append([]byte(nil), c1...)
	if clientDigest != nil {
		signBlock(s1, SchemeA, serverKeyDigest)
		if s2, err = answerBlock(clientDigest, serverKeyFull); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, 1+2*HandshakeSize)
	out = append(out, rtmpVersion)
	out = append(out, s1...)
	return append(out, s2...), nil
}
