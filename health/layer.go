package health

import "fmt"

// Layer is where in the push chain a failure happened. L0-L5 are the RTMP
// layers of the triage model; Source and Process are the two causes that are
// not the target's fault. They share one type so that every verdict in
// fmspush is classified on one scale.
type Layer uint8

// The layers, in the order a push walks them.
const (
	LayerUnknown   Layer = iota
	LayerNetwork         // L0: DNS, TCP dial, TLS
	LayerHandshake       // L1: C0 C1 / S0 S1 S2 / C2
	LayerConnect         // L2: connect -> _result
	LayerPublish         // L3: releaseStream, FCPublish, createStream, publish -> onStatus
	LayerUpkeep          // L4: acks, pings, chunk size; a reset seconds after publish
	LayerMedia           // L5: metadata, sequence headers, frames; a reset soon after the first frame
	LayerSource          // the source (camera down, no keyframe), not the target's fault
	LayerProcess         // the process (ffmpeg missing, crashed, hung), not the target's fault
)

var layerNames = [...]string{
	LayerUnknown:   "unknown",
	LayerNetwork:   "L0",
	LayerHandshake: "L1",
	LayerConnect:   "L2",
	LayerPublish:   "L3",
	LayerUpkeep:    "L4",
	LayerMedia:     "L5",
	LayerSource:    "source",
	LayerProcess:   "process",
}

var layerTitles = [...]string{
	LayerUnknown:   "unknown",
	LayerNetwork:   "network",
	LayerHandshake: "handshake",
	LayerConnect:   "connect",
	LayerPublish:   "publish",
	LayerUpkeep:    "upkeep",
	LayerMedia:     "media",
	LayerSource:    "source",
	LayerProcess:   "process",
}

// String returns the short name: "L0".."L5", "source", "process" or "unknown".
func (l Layer) String() string {
	if int(l) < len(layerNames) {
		return layerNames[l]
	}
	return fmt.Sprintf("layer(%d)", uint8(l))
}

// Title returns the layer's word: "network", "handshake", ... .
func (l Layer) Title() string {
	if int(l) < len(layerTitles) {
		return layerTitles[l]
	}
	return l.String()
}

// MarshalText renders the short name, so layers read well in JSON.
func (l Layer) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText parses a short name.
func (l *Layer) UnmarshalText(b []byte) error {
	for i, n := range layerNames {
		if n == string(b) {
			*l = Layer(i)
			return nil
		}
	}
	return fmt.Errorf("unknown layer %q", b)
}

// IsTarget reports whether the layer blames the target side (L0-L5).
func (l Layer) IsTarget() bool { return l >= LayerNetwork && l <= LayerMedia }
