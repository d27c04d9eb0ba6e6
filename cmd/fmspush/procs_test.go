package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// One thread of Go code up to 256 pushes, one more per further 256, never
// more than the CPUs.
func TestProcsFor(t *testing.T) {
	for _, c := range []struct{ pushes, cpus, want int }{
		{0, 8, 1}, {1, 8, 1}, {256, 8, 1}, {257, 8, 2}, {512, 8, 2}, {513, 8, 3},
		{4096, 8, 8}, {300, 1, 1}, {1, 0, 1},
	} {
		require.Equal(t, c.want, procsFor(c.pushes, c.cpus), "%d pushes, %d CPUs", c.pushes, c.cpus)
	}
}
