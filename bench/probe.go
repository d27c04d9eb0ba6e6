package bench

import (
	"context"
	"time"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/prober"
	"github.com/fmspush/fmspush/rtmp"
)

// ProbeTimes are the cumulative times, from dial, at which each layer of a
// publish session completed: L0 TCP connected, L1 handshake done, L2
// connect answered, L3 NetStream.Publish.Start.
type ProbeTimes map[string][]time.Duration

// RunProbes walks L0-L3 against the emulator n times with rtmp.Dial (what
// a publishing L3 probe does) and records each layer's completion time from
// the publisher's step clock. The layered probe (now prober.Probe) was not
// in the tree when this was written; this is the same walk without the
// probe's bookkeeping.
func RunProbes(ctx context.Context, emu *Emulator, n int) (ProbeTimes, error) {
	out := ProbeTimes{}
	layers := []health.Layer{health.LayerNetwork, health.LayerHandshake, health.LayerConnect, health.LayerPublish}
	for i := 0; i < n; i++ {
		p, err := rtmp.Dial(ctx, emu.Target("probe"), rtmp.PublishOptions{FlashVer: NativeFlashVer})
		if err != nil {
			return out, err
		}
		for _, l := range layers {
			out[l.String()] = append(out[l.String()], p.StepDone(l))
		}
		_ = p.Close()
	}
	return out, nil
}

// ProbeDepth is one depth of prober.Probe and how long the whole probe took.
type ProbeDepth struct {
	Depth   string          `json:"depth"`
	Elapsed []time.Duration `json:"elapsed_ns"`
	Failed  int             `json:"failed"`
}

// RunLayeredProbes times prober.Probe against the emulator at depth L2
// (connect, no publish), L3 (publish) and L5 (mediaDur of media), n times
// each for L2 and L3 and nMedia times for L5, alternating the depths.
func RunLayeredProbes(ctx context.Context, emu *Emulator, n, nMedia int, mediaDur time.Duration) []ProbeDepth {
	depths := []ProbeDepth{{Depth: "L2"}, {Depth: "L3"}, {Depth: "L5"}}
	opts := []prober.Options{{}, {Publish: true}, {Media: true, MediaDuration: mediaDur}}
	for i := 0; i < n; i++ {
		for d := range depths {
			if d == 2 && i >= nMedia {
				continue
			}
			o := opts[d]
			o.Session.FlashVer = NativeFlashVer
			o.NoBisect = true
			res, err := prober.Probe(ctx, emu.Target("probe"), o)
			if err != nil || !res.OK() {
				depths[d].Failed++
				continue
			}
			depths[d].Elapsed = append(depths[d].Elapsed, res.Elapsed)
		}
	}
	return depths
}
