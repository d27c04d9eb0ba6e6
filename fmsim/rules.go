// Package fmsim is a strict Adobe-FMS-compatible RTMP ingest emulator.
//
// A Server accepts publishes, decodes and validates the media it receives and
// enforces a set of named rules (a profile): the handshake digest, flashVer,
// token auth, window acknowledgements and ping responses, stream ids, metadata,
// sequence headers, AVCC framing, audio presence, plus fault injection for tests.
// What it saw is exposed to in-process tests (Sessions, Streams, WaitFor) and,
// optionally, written as one JSON line per message (transcripts) that
// DiffTranscripts compares.
package fmsim

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fmspush/fmspush/redact"
)

// Rules are the named switches of the emulator. The zero value accepts
// everything (and sends the FMS defaults). A rule is set by name with Set;
// durations take Go syntax ("250ms") or bare milliseconds, and every duration
// rule may also be named with an "_ms" suffix ("ack_timeout_ms=500").
type Rules struct {
	// RequireDigest (require_digest): a C1 without a valid digest gets the connection closed after C1 (L1).
	RequireDigest bool
	// FlashVerPrefix (flashver_prefix): connect's flashVer must start with it, else Connect.Rejected (L2).
	FlashVerPrefix string
	// RejectFlashVer (reject_flashver): fault; a flashVer matching this pattern is rejected at connect (L2).
	RejectFlashVer string
	// RejectSessions (reject_sessions): fault; the first N connects after the rules were set
	// (of flashVers matching FaultFlashVer) are rejected (L2).
	RejectSessions int
	// RequireFCPublish (require_fcpublish): publish without releaseStream and FCPublish first gets BadName (L3).
	RequireFCPublish bool
	// SinglePublisher (single_publisher): while a session publishes a stream name (the bare name,
	// without the query), another publish of it gets onStatus error NetStream.Publish.BadName
	// "NAME is already publishing" (L3), as FMS, nginx-rtmp and SRS refuse a second live publisher.
	// The holder keeps the name until it unpublishes or its connection is gone: a stalled session
	// holds it until the client closes or resets the socket (the emulator notices that while not
	// reading), or until the server closes or resets it.
	SinglePublisher bool
	// AuthSecret (auth_secret): token auth; the publish name query must carry wsSecret/txSecret =
	// hex MD5(secret + stream name + time) and an unexpired wsTime/txTime (L3).
	AuthSecret string
	// AliyunKey (aliyun_key): Alibaba Cloud type A auth; the publish name query must carry
	// auth_key=timestamp-rand-uid-md5hash, md5hash = hex MD5("/app/stream-timestamp-rand-uid-key"),
	// timestamp (decimal unix seconds) not past (L3).
	AliyunKey string
	// AdobeAuth (adobe_auth): "user:password"; connect must pass Adobe publish authentication
	// (authmod=adobe, as FMS and Wowza ask it: "need auth", then the salt, challenge and opaque,
	// then the response), else Connect.Rejected (L3). The password never shows in String.
	AdobeAuth string
	// LLNWAuth (llnw_auth): "user:password"; connect must pass Limelight publish authentication
	// (authmod=llnw: "need auth", then a nonce, then the digest response), else
	// Connect.Rejected (L3). When AdobeAuth is set too, a client that names no scheme is asked
	// for adobe. The password never shows in String.
	LLNWAuth string
	// StreamID (stream_id): the message stream id createStream returns (0 means 1).
	StreamID uint32
	// WindowAckSize (window_ack_size): the window announced after connect (0 means 2500000).
	WindowAckSize uint32
	// ChunkSize (chunk_size): the chunk size the server sends with (0 means 4096).
	ChunkSize uint32
	// PadBytes (pad_bytes): command bytes sent before Publish.Start so that the client must ack.
	PadBytes int
	// RequireAcks (require_acks): no Acknowledgement within AckTimeout of the server's output
	// crossing the window gets a TCP RST (L4).
	RequireAcks bool
	// AckTimeout (ack_timeout): see RequireAcks (0 means 5s).
	AckTimeout time.Duration
	// PingInterval (ping_interval): a PingRequest is sent this often after publish (0: never).
	PingInterval time.Duration
	// PingTimeout (ping_timeout): no PingResponse within it gets a TCP RST (L4); 0 disables the check.
	PingTimeout time.Duration
	// WriteTimeout (write_timeout): a client that does not read for this long is reset (0 means 10s).
	WriteTimeout time.Duration
	// StrictStreamID (strict_msid): media on a message stream id other than createStream's is rejected (L5).
	StrictStreamID bool
	// RequireMetadata (require_metadata): onMetaData with width, height and framerate must precede
	// the first video frame (L5).
	RequireMetadata bool
	// AudioWithin (audio_within): an audio message must arrive within this time of the first video
	// frame (L5); 0 disables the check.
	AudioWithin time.Duration
	// ValidateNALU (validate_nalu): AVCC/HVCC NALU length prefixes must tile the frame exactly (L5).
	ValidateNALU bool
	// RequireSeqHeader (require_seq_header): sequence headers must precede coded frames (L5).
	RequireSeqHeader bool
	// RequireFmt0 (require_fmt0): every media message must start with a fmt 0 chunk header (L5),
	// as some receivers that cannot parse fmt 1/2/3 demand (the seed case's suspect; ffmpeg fails it).
	RequireFmt0 bool
	// MaxGOP (max_gop): a video frame more than this after the last keyframe is a violation (L5);
	// 0 disables the check.
	MaxGOP time.Duration
	// KeyframeFirst (keyframe_first): the first video frame must be a keyframe (L5).
	KeyframeFirst bool
	// RSTDelay (rst_delay): how long after the first offending frame a media violation is answered
	// by a RST (0 means at once).
	RSTDelay time.Duration
	// FaultFlashVer (fault_flashver): the fault rules (reject_sessions and those below) apply only
	// to sessions whose flashVer matches this pattern (empty: all sessions). Patterns are
	// substrings, or globs when they contain * ? [. ffmpeg sends "FMLE/3.0 (compatible; Lavf..)",
	// the rtmp package "FMLE/3.0 (compatible; FMSc/1.0)": "Lavf" and "FMSc" tell them apart.
	FaultFlashVer string
	// FaultStream (fault_stream): the fault rules below apply only to publishes whose bare stream
	// name matches this pattern (empty: all).
	FaultStream string
	// RSTAfterMedia (rst_after_media): fault; RST this long after the first media message.
	RSTAfterMedia time.Duration
	// RSTAfterFirstFrame (rst_after_first_frame): fault; RST this long after the first coded video frame (L5).
	RSTAfterFirstFrame time.Duration
	// StallAfterPublish (stall_after_publish): fault; stop reading this long after Publish.Start.
	StallAfterPublish time.Duration
	// CloseAfterPublish (close_after_publish): fault; close (FIN) this long after Publish.Start.
	CloseAfterPublish time.Duration
	// ReconnectRequestAfter (reconnect_request_after): fault; this long after Publish.Start, an
	// onStatus NetConnection.Connect.ReconnectRequest (Enhanced RTMP v2) asks the client to
	// reconnect, to ReconnectTCURL when set. Only a client whose connect advertised the
	// capability (capsEx with the Reconnect bit) is asked; for another one the request is
	// withheld (SessionInfo.ReconnectWithheld). The session goes on as before: the client ends it.
	// A session is asked once; changing either reconnect rule (UpdateRules) asks it again (at once
	// when the time has passed).
	ReconnectRequestAfter time.Duration
	// ReconnectTCURL (reconnect_tcurl): the tcUrl the ReconnectRequest names (empty: none, the
	// client reconnects to its current tcUrl). Its query values are masked in String.
	ReconnectTCURL string
}

