package fleet

import (
	"crypto/sha256"
	"encoding/binary"
)

// Owner picks the node that should own the push id among nodes, by
// rendezvous (highest random weight) hashing: every node scores id, the
// highest score wins (ties to the smaller name). Every node computes the
// same answer from the same node set, and a node that joins or leaves moves
// only the ids it wins or won. "" when nodes is empty.
func Owner(id string, nodes []string) string {
	best, bestScore := "", uint64(0)
	for _, n := range nodes {
		s := score(n, id)
		if best == "" || s > bestScore || (s == bestScore && n < best) {
			best, bestScore = n, s
		}
	}
	return best
}

// score is node's weight for id: the first 8 bytes of SHA-256(node NUL id).
func score(node, id string) uint64 {
	h := sha256.New()
	h.Write([]byte(node))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}
