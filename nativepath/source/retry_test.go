package source

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fmspush/fmspush/internal/testpeer"
	"github.com/fmspush/fmspush/supervisor"
)

// A hostile RTMP source (garbage, then close) is reconnected no faster
// than the per-host limit allows, counted at the server, in every sliding
// window; the first connection is not held back. Without the limiter the
// backoff alone reconnects it many times a window.
func TestRetryHoldsAHostileSourceToThePerHostLimit(t *testing.T) {
	const limit, window, acceptJitter = 3, time.Second, 150 * time.Millisecond
	for _, limited := range []bool{true, false} {
		name := "without the limiter"
		if limited {
			name = "with the limiter"
		}
		t.Run(name, func(t *testing.T) {
			srv := testpeer.StartGarbageServer(t)
			addr := srv.Addr()
			r := &Retry{Source: &RTMP{URL: "rtmp://" + addr + "/live/cam"}, Min: 10 * time.Millisecond, Max: 40 * time.Millisecond}
			var lim *supervisor.HostLimiter
			if limited {
				lim = &supervisor.HostLimiter{Window: window}
				r.Limiter, r.Host, r.PerMinute = lim, addr, limit
			}
			started := time.Now()
			stop := runSource(r, &recorder{})
			// Three windows' worth of attempts.
			testpeer.Eventually(t, 10*time.Second, "9 connections at the hostile server", func() bool {
				return len(srv.Connections()) >= 3*limit
			})
			require.NoError(t, stop())
			at := srv.Connections()
			elapsed := at[len(at)-1].Sub(at[0])
			// The limiter counts attempts, the server accepts: a loaded
			// machine delays an accept by tens of milliseconds, so the
			// server's window is a little shorter than the limiter's.
			most := testpeer.MostWithin(at, window-acceptJitter)
			t.Logf("%d connections in %v, at most %d in any %v", len(at), elapsed.Round(time.Millisecond), most, window-acceptJitter)
			require.Less(t, at[0].Sub(started), window/2, "the first connection was held back")
			if !limited {
				require.Greater(t, most, limit)
				return
			}
			require.LessOrEqual(t, most, limit)
			require.GreaterOrEqual(t, elapsed, 2*window-100*time.Millisecond, "9 connections came faster than 3 a window")
		})
	}
}
