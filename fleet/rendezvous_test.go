package fleet

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Owner is the same whatever the order of the nodes, and "" without nodes.
func TestOwnerStable(t *testing.T) {
	require.Empty(t, Owner("cam/a", nil))
	for i := range 50 {
		id := fmt.Sprintf("cam%d/t", i)
		require.Equal(t, Owner(id, []string{"a", "b", "c"}), Owner(id, []string{"c", "a", "b"}), id)
	}
}

// A node that joins takes only the ids it wins; the others stay where they
// were. A node that leaves gives up only its own. Every node gets a share.
func TestOwnerMovesOnlyAShare(t *testing.T) {
	three, four := []string{"a", "b", "c"}, []string{"a", "b", "c", "d"}
	count := map[string]int{}
	moved := 0
	const n = 1200
	for i := range n {
		id := fmt.Sprintf("stream%d/primary", i)
		before, after := Owner(id, three), Owner(id, four)
		count[before]++
		if before != after {
			moved++
			require.Equal(t, "d", after, "%s moved from %s to %s, not to the new node", id, before, after)
		}
		if before != "c" {
			require.Equal(t, before, Owner(id, []string{"a", "b"}), "%s moved although its owner stayed", id)
		}
	}
	for _, node := range three {
		require.InDelta(t, n/3, count[node], n/10, "node %s's share of %d: %v", node, n, count)
	}
	require.InDelta(t, n/4, moved, n/10, "a fourth node takes about a quarter")
}
