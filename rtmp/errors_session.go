package rtmp

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/fmspush/fmspush/redact"
)

// redactedError keeps an error's chain but shows its text redacted.
type redactedError struct {
	msg string
	err error
}

func (r *redactedError) Error() string { return r.msg }
func (r *redactedError) Unwrap() error { return r.err }

// redactErr wraps err so that its text never shows a key or auth value,
// nor one of the session's literal secrets (nil: URLs and pairs only).
func redactErr(err error, sec *redact.Secrets) error {
	if err == nil {
		return nil
	}
	var re *redactedError
	if errors.As(err, &re) && re == err {
		return err
	}
	return &redactedError{msg: sec.Text(err.Error()), err: err}
}

// netKind names what went wrong with a connection: "refused", "reset",
// "closed", "timeout", "dns" or "failed".
func netKind(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return "closed"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &dnsErr):
		return "dns"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "failed"
}

// IsReset reports whether err is a connection reset (RST) rather than a close.
func IsReset(err error) bool { return netKind(err) == "reset" }