// ruleDef binds a rule name to a field of Rules.
type ruleDef struct {
	name string
	help string
	set  func(r *Rules, v string) error
	get  func(r *Rules) string
	dur  bool // a duration: may be named with an "_ms" suffix
	// secret: String masks the value (all of it, or with user the
	// password after "user:")
	secret, user bool
	url          bool // String redacts the value as a URL
}

// secretRule is d with its value masked in String.
func secretRule(d ruleDef) ruleDef {
	d.secret = true
	return d
}

// userSecretRule is d, a "user:password" value, with the password masked
// in String.
func userSecretRule(d ruleDef) ruleDef {
	d.secret, d.user = true, true
	return d
}

// urlRule is d, a URL, with its query values masked in String.
func urlRule(d ruleDef) ruleDef {
	d.url = true
	return d
}

// mask hides a secret rule's value: "user:***" for a user rule, else "***".
func (d ruleDef) mask(v string) string {
	if v == "" {
		return v
	}
	if user, _, ok := strings.Cut(v, ":"); ok && d.user {
		return user + ":" + redact.Mask
	}
	return redact.Mask
}

func boolRule(name, help string, f func(*Rules) *bool) ruleDef {
	return ruleDef{name, help,
		func(r *Rules, v string) error {
			b, err := strconv.ParseBool(v)
			*f(r) = b
			return err
		},
		func(r *Rules) string { return strconv.FormatBool(*f(r)) }, false, false, false, false}
}

