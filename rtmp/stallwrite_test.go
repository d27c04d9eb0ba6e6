package rtmp

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A write that lasts many times the timeout succeeds while the server
// keeps taking bytes (here 3.2 MB/s through one 6 MB write); a server that
// takes nothing fails it with the deadline, no sooner than the timeout.
func TestWriteTimeoutCountsTheServersProgress(t *testing.T) {
	const timeout = 300 * time.Millisecond
	var n, writes atomic.Uint64
	t.Run("a slow reader", func(t *testing.T) {
		c, s := tcpPair(t)
		read := make(chan int64, 1)
		go func() { // the server: 32 KB every 10 ms until the end
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			var total int64
			buf := make([]byte, 32<<10)
			for range tick.C {
				k, err := io.ReadFull(s, buf)
				total += int64(k)
				if err != nil {
					read <- total
					return
				}
			}
		}()
		w := countingWriter{w: c, n: &n, writes: &writes, timeout: timeout}
		p := make([]byte, 6<<20)
		start := time.Now()
		k, err := w.Write(p)
		took := time.Since(start)
		require.NoError(t, err, "after %v", took)
		require.Equal(t, len(p), k)
		require.Greater(t, took, 2*timeout, "the write never waited: the test shows nothing")
		require.NoError(t, c.Close())
		require.Equal(t, int64(len(p)), <-read)
	})
	t.Run("a reader that stopped", func(t *testing.T) {
		c, _ := tcpPair(t)
		w := countingWriter{w: c, n: &n, writes: &writes, timeout: timeout}
		p := make([]byte, 64<<20)
		start := time.Now()
		k, err := w.Write(p)
		require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
		require.Less(t, k, len(p))
		require.GreaterOrEqual(t, time.Since(start), timeout)
	})
}
