package health

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReadableDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		8 * time.Second:                         "8s",
		1500 * time.Millisecond:                 "1.5s",
		125*time.Second + 400*time.Millisecond:  "2m5s",
		112345678 * time.Nanosecond:             "112.346ms",
		350 * time.Microsecond:                  "350µs",
		0:                                       "0s",
		NotReached:                              "",
		time.Second + 234567890*time.Nanosecond: "1.235s",
		90*time.Minute + 500*time.Millisecond + 1: "1h30m1s",
	} {
		require.Equal(t, want, ReadableDuration(d), "%d", d)
	}
}

func TestStatusJSONHasReadableDurationsNextToNanoseconds(t *testing.T) {
	v := NewVerdict(LayerMedia, "reset_after_first_frame", "reset")
	v.SinceDial, v.SincePublish, v.TimeToRST = 2*time.Second, 1500*time.Millisecond, 112*time.Millisecond
	st := StreamStatus{Name: "cam", Paths: []PathStatus{{Kind: "native", Backoff: 8 * time.Second, LastVerdict: v,
		LastProbe: &ProbeSummary{Duration: 250 * time.Millisecond, Layers: []LayerSummary{{Layer: LayerNetwork, Duration: 3 * time.Millisecond}}}}},
		Delivery: &Delivery{LagMillis: 1800}}
	b, err := json.Marshal(st)
	require.NoError(t, err)
	var m struct {
		Paths []struct {
			BackoffNS   int64          `json:"backoff_ns"`
			Backoff     string         `json:"backoff"`
			LastVerdict map[string]any `json:"last_verdict"`
			LastProbe   struct {
				DurationNS int64  `json:"duration_ns"`
				Duration   string `json:"duration"`
				Layers     []map[string]any
			} `json:"last_probe"`
		}
		Delivery map[string]any
	}
	require.NoError(t, json.Unmarshal(b, &m))
	p := m.Paths[0]
	require.Equal(t, int64(8e9), p.BackoffNS)
	require.Equal(t, "8s", p.Backoff)
	require.Equal(t, "250ms", p.LastProbe.Duration)
	require.Equal(t, int64(250e6), p.LastProbe.DurationNS)
	require.Equal(t, "3ms", p.LastProbe.Layers[0]["duration"])
	require.Equal(t, 3e6, p.LastProbe.Layers[0]["duration_ns"])
	require.Equal(t, "2s", p.LastVerdict["since_dial"])
	require.Equal(t, "1.5s", p.LastVerdict["since_publish"])
	require.Equal(t, "112ms", p.LastVerdict["time_to_rst"])
	require.Equal(t, -1.0, p.LastVerdict["since_first_frame_ns"])
	require.NotContains(t, p.LastVerdict, "since_first_frame", "a step never reached has no readable form")
	require.Equal(t, "L5", p.LastVerdict["layer"])
	require.Equal(t, "1.8s", m.Delivery["lag"])
	require.Equal(t, 1800.0, m.Delivery["lag_ms"])

	var back StreamStatus
	require.NoError(t, json.Unmarshal(b, &back), "the readable fields do not get in the way of decoding")
	require.Equal(t, 8*time.Second, back.Paths[0].Backoff)
	require.Equal(t, 112*time.Millisecond, back.Paths[0].LastVerdict.TimeToRST)
}
