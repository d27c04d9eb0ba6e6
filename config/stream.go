package config

import (
	"fmt"
	"regexp"
	"time"

	"github.com/hashicorp/hcl/v2"
)

var streamName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// decodeStreams decodes every stream block, rejecting bad and duplicate names.
func decodeStreams(ps *problems, heads []rawHead, emu *Emulator) []Stream {
	var out []Stream
	seen := map[string]hcl.Range{}
	for _, h := range heads {
		block := fmt.Sprintf("stream %q", h.Name)
		if first, dup := seen[h.Name]; dup {
			ps.add(h.NameRange, block, "", fmt.Sprintf("duplicate stream name %q (first defined at %s:%d:%d)",
				h.Name, first.Filename, first.Start.Line, first.Start.Column))
			continue
		}
		seen[h.Name] = h.NameRange
		if !streamName.MatchString(h.Name) {
			ps.add(h.NameRange, block, "", "bad stream name: want 1-64 of A-Z a-z 0-9 _ . -, starting with a letter or digit")
		}
		out = append(out, decodeStream(ps, h, emu))
	}
	return out
}

// decodeStream decodes one stream's body with its defaults.
func decodeStream(ps *problems, h rawHead, emu *Emulator) Stream {
	s := scope{ps: ps, block: fmt.Sprintf("stream %q", h.Name)}
	var r rawStream
	ps.addDiags(decodeBody(h.Body, &r), s.block, "")
	st := Stream{Name: h.Name, Enabled: s.boolean(r.Enabled, true)}
	st.Source, st.SourceKind = source(s, r.Source, h.DefRange)
	st.RTMP = decodeRTMP(s.nested("rtmp"), r.RTMP)
	st.TargetSpec, st.Target = streamTarget(s, r.Target, h.DefRange, st.RTMP.App != "", emu)
	st.Prefer = enum(s, r.Prefer, DefaultPrefer, PathNative, PathFFmpeg)
	st.Audio = enum(s, r.Audio, DefaultAudio, AudioCopy, AudioSilentIfMissing, AudioSilent, AudioDrop)
	st.FFmpeg = decodeFFmpeg(s.nested("ffmpeg"), r.FFmpeg)
	st.Native = decodeNative(s.nested("native"), r.Native, st.RTMP.FlashVer)
	st.Failover = decodeFailover(s.nested("failover"), r.Failover, emu)
	checkProbeTarget(s.nested("failover"), r.Failover, st)
	return st
}

// streamTarget decodes the required target: as written, and resolved.
func streamTarget(s scope, a *hcl.Attribute, block hcl.Range, hasApp bool, emu *Emulator) (spec, resolved string) {
	if a == nil {
		s.failAt(block, "target", "missing: every stream needs a target (rtmp://, rtmps:// or emulator://APP/NAME)")
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
		Handshake:     enum(s, r.Handshake, DefaultHandshake, HandshakeDigest, HandshakeSimple),
		FlashVer:      s.str(r.FlashVer, rtmpFlashVer),
		HeaderPolicy:  enum(s, r.HeaderPolicy, DefaultHeaderPolicy, HeaderAuto, HeaderType0),
		ChunkSize:     int(s.integer(r.ChunkSize, DefaultChunkSize, MinChunkSize, MaxChunkSize)),
		H265:          enum(s, r.H265, DefaultH265, H265Enhanced, H265Legacy),
		SourceGrace:   s.duration(r.SourceGrace, DefaultSourceGrace, 0, time.Hour),
		MaxDelay:      s.duration(r.MaxDelay, DefaultMaxDelay, minPositive, 5*time.Minute),
		GOPCacheBytes: s.integer(r.GOPCacheBytes, DefaultGOPCacheBytes, 0, MaxGOPCacheBytes),
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