func stringRule(name, help string, f func(*Rules) *string) ruleDef {
	return ruleDef{name, help,
		func(r *Rules, v string) error { *f(r) = v; return nil },
		func(r *Rules) string { return *f(r) }, false, false, false, false}
}

func intRule(name, help string, f func(*Rules) *int) ruleDef {
	return ruleDef{name, help,
		func(r *Rules, v string) error {
			n, err := strconv.Atoi(v)
			*f(r) = n
			return err
		},
		func(r *Rules) string { return strconv.Itoa(*f(r)) }, false, false, false, false}
}

func uintRule(name, help string, f func(*Rules) *uint32) ruleDef {
	return ruleDef{name, help,
		func(r *Rules, v string) error {
			n, err := strconv.ParseUint(v, 10, 32)
			*f(r) = uint32(n)
			return err
		},
		func(r *Rules) string { return strconv.FormatUint(uint64(*f(r)), 10) }, false, false, false, false}
}

func durRule(name, help string, f func(*Rules) *time.Duration) ruleDef {
	return ruleDef{name, help,
		func(r *Rules, v string) error {
			d, err := parseDuration(v)
			*f(r) = d
			return err
		},
		func(r *Rules) string { return f(r).String() }, true, false, false, false}
}

// parseDuration takes Go syntax, bare milliseconds, or true/false (1ms / off).
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(n) * time.Millisecond, nil
	}
	switch strings.ToLower(v) {
	case "true", "on":
		return time.Millisecond, nil
	case "false", "off", "":
		return 0, nil
	}
	return time.ParseDuration(v)
}

