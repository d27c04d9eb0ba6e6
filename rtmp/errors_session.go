package rtmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/fmspush/fmspush/health"
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

// PublishRefuseWindow is how long Publish waits after
// NetStream.Publish.Start, before any media is sent, when the publish name
// carries credentials in its query: a close or reset within it is the
// server taking the publish back (L3 publish_refused), never a judgement of
// media, since none was sent. lal's simple_auth and node-media-server's
// signed URLs check the credentials only after answering Publish.Start,
// then close at once: the close travels right behind the answer, whatever
// the round trip; on loopback it came 0-1 ms after it, up to 66 ms on a
// loaded machine (node-media-server's first publish). The wait is paid
// only by publishes whose name carries a query.
const PublishRefuseWindow = 150 * time.Millisecond

// awaitRefusal waits PublishRefuseWindow after Publish.Start for the
// server to close, when the name carries credentials; it returns the
// session's error if the server closed.
func (p *Publisher) awaitRefusal(ctx context.Context) error {
	if !CredentialsInName(p.target.App, p.target.StreamName) {
		return nil
	}
	t := time.NewTimer(PublishRefuseWindow)
	defer t.Stop()
	select {
	case <-p.done:
		if err := p.Err(); err != nil {
			return err
		}
		return p.newError(health.LayerPublish, CausePublishRefused, errors.New("connection closed right after NetStream.Publish.Start"))
	case <-t.C:
		return nil
	case <-ctx.Done():
		return p.newError(health.LayerPublish, "publish_"+netKind(ctx.Err()), ctx.Err())
	}
}

// CredentialsInName reports whether a publish name (or an app) carries a
// query with at least one value: a signature, secret, token or key that
// the server may check ("key?sign=..", "?streamname=..&key=..").
func CredentialsInName(names ...string) bool {
	for _, n := range names {
		if _, q, ok := strings.Cut(n, "?"); ok && strings.Contains(q, "=") {
			return true
		}
	}
	return false
}

// refusedPublish is the error for a close or reset (kind "closed" or
// "reset") within PublishRefuseWindow of Publish.Start, on a publish whose
// name carries credentials (Publish sends no media in that time): the
// server refused the publish after accepting it, the way lal and
// node-media-server refuse a wrong or expired signature. It returns nil
// otherwise. The text names no secret.
func (p *Publisher) refusedPublish(kind string, err error) *Error {
	at := p.publishAt.Load()
	if at == 0 || (kind != "closed" && kind != "reset") || !CredentialsInName(p.target.App, p.target.StreamName) {
		return nil
	}
	since := time.Since(time.Unix(0, at))
	if since > PublishRefuseWindow {
		return nil
	}
	how := "closed the connection"
	if kind == "reset" {
		how = "reset the connection"
	}
	return p.newError(health.LayerPublish, CausePublishRefused, fmt.Errorf("the server %s %d ms after NetStream.Publish.Start, "+
		"before any media was sent: it refused the publish's authentication (a wrong or expired signature "+
		"or secret in the target's query; lal and node-media-server accept the publish, then close), or the name is "+
		"held by another publisher: %w", how, since.Milliseconds(), err))
}

// CausePublishRefused (L3) is a publish the server accepted with
// NetStream.Publish.Start and took back at once, without a word: a failed
// publish authentication on lal and node-media-server.
const CausePublishRefused = "publish_refused"
