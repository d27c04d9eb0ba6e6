package health

import (
	"cmp"
	"slices"
)

// SortStreams orders statuses by stream name, then target name: the order
// of every list of streams the service shows.
func SortStreams(list []StreamStatus) {
	slices.SortFunc(list, func(a, b StreamStatus) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.TargetName, b.TargetName))
	})
}
