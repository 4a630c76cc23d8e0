package plan

import "github.com/slotshift/slotshift/pkg/cluster"

// FromNodes returns the masters of one CLUSTER NODES view as planner input,
// each with weight 1 (even targets) and its slots. Nodes still in handshake
// or without an address are left out: they cannot take part in a move.
// Server is left empty for the caller to fill from the inventory.
func FromNodes(nodes []cluster.Node) []Master {
	var out []Master
	for _, n := range nodes {
		if !n.IsMaster() || n.HasFlag("handshake") || n.HasFlag("noaddr") {
			continue
		}
		out = append(out, Master{ID: n.ID, Addr: n.Addr, Weight: 1, Slots: n.Slots})
	}
	return out
}
