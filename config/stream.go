package config

import (
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/fmspush/fmspush/media"
	"github.com/hashicorp/hcl/v2"
)

var streamName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// decodeStreams decodes every stream block, rejecting bad and duplicate
// names: one Stream for each of a block's targets.
func decodeStreams(ps *problems, heads []rawHead, emu *Emulator) []Stream {
	var out []Stream
	seen := map[string]hcl.Range{}
	for _, h := range heads {
		block := fmt.Sprintf("stream %q", h.Name)
		if !uniqueName(ps, seen, h, block, "stream") {
			continue
		}
		out = append(out, decodeStream(ps, h, emu)...)
	}
	return out
}

// uniqueName records h's name in seen; it reports a duplicate (false) or a
// bad name (recorded, true) as problems of block.
func uniqueName(ps *problems, seen map[string]hcl.Range, h rawHead, block, what string) bool {
	if first, dup := seen[h.Name]; dup {
		ps.add(h.NameRange, block, "", fmt.Sprintf("duplicate %s name %q (first defined at %s:%d:%d)",
			what, h.Name, first.Filename, first.Start.Line, first.Start.Column))
		return false
	}
	seen[h.Name] = h.NameRange
	if !streamName.MatchString(h.Name) {
		ps.add(h.NameRange, block, "", fmt.Sprintf("bad %s name: want 1-64 of A-Z a-z 0-9 _ . -, starting with a letter or digit", what))
	}
	return true
}

// decodeStream decodes one stream block: the single `target = "…"` form
// gives one Stream (TargetName ""), each `target "NAME" { }` block one
// Stream with the stream's settings overridden by the target's.
func decodeStream(ps *problems, h rawHead, emu *Emulator) []Stream {
	block := fmt.Sprintf("stream %q", h.Name)
	var r rawStream
	ps.addDiags(decodeBody(h.Body, &r), block, "")
	if len(r.Targets) == 0 {
		s := scope{ps: ps, block: block}
		return withBackup(s, decodePush(s, h.Name, "", r, h.DefRange, emu), r, emu)
	}
	if r.Target != nil {
		ps.add(r.Target.Range, block, "target", "use either target = \"…\" or target \"NAME\" { url = \"…\" } blocks, not both")
		return nil
	}
	if r.Backup != nil || r.BackupMode != nil {
		a := r.Backup
		if a == nil {
			a = r.BackupMode
		}
		ps.add(a.Range, block, a.Name, "with target blocks, a backup belongs in the target block it backs up")
		return nil
	}
	var out []Stream
	seen := map[string]hcl.Range{}
	for _, th := range r.Targets {
		tblock := fmt.Sprintf("stream %q target %q", h.Name, th.Name)
		if !uniqueName(ps, seen, th, tblock, "target") {
			continue
		}
		var t rawTarget
		ps.addDiags(decodeBody(th.Body, &t), tblock, "")
		tr := r.withTarget(t)
		ts := scope{ps: ps, block: tblock}
		for _, st := range withBackup(ts, decodePush(ts, h.Name, th.Name, tr, th.DefRange, emu), tr, emu) {
			if _, dup := seen[st.TargetName]; dup && st.BackupOf != "" {
				ps.add(th.NameRange, tblock, "backup", fmt.Sprintf("its backup's name %q is taken by another target", st.TargetName))
				continue
			}
			seen[st.TargetName] = th.NameRange
			out = append(out, st)
		}
	}
	return out
}

