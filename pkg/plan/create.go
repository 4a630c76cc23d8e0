package plan

import (
	"fmt"
	"math"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// Create splits the 16384 slots into one contiguous range per master, in the
// order given, exactly as redis-cli --cluster create does
// (clusterManagerCommandCreate): for 3 masters 0-5460, 5461-10922 and
// 10923-16383. The masters are only counted (ids or addresses both do).
func Create(masters []string) ([]cluster.Range, error) {
	n := len(masters)
	if n == 0 {
		return nil, fmt.Errorf("create: no masters")
	}
	if n > cluster.NumSlots {
		return nil, fmt.Errorf("create: %d masters for %d slots", n, cluster.NumSlots)
	}
	// redis-cli computes in C float (32-bit); doing the same keeps the
	// boundaries identical to what operators know from redis-cli.
	perNode := float32(cluster.NumSlots) / float32(n)
	var cursor float32
	first := 0
	out := make([]cluster.Range, n)
	for i := range n {
		last := int(math.Round(float64(cursor + perNode - 1)))
		if last > cluster.NumSlots-1 || i == n-1 {
			last = cluster.NumSlots - 1
		}
		if last < first {
			last = first
		}
		out[i] = cluster.Range{Start: first, End: last}
		first = last + 1
		cursor += perNode
	}
	return out, nil
}
