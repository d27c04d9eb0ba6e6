package main

import (
	"github.com/hashicorp/go-hclog"

	"github.com/fmspush/fmspush/config"
	"github.com/fmspush/fmspush/media"
	"github.com/fmspush/fmspush/nativepath"
	"github.com/fmspush/fmspush/rtmp"
	"github.com/fmspush/fmspush/supervisor"
)

// publishOptions maps a stream's native and rtmp settings to the publish
// session's options.
func publishOptions(st config.Stream) rtmp.PublishOptions {
	o := rtmp.PublishOptions{
		App:             st.RTMP.App,
		StreamName:      st.RTMP.PlayPath,
		TCURL:           st.RTMP.TCURL,
		FlashVer:        st.Native.FlashVer,
		SimpleHandshake: st.Native.Handshake == config.HandshakeSimple,
		ChunkSize:       uint32(st.Native.ChunkSize),
		TLSConfig:       streamTLS(st),
	}
	if st.Native.HeaderPolicy == config.HeaderType0 {
		o.HeaderPolicy = rtmp.HeaderType0
	}
	if st.Native.H265 == config.H265Legacy {
		o.H265 = media.HEVCLegacy
	}
	return o
}

// ingestLog is the logger of st's camera session.
func (s *service) ingestLog(st config.Stream) hclog.Logger {
	return s.log.Named("stream").With("stream", st.Name, "path", "native")
}

func (s *service) nativePath(st config.Stream, log hclog.Logger, backup *supervisor.Backup) supervisor.PathSpec {
	set := nativepath.Settings{
		Source:        st.Source,
		Target:        st.Target,
		Publish:       publishOptions(st),
		Audio:         st.Audio,
		SourceGrace:   st.Native.SourceGrace,
		GOPCacheBytes: st.Native.GOPCacheBytes,
		StallTimeout:  st.Failover.StallTimeout,
		MaxDelay:      st.Native.MaxDelay,
		Logger:        log,
		// A server's ReconnectRequest moves the session (native.reconnect_request).
		NoReconnectRequest: !st.Native.ReconnectRequest,
		// The source's reconnects share the per-host limit with every
		// target's attempts, keyed by the source's host.
		Limiter:           s.limiter,
		AttemptsPerMinute: st.Failover.AttemptsPerMinute,
		// Every target of the stream publishes from one camera session.
		Ingest: s.ingests.get(st, s.limiter, s.ingestLog(st)),
		Sign:   st.Signer(),
	}
	if backup != nil {
		set.Backup, set.UseBackup = st.Backup, backup.Active
	}
	p, err := nativepath.New(set)
	if err != nil {
		return supervisor.PathSpec{Path: brokenPath{kind: "native", err: err}}
	}
	return supervisor.PathSpec{Path: p, Probe: s.prober(st, probeNative(st))}
}