// decodePush decodes one stream's settings for one target, with defaults.
func decodePush(s scope, name, target string, r rawStream, def hcl.Range, emu *Emulator) Stream {
	st := Stream{Name: name, TargetName: target, Enabled: s.boolean(r.Enabled, true)}
	st.Source, st.SourceKind = source(s, r.Source, def)
	st.RTMP = decodeRTMP(s.nested("rtmp"), r.RTMP)
	st.TargetSpec, st.Target = streamTarget(s, r.Target, def, st.RTMP.App != "", emu, target != "")
	st.Prefer = enum(s, r.Prefer, DefaultPrefer, PathNative, PathFFmpeg)
	st.Audio = enum(s, r.Audio, DefaultAudio, media.AudioCopy, media.AudioSilentIfMissing, media.AudioSilent, media.AudioDrop)
	st.FFmpeg = decodeFFmpeg(s.nested("ffmpeg"), r.FFmpeg)
	st.Native = decodeNative(s.nested("native"), r.Native, st.RTMP.FlashVer)
	st.Failover = decodeFailover(s.nested("failover"), r.Failover, emu)
	checkProbeTarget(s.nested("failover"), r.Failover, st)
	st.Auth = decodeAuth(s.nested("auth"), r.Auth, def)
	checkAuth(s.nested("auth"), r.Auth, st)
	if r.RTMP != nil {
		st.RTMP.TLS = decodeTLS(s.nested("rtmp").nested("tls"), r.RTMP.TLS, st)
	}
	return st
}

// decodeAuth decodes the `auth` block (nil when absent).
func decodeAuth(s scope, r *rawAuth, block hcl.Range) *Auth {
	if r == nil {
		return nil
	}
	a := &Auth{
		Scheme: enum(s, r.Scheme, "", AuthTencent, AuthAliyun),
		Key:    s.str(r.Key, ""),
		TTL:    s.duration(r.TTL, DefaultAuthTTL, time.Second, 366*24*time.Hour),
		UID:    s.str(r.UID, ""),
	}
	if r.Scheme == nil {
		s.failAt(block, "scheme", "missing: \"tencent\" or \"aliyun\"")
	}
	if r.Key == nil || a.Key == "" {
		s.failAt(block, "key", "missing: the platform's push signing key")
	}
	if strings.Contains(a.UID, "-") {
		s.fail(r.UID, "must not contain '-' (it separates auth_key's fields)")
	}
	return a
}

// checkAuth checks that the target can be signed as the auth block says
// (the error names neither the URL nor the key).
func checkAuth(s scope, r *rawAuth, st Stream) {
	if st.Auth == nil || st.Auth.Key == "" || st.Auth.Scheme == "" || st.Target == "" {
		return
	}
	if st.RTMP.App != "" || st.RTMP.PlayPath != "" {
		s.fail(r.Scheme, "cannot be used with rtmp { app } or rtmp { playpath }: the signature covers the URL's own app and stream name")
		return
	}
	if _, err := st.Signer().Sign(st.Target, time.Now()); err != nil {
		s.fail(r.Scheme, "the target cannot be signed: %s", err)
	}
}

// streamTarget decodes the required target (the stream's target attribute,
// or a target block's url): as written, and resolved.
func streamTarget(s scope, a *hcl.Attribute, block hcl.Range, hasApp bool, emu *Emulator, named bool) (spec, resolved string) {
	if a == nil {
		if named {
			s.failAt(block, "url", "missing: every target needs a url (rtmp://, rtmps:// or emulator://APP/NAME)")
		} else {
			s.failAt(block, "target", "missing: every stream needs a target (rtmp://, rtmps:// or emulator://APP/NAME), or target \"NAME\" { url = \"…\" } blocks")
		}
		return "", ""
	}
	spec, ok := s.strOK(a, "")
	if !ok {
		return "", ""
	}
	return spec, target(s, a, spec, hasApp, emu)
}

func decodeFFmpeg(s scope, r *rawFFmpeg) FFmpeg {
	if r == nil {
		r = &rawFFmpeg{}
	}
	return FFmpeg{
		Driver:       enum(s, r.Driver, DefaultDriver, DriverExec, DriverLibav),
		StaleTimeout: s.duration(r.StaleTimeout, DefaultStaleTimeout, minPositive, 10*time.Minute),
		InputArgs:    s.list(r.InputArgs),
		ExtraArgs:    s.list(r.ExtraArgs),
		Input:        enum(s, r.Input, DefaultFFmpegInput, InputHub, InputSource),
	}
}

