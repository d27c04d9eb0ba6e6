package ffmpegpath

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/fmspush/fmspush/ffmpegpath/tap"
	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/rtmp"
)

// relayDialVerdict is the L0 verdict of a relay that could not connect to
// the server (refused, timed out, no route, a name that did not resolve,
// a TLS handshake that failed), in the native path's words; nil otherwise.
// A dial the relay gave up because the run closed it is not one.
func relayDialVerdict(e Exit, st *stages) *health.Verdict {
	var de *tap.DialError
	if !errors.As(e.RelayErr, &de) || errors.Is(de.Err, context.Canceled) {
		return nil
	}
	detail := de.Err.Error()
	if de.TLS {
		detail = "TLS handshake with " + de.Addr + ": " + detail
	}
	return verdict(e, st, health.LayerNetwork, relayDialCause(de), de.At, detail)
}

// relayStillDialing reports whether the relay was still connecting to the
// server when ffmpeg ended (the run closed it).
func relayStillDialing(e Exit) bool {
	var de *tap.DialError
	return errors.As(e.RelayErr, &de) && errors.Is(de.Err, context.Canceled)
}

// relayDialCause names a failed dial or TLS handshake of the relay as the
// native path does (rtmp's dial and TLS causes).
func relayDialCause(de *tap.DialError) string {
	if de.TLS {
		return relayTLSCause(de.Err)
	}
	var dns *net.DNSError
	switch {
	case errors.Is(de.Err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.As(de.Err, &dns):
		return "dns_failed"
	case errors.Is(de.Err, syscall.EHOSTUNREACH), errors.Is(de.Err, syscall.ENETUNREACH):
		return "unreachable"
	case isTimeout(de.Err):
		return "dial_timeout"
	}
	return "dial_failed"
}

// relayTLSCause names a failed TLS handshake by what the verification found.
func relayTLSCause(err error) string {
	var host x509.HostnameError
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &host):
		return rtmp.CauseTLSHostname
	case errors.As(err, &unknown):
		return rtmp.CauseTLSUntrusted
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return rtmp.CauseTLSExpired
	}
	return rtmp.CauseTLSFailed
}

// isTimeout reports whether err is a timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// serverResetCause names a setup step's close a reset when the relay saw the
// server reset the connection: ffmpeg's RTMP layer reports every failed
// read as EIO, so "closed" is all its words can say, while the relay read
// ECONNRESET from the server (the native path's words: handshake_reset,
// connect_reset, publish_reset).
func serverResetCause(e Exit, v *health.Verdict) {
	base, closed := strings.CutSuffix(v.Cause, "_closed")
	if !closed || v.Layer < health.LayerHandshake || v.Layer > health.LayerPublish || e.RelayErr == nil {
		return
	}
	if errors.Is(e.RelayErr, syscall.ECONNRESET) {
		v.Cause = base + "_reset"
	}
}
