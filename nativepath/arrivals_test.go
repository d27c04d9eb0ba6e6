package nativepath

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/fmsim"
)

// arrival is one media message as the emulator received it.
type arrival struct {
	at    time.Duration // since the TCP accept
	ts    time.Duration // media timestamp
	video bool
}

// arrivals reads the media lines of a session's transcript.
func arrivals(t testing.TB, path string) []arrival {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []arrival
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e fmsim.Entry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Dir != "in" || (e.Type != 8 && e.Type != 9) {
			continue
		}
		out = append(out, arrival{at: time.Duration(e.TMs) * time.Millisecond,
			ts: time.Duration(e.Timestamp) * time.Millisecond, video: e.Type == 9})
	}
	require.NoError(t, sc.Err())
	return out
}

// lags is each message's delivery lag at the server: how much later than
// real time it arrived, against the earliest message.
func lags(as []arrival) []time.Duration {
	base := time.Duration(1<<62 - 1)
	for _, a := range as {
		base = min(base, a.at-a.ts)
	}
	out := make([]time.Duration, len(as))
	for i, a := range as {
		out[i] = a.at - a.ts - base
	}
	return out
}