// minPositive is the lower bound of a duration that must be greater than zero.
const minPositive = 1

// Floors and ceilings of the failover limits: a probe at most every 250 ms
// (a "1ns" interval with a high attempt limit made 19,490 connections in
// 10 s), at most 600 connection attempts a minute to one host.
const (
	MinProbeInterval     = 250 * time.Millisecond
	MaxAttemptsPerMinute = 600
	MaxCircuitFailures   = 10000
)

func decodeNative(s scope, r *rawNative, rtmpFlashVer string) Native {
	if r == nil {
		r = &rawNative{}
	}
	return Native{
		Handshake:        enum(s, r.Handshake, DefaultHandshake, HandshakeDigest, HandshakeSimple),
		FlashVer:         s.str(r.FlashVer, rtmpFlashVer),
		HeaderPolicy:     enum(s, r.HeaderPolicy, DefaultHeaderPolicy, HeaderAuto, HeaderType0),
		ChunkSize:        int(s.integer(r.ChunkSize, DefaultChunkSize, MinChunkSize, MaxChunkSize)),
		H265:             enum(s, r.H265, DefaultH265, H265Enhanced, H265Legacy),
		SourceGrace:      s.duration(r.SourceGrace, DefaultSourceGrace, 0, time.Hour),
		MaxDelay:         s.duration(r.MaxDelay, DefaultMaxDelay, minPositive, 5*time.Minute),
		GOPCacheBytes:    s.integer(r.GOPCacheBytes, DefaultGOPCacheBytes, 0, MaxGOPCacheBytes),
		ReconnectRequest: s.boolean(r.ReconnectRequest, true),
	}
}

func decodeRTMP(s scope, r *rawRTMP) RTMP {
	if r == nil {
		return RTMP{}
	}
	return RTMP{
		App:      s.str(r.App, ""),
		PlayPath: s.str(r.PlayPath, ""),
		TCURL:    tcURL(s, r.TCURL),
		FlashVer: s.str(r.FlashVer, ""),
	}
}

func decodeFailover(s scope, r *rawFailover, emu *Emulator) Failover {
	if r == nil {
		r = &rawFailover{}
	}
	f := Failover{
		ProbeInterval: s.duration(r.ProbeInterval, DefaultProbeInterval, MinProbeInterval, 24*time.Hour),
		ProbeDepth:    enum(s, r.ProbeDepth, DefaultProbeDepth, ProbeL0, ProbeL1, ProbeL2, ProbeL3, ProbeL4, ProbeL5),

		FailbackAfter:     s.duration(r.FailbackAfter, DefaultFailbackAfter, 0, 24*time.Hour),
		BackoffInitial:    s.duration(r.BackoffInitial, DefaultBackoffInitial, minPositive, time.Hour),
		BackoffMax:        s.duration(r.BackoffMax, DefaultBackoffMax, minPositive, 24*time.Hour),
		AttemptsPerMinute: int(s.integer(r.AttemptsPerMinute, DefaultAttemptsPerMinute, 1, MaxAttemptsPerMinute)),
		CircuitFailures:   int(s.integer(r.CircuitFailures, DefaultCircuitFailures, 1, MaxCircuitFailures)),
		CircuitWindow:     s.duration(r.CircuitWindow, DefaultCircuitWindow, minPositive, 24*time.Hour),
		CircuitCooldown:   s.duration(r.CircuitCooldown, DefaultCircuitCooldown, minPositive, 24*time.Hour),
		StallTimeout:      s.duration(r.StallTimeout, DefaultStallTimeout, minPositive, 10*time.Minute),
	}
	if spec, ok := s.strOK(r.ProbeTarget, ""); ok && r.ProbeTarget != nil {
		f.ProbeTargetSpec, f.ProbeTarget = spec, target(s, r.ProbeTarget, spec, false, emu)
	}
	if r.BackoffMax != nil && f.BackoffMax < f.BackoffInitial {
		s.fail(r.BackoffMax, "must be at least backoff_initial (%s)", f.BackoffInitial)
	}
	return f
}

