package media

import (
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// AAC syntax element ids (ISO 14496-3 4.5.2.1).
const (
	aacSCE = 0 // single channel element
	aacCPE = 1 // channel pair element
	aacEND = 7
)

// silenceResync is how far video may run ahead of the generated audio
// before the generator skips forward instead of filling the gap.
const silenceResync = time.Second

// bitWriter appends big-endian bit fields.
type bitWriter struct {
	b []byte
	n int // bits written
}

func (w *bitWriter) put(v uint32, bits int) {
	for i := bits - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>uint(i)&1 != 0 {
			w.b[len(w.b)-1] |= 0x80 >> uint(w.n%8)
		}
		w.n++
	}
}

// silentICS writes an individual_channel_stream with no spectral data:
// global_gain, ics_info for one long window with max_sfb 0, and no pulse,
// TNS or gain control. Every coefficient is zero: digital silence.
func silentICS(w *bitWriter) {
	w.put(100, 8) // global_gain (unused: no scale factor bands)
	w.put(0, 1)   // ics_reserved_bit
	w.put(0, 2)   // window_sequence ONLY_LONG_SEQUENCE
	w.put(0, 1)   // window_shape
	w.put(0, 6)   // max_sfb
	w.put(0, 1)   // predictor_data_present
	w.put(0, 1)   // pulse_data_present
	w.put(0, 1)   // tns_data_present
	w.put(0, 1)   // gain_control_data_present
}

// SilentAACFrame returns one raw AAC-LC frame (raw_data_block, no ADTS)
// that decodes to 1024 samples of silence on 1 or 2 channels.
func SilentAACFrame(channels int) ([]byte, error) {
	var w bitWriter
	switch channels {
	case 1:
		w.put(aacSCE, 3)
		w.put(0, 4) // element_instance_tag
		silentICS(&w)
	case 2:
		w.put(aacCPE, 3)
		w.put(0, 4) // element_instance_tag
		w.put(0, 1) // common_window
		silentICS(&w)
		silentICS(&w)
	default:
		return nil, fmt.Errorf("media: silent AAC supports 1 or 2 channels, not %d", channels)
	}
	w.put(aacEND, 3)
	return w.b, nil
}

// SilentAACParams returns AAC-LC parameters (with their AudioSpecificConfig)
// for a standard sample rate and 1 or 2 channels.
func SilentAACParams(sampleRate, channels int) (AudioParams, error) {
	if channels != 1 && channels != 2 {
		return AudioParams{}, fmt.Errorf("media: silent AAC supports 1 or 2 channels, not %d", channels)
	}
	switch sampleRate {
	case 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000:
	default:
		return AudioParams{}, fmt.Errorf("media: silent AAC does not support %d Hz", sampleRate)
	}
	asc := mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: sampleRate,
		ChannelConfig: uint8(channels)}
	b, err := asc.Marshal()
	if err != nil {
		return AudioParams{}, err
	}
	return AudioParams{Codec: CodecAAC, Config: b, SampleRate: sampleRate, Channels: channels}, nil
}

// SilenceGenerator adds a silent AAC track to video: fed each video unit in
// DTS order, it returns the silent audio frames due up to that unit's DTS,
// then the unit. Audio timestamps count samples from the first video DTS,
// so they never drift; if video leaps ahead by more than a second the audio
// skips forward rather than bursting. Not safe for concurrent use.
type SilenceGenerator struct {
	params  AudioParams
	frame   []byte
	started bool
	origin  time.Duration
	n       int64
}

// NewSilenceGenerator returns a generator for sampleRate Hz and 1 or 2
// channels (44100/2 matches most platforms' expectations).
func NewSilenceGenerator(sampleRate, channels int) (*SilenceGenerator, error) {
	p, err := SilentAACParams(sampleRate, channels)
	if err != nil {
		return nil, err
	}
	f, err := SilentAACFrame(channels)
	if err != nil {
		return nil, err
	}
	return &SilenceGenerator{params: p, frame: f}, nil
}

// Params returns the audio parameters of the generated track.
func (g *SilenceGenerator) Params() AudioParams { return g.params }

// next is the DTS of the next audio frame.
func (g *SilenceGenerator) next() time.Duration {
	return g.origin + time.Duration(g.n*1024*int64(time.Second)/int64(g.params.SampleRate))
}

// Feed returns the silent frames due up to v.DTS followed by v itself.
func (g *SilenceGenerator) Feed(v Unit) []Unit {
	if !g.started || v.DTS-g.next() > silenceResync {
		g.started, g.origin, g.n = true, v.DTS, 0
	}
	var out []Unit
	for d := g.next(); d <= v.DTS; d = g.next() {
		out = append(out, Unit{Codec: CodecAAC, DTS: d, PTS: d, Key: true, Payload: g.frame})
		g.n++
	}
	return append(out, v)
}
