package check

import (
	"sort"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// Live is the cluster as the checks see it in one snapshot: the widest view
// any reachable node has (the node that knows the most nodes, so that an
// empty node about to be added, which only knows itself, never stands for
// the cluster) and the addresses of the nodes in it.
type Live struct {
	Snap *cluster.Snapshot
	// Viewer is the address whose CLUSTER NODES is View; "" when no node
	// was reachable.
	Viewer string
	View   []cluster.Node
	// Members are the addresses of the nodes in View (handshake and
	// address-less entries left out).
	Members map[string]bool
	// Exists is false when no reachable node knows another node or owns a
	// slot: the cluster has not been created yet.
	Exists bool
}

// NewLive derives the live view from a snapshot. It does no I/O.
func NewLive(snap *cluster.Snapshot) Live {
	l := Live{Snap: snap, Members: map[string]bool{}}
	best, bestKnown, bestSlots := (*cluster.Observation)(nil), -1, -1
	for _, o := range snap.Reachable() {
		known, slots := 0, 0
		for i := range o.Nodes {
			n := &o.Nodes[i]
			if n.HasFlag("handshake") || n.HasFlag("noaddr") || n.Addr == "" {
				continue
			}
			known++
			slots += n.Slots.Len()
		}
		// Reachable is address-sorted, so ties keep the first address.
		if known > bestKnown || (known == bestKnown && slots > bestSlots) {
			best, bestKnown, bestSlots = o, known, slots
		}
	}
	if best == nil {
		return l
	}
	l.Viewer, l.View = best.Addr, best.Nodes
	for _, n := range best.Nodes {
		if n.HasFlag("handshake") || n.HasFlag("noaddr") || n.Addr == "" {
			continue
		}
		l.Members[n.Addr] = true
	}
	l.Exists = bestKnown > 1 || bestSlots > 0
	return l
}

// Fingerprint is the fingerprint of the view's slot map ("" when none).
func (l Live) Fingerprint() string {
	if !l.Exists {
		return ""
	}
	return cluster.Fingerprint(l.View)
}

// Node returns the view's entry for addr.
func (l Live) Node(addr string) (cluster.Node, bool) {
	for _, n := range l.View {
		if n.Addr == addr {
			return n, true
		}
	}
	return cluster.Node{}, false
}

// ByID returns the view's entry for id.
func (l Live) ByID(id string) (cluster.Node, bool) {
	for _, n := range l.View {
		if n.ID == id {
			return n, true
		}
	}
	return cluster.Node{}, false
}

// MemberAddrs are the members, sorted.
func (l Live) MemberAddrs() []string {
	out := make([]string, 0, len(l.Members))
	for a := range l.Members {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Masters returns the view's masters (slots or not), sorted by address.
func (l Live) Masters() []cluster.Node { return l.members((*cluster.Node).IsMaster) }

// Replicas returns the view's replicas, sorted by address.
func (l Live) Replicas() []cluster.Node { return l.members((*cluster.Node).IsReplica) }

// Probed returns what the gate monitor probes: the masters' addresses,
// sorted, and each replica's address mapped to its master's (a replica
// whose master is not in the view is left out).
func (l Live) Probed() (masters []string, replicas map[string]string) {
	replicas = map[string]string{}
	for _, m := range l.Masters() {
		masters = append(masters, m.Addr)
	}
	for _, rep := range l.Replicas() {
		if m, ok := l.ByID(rep.MasterID); ok {
			replicas[rep.Addr] = m.Addr
		}
	}
	return masters, replicas
}

// members returns the view's member nodes that match, sorted by address.
func (l Live) members(match func(*cluster.Node) bool) []cluster.Node {
	var out []cluster.Node
	for _, n := range l.View {
		if match(&n) && l.Members[n.Addr] {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}