var ruleDefs = []ruleDef{
	boolRule("require_digest", "close after C1 unless it carries a valid digest (L1)", func(r *Rules) *bool { return &r.RequireDigest }),
	stringRule("flashver_prefix", "connect flashVer must start with this (L2)", func(r *Rules) *string { return &r.FlashVerPrefix }),
	stringRule("reject_flashver", "fault: reject a flashVer matching this pattern at connect (L2)", func(r *Rules) *string { return &r.RejectFlashVer }),
	intRule("reject_sessions", "fault: reject the next N connects (matching fault_flashver), then accept (L2)", func(r *Rules) *int { return &r.RejectSessions }),
	boolRule("require_fcpublish", "publish needs releaseStream and FCPublish first (L3)", func(r *Rules) *bool { return &r.RequireFCPublish }),
	boolRule("single_publisher", "refuse a publish of a stream name another session is publishing: BadName \"NAME is already publishing\" (L3)", func(r *Rules) *bool { return &r.SinglePublisher }),
	secretRule(stringRule("auth_secret", "token auth secret for wsSecret/txSecret (L3)", func(r *Rules) *string { return &r.AuthSecret })),
	secretRule(stringRule("aliyun_key", "Alibaba Cloud type A auth key for auth_key=timestamp-rand-uid-md5hash (L3)", func(r *Rules) *string { return &r.AliyunKey })),
	userSecretRule(stringRule("adobe_auth", "user:password; Adobe publish authentication (authmod=adobe) at connect (L3)", func(r *Rules) *string { return &r.AdobeAuth })),
	userSecretRule(stringRule("llnw_auth", "user:password; Limelight publish authentication (authmod=llnw) at connect (L3)", func(r *Rules) *string { return &r.LLNWAuth })),
	uintRule("stream_id", "message stream id returned by createStream (default 1)", func(r *Rules) *uint32 { return &r.StreamID }),
	uintRule("window_ack_size", "window announced after connect (default 2500000)", func(r *Rules) *uint32 { return &r.WindowAckSize }),
	uintRule("chunk_size", "server output chunk size (default 4096)", func(r *Rules) *uint32 { return &r.ChunkSize }),
	intRule("pad_bytes", "command padding sent before Publish.Start so the client must ack", func(r *Rules) *int { return &r.PadBytes }),
	boolRule("require_acks", "RST when no Acknowledgement within ack_timeout of crossing the window (L4)", func(r *Rules) *bool { return &r.RequireAcks }),
	durRule("ack_timeout", "see require_acks (default 5s)", func(r *Rules) *time.Duration { return &r.AckTimeout }),
	durRule("ping_interval", "send a PingRequest this often after publish (0: never)", func(r *Rules) *time.Duration { return &r.PingInterval }),
	durRule("ping_timeout", "RST when a PingRequest is not answered within it (L4; 0: no check)", func(r *Rules) *time.Duration { return &r.PingTimeout }),
	durRule("write_timeout", "reset a client whose reading blocks a write this long (default 10s)", func(r *Rules) *time.Duration { return &r.WriteTimeout }),
	boolRule("strict_msid", "media must use createStream's stream id (L5)", func(r *Rules) *bool { return &r.StrictStreamID }),
	boolRule("require_metadata", "onMetaData with width/height/framerate before the first video frame (L5)", func(r *Rules) *bool { return &r.RequireMetadata }),
	durRule("audio_within", "audio must arrive within this of the first video frame (L5; 0: no check)", func(r *Rules) *time.Duration { return &r.AudioWithin }),
	boolRule("validate_nalu", "NALU length prefixes must tile each frame (L5)", func(r *Rules) *bool { return &r.ValidateNALU }),
	boolRule("require_seq_header", "sequence headers before coded frames (L5)", func(r *Rules) *bool { return &r.RequireSeqHeader }),
	boolRule("require_fmt0", "every media message starts with a fmt 0 chunk header (L5)", func(r *Rules) *bool { return &r.RequireFmt0 }),
	durRule("max_gop", "keyframes at most this far apart in media time (L5; 0: no check)", func(r *Rules) *time.Duration { return &r.MaxGOP }),
	boolRule("keyframe_first", "the first video frame is a keyframe (L5)", func(r *Rules) *bool { return &r.KeyframeFirst }),
	durRule("rst_delay", "delay from the first offending frame to the RST", func(r *Rules) *time.Duration { return &r.RSTDelay }),
	stringRule("fault_flashver", "fault rules (reject_sessions, rst_*, stall_*, close_*) apply only to flashVers matching this pattern", func(r *Rules) *string { return &r.FaultFlashVer }),
	stringRule("fault_stream", "media/publish fault rules apply only to stream names matching this pattern", func(r *Rules) *string { return &r.FaultStream }),
	durRule("rst_after_media", "fault: RST this long after the first media message", func(r *Rules) *time.Duration { return &r.RSTAfterMedia }),
	durRule("rst_after_first_frame", "fault: RST this long after the first video frame (L5)", func(r *Rules) *time.Duration { return &r.RSTAfterFirstFrame }),
	durRule("stall_after_publish", "fault: stop reading this long after Publish.Start", func(r *Rules) *time.Duration { return &r.StallAfterPublish }),
	durRule("close_after_publish", "fault: close this long after Publish.Start", func(r *Rules) *time.Duration { return &r.CloseAfterPublish }),
	durRule("reconnect_request_after", "fault: send NetConnection.Connect.ReconnectRequest this long after Publish.Start, to a client that advertised it (capsEx)", func(r *Rules) *time.Duration { return &r.ReconnectRequestAfter }),
	urlRule(stringRule("reconnect_tcurl", "the tcUrl reconnect_request_after names (empty: the current one)", func(r *Rules) *string { return &r.ReconnectTCURL })),
}

func findRule(name string) (ruleDef, bool) {
	for _, d := range ruleDefs {
		if d.name == name {
			return d, true
		}
	}
	return ruleDef{}, false
}

// Set sets the rule called name from its text value. A duration rule may be
// named with an "_ms" suffix, its value then being milliseconds.
func (r *Rules) Set(name, value string) error {
	d, ok := findRule(name)
	if !ok {
		base, isMs := strings.CutSuffix(name, "_ms")
		if d, ok = findRule(base); !ok || !isMs || !d.dur {
			return fmt.Errorf("fmsim: unknown rule %q", name)
		}
	}
	if err := d.set(r, strings.TrimSpace(value)); err != nil {
		return fmt.Errorf("fmsim: rule %s=%q: %w", d.name, value, err)
	}
	return nil
}

