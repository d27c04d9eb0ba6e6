package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/health"
	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/supervisor"
)

// A hostile RTMP source is reconnected no faster than the stream's
// attempts_per_minute, counted at the source, on either path: the native
// ingest's reconnects and the ffmpeg path's runs pass the service's
// per-host limiter (its window shortened to 4 s here, short enough for the
// test and long enough that the backoff alone, 250 ms doubling, would
// reconnect 5 times in it).
func TestHostileSourceHeldToThePerHostLimit(t *testing.T) {
	const limit, window = 2, 4 * time.Second
	for _, prefer := range []string{"native", "ffmpeg"} {
		t.Run(prefer, func(t *testing.T) {
			if prefer == "ffmpeg" {
				testpeer.Need(t, "ffmpeg")
			}
			src := testpeer.StartGarbageServer(t)
			cfg := fmt.Sprintf(`service {
  http_listen = "%%s"
  log_level = "debug"
}
emulator {
  listen = "127.0.0.1:0"
  profile = "lenient"
}
stream "s" {
  source = "rtmp://%s/live/cam"
  target = "emulator://live/s"
  prefer = %q
  audio = "drop"
  native {
    source_grace = "300ms"
  }
  failover {
    backoff_initial = "100ms"
    attempts_per_minute = %d
  }
}
`, src.Addr(), prefer, limit)
			lim := &supervisor.HostLimiter{Window: window}
			r := startServiceWith(t, "127.0.0.1", cfg, func(s *service) { s.limiter = lim })
			testpeer.Eventually(t, 30*time.Second, "7 connections at the hostile source", func() bool {
				return len(src.Connections()) >= 7
			})
			at := src.Connections()
			var offsets []string
			for _, a := range at {
				offsets = append(offsets, a.Sub(at[0]).Round(10*time.Millisecond).String())
			}
			t.Logf("connections at %v", offsets)
			// Each path's first connection is a start, not held back (it
			// counts): the native ingest's, and the ffmpeg path's when it runs.
			starts := 1
			if prefer == "ffmpeg" {
				starts = 2
			}
			// The limiter records an attempt when it starts; the server sees
			// the connection once ffmpeg has started and connected, up to a
			// few hundred ms later: the window is counted that much shorter.
			most := testpeer.MostWithin(at[starts:], window-500*time.Millisecond)
			t.Logf("%s: %d connections in %v, at most %d in any %v (limit %d a %v)",
				prefer, len(at), at[len(at)-1].Sub(at[0]).Round(time.Millisecond), most, window-500*time.Millisecond, limit, window)
			require.LessOrEqual(t, most, limit)
			// Each round tries both paths for the source (the other path
			// reads it its own way): the stream waits for the source or for
			// the limit before the other path, never live, never counting a
			// failover.
			st := r.stream()
			require.Contains(t, []health.State{health.StateWaitingForSource, health.StateFailingOver}, st.State, st.Reason)
			require.Zero(t, st.Counters.Failovers)
			for _, v := range st.LastVerdicts {
				require.Equal(t, health.LayerSource, v.Layer, "%+v", v)
			}
		})
	}
}