// checkProbeTarget enforces that publishing probes never use the live key.
func checkProbeTarget(s scope, r *rawFailover, st Stream) {
	if r == nil {
		return
	}
	f := st.Failover
	if f.ProbeDepth.Publishes() && f.ProbeTargetSpec == "" {
		s.fail(r.ProbeDepth, "%s publishes, so it needs a separate probe_target (probes never publish on the live key)", f.ProbeDepth)
	}
	if f.ProbeTargetSpec != "" && f.ProbeTargetSpec == st.TargetSpec {
		s.fail(r.ProbeTarget, "must differ from the stream's target (probes never publish on the live key)")
	}
}

// rawTLS is the `tls` block inside `rtmp`.
type rawTLS struct {
	CAFile     *hcl.Attribute `hcl:"ca_file,attr"`
	ServerName *hcl.Attribute `hcl:"server_name,attr"`
}

// MaxCAFileSize bounds the CA file a stream's rtmp.tls.ca_file names.
const MaxCAFileSize = 1 << 20

// hostName is a DNS name as a certificate names it (no wildcard, no
// trailing dot): labels of letters, digits and inner hyphens.
var hostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// decodeTLS decodes the `rtmp { tls { } }` block: ca_file must name a
// readable PEM file holding at least one certificate (read now, so that a
// wrong path fails the load with its position), server_name a host name
// or an IP address; the block applies only to an rtmps:// target or probe
// target.
func decodeTLS(s scope, r *rawTLS, st Stream) TLS {
	if r == nil {
		return TLS{}
	}
	t := TLS{CAFile: s.str(r.CAFile, ""), ServerName: s.str(r.ServerName, "")}
	if r.CAFile != nil {
		if msg := checkCAFile(t.CAFile); msg != "" {
			s.fail(r.CAFile, "%s", msg)
			t.CAFile = ""
		}
	}
	if r.ServerName != nil {
		n := t.ServerName
		if net.ParseIP(n) == nil && (len(n) > 253 || !hostName.MatchString(n)) {
			s.fail(r.ServerName, "%q is not a host name or an IP address (no scheme, port, path or wildcard)", n)
			t.ServerName = ""
		}
	}
	if first := firstAttr(r.CAFile, r.ServerName); first != nil && !isRTMPS(st.Target) && !isRTMPS(st.Failover.ProbeTarget) {
		s.failAt(first.NameRange, first.Name, "the stream's target is not rtmps://: the tls block applies to rtmps:// targets only")
	}
	return t
}

// checkCAFile says what is wrong with a CA file, or "".
func checkCAFile(path string) string {
	if path == "" {
		return "must not be empty: name a PEM file of certificate authorities, or leave ca_file out for the system's"
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("cannot read %q: %v", path, unwrapPath(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxCAFileSize+1))
	switch {
	case err != nil:
		return fmt.Sprintf("cannot read %q: %v", path, unwrapPath(err))
	case len(b) > MaxCAFileSize:
		return fmt.Sprintf("%q is over %d bytes: not a CA file", path, MaxCAFileSize)
	case !x509.NewCertPool().AppendCertsFromPEM(b):
		return fmt.Sprintf("%q holds no PEM certificate", path)
	}
	return ""
}

// unwrapPath drops the path from an *os.PathError (the message names it).
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// firstAttr is the first non-nil attribute.
func firstAttr(as ...*hcl.Attribute) *hcl.Attribute {
	for _, a := range as {
		if a != nil {
			return a
		}
	}
	return nil
}

// isRTMPS reports whether a resolved target URL is rtmps://.
func isRTMPS(target string) bool {
	return len(target) >= 8 && strings.EqualFold(target[:8], "rtmps://")
}