// Get returns the text value of the rule called name.
func (r *Rules) Get(name string) (string, bool) {
	d, ok := findRule(strings.TrimSuffix(name, "_ms"))
	if !ok {
		return "", false
	}
	return d.get(r), true
}

// Apply sets every "name=value" in specs, in order.
func (r *Rules) Apply(specs ...string) error {
	for _, s := range specs {
		name, value, ok := strings.Cut(s, "=")
		if !ok {
			value = "true"
		}
		if err := r.Set(strings.TrimSpace(name), value); err != nil {
			return err
		}
	}
	return nil
}

// String lists the rules that differ from the zero value as "name=value" pairs,
// secrets masked (auth_secret and aliyun_key whole, the passwords of
// adobe_auth and llnw_auth).
func (r Rules) String() string {
	var zero Rules
	var out []string
	for _, d := range ruleDefs {
		if v := d.get(&r); v != d.get(&zero) {
			if d.secret {
				v = d.mask(v)
			}
			if d.url {
				v = redact.URL(v)
			}
			out = append(out, d.name+"="+v)
		}
	}
	return strings.Join(out, " ")
}

// RuleNames returns every rule name with its one-line meaning, sorted.
func RuleNames() map[string]string {
	m := make(map[string]string, len(ruleDefs))
	for _, d := range ruleDefs {
		m[d.name] = d.help
	}
	return m
}

// Profile names.
const (
	ProfileLenient   = "lenient"
	ProfileCloud     = "cloud"
	ProfileCompanion = "companion"
)

// Profile returns the rules of a named profile: lenient (what nginx-rtmp
// accepts), cloud (token auth when a secret is set, 64 KiB window, acks and
// pings enforced within 5 s, one publisher per name) or companion (digest,
// FMLE flashVer, one publisher per name, stream id 7 and the media-level
// checks answered by a RST 120 ms after the offending frame).
func Profile(name string) (Rules, error) {
	switch name {
	case ProfileLenient, "":
		return Rules{}, nil
	case ProfileCloud:
		return Rules{
			WindowAckSize: 64 * 1024, PadBytes: 64*1024 + 16*1024, RequireAcks: true,
			AckTimeout: 5 * time.Second, PingInterval: time.Second, PingTimeout: 5 * time.Second,
			SinglePublisher: true,
		}, nil
	case ProfileCompanion:
		return Rules{
			RequireDigest: true, FlashVerPrefix: "FMLE/", RequireFCPublish: true, SinglePublisher: true, StreamID: 7,
			StrictStreamID: true, RequireMetadata: true, AudioWithin: time.Second,
			ValidateNALU: true, RequireSeqHeader: true, RSTDelay: 120 * time.Millisecond,
		}, nil
	}
	return Rules{}, fmt.Errorf("fmsim: unknown profile %q (lenient, cloud, companion)", name)
}

// Profiles lists the profile names.
func Profiles() []string {
	p := []string{ProfileLenient, ProfileCloud, ProfileCompanion}
	sort.Strings(p)
	return p
}

func (r *Rules) streamID() uint32 { return orDefault(r.StreamID, 1) }
func (r *Rules) window() uint32   { return orDefault(r.WindowAckSize, 2500000) }
func (r *Rules) chunkSize() uint32 {
	return orDefault(r.ChunkSize, 4096)
}

func (r *Rules) ackTimeout() time.Duration {
	if r.AckTimeout <= 0 {
		return 5 * time.Second
	}
	return r.AckTimeout
}

func (r *Rules) writeTimeout() time.Duration {
	if r.WriteTimeout <= 0 {
		return 10 * time.Second
	}
	return r.WriteTimeout
}

func orDefault(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}

// faultApplies reports whether the fault rules target a session.
func (r *Rules) faultApplies(flashVer, stream string) bool {
	return matchPattern(r.FaultFlashVer, flashVer) && matchPattern(r.FaultStream, stream)
}

// matchPattern reports whether s matches p: a glob when p has * ? or [,
// otherwise a substring. An empty pattern matches everything.
func matchPattern(p, s string) bool {
	if p == "" {
		return true
	}
	if strings.ContainsAny(p, "*?[") {
		ok, err := path.Match(p, s)
		return err == nil && ok
	}
	return strings.Contains(s, p)
}
