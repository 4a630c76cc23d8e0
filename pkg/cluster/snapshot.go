package cluster

import (
	"sort"
	"time"
)

// Observation is everything one node reported during one observation round.
// When the node could not be reached or authenticated, Err says why and the
// other fields are empty.
type Observation struct {
	// Addr is the address slotshift connected to (host:port).
	Addr string `json:"addr"`
	// Err is why the node could not be observed; "" when it was.
	Err string `json:"error,omitempty"`
	// ID is the node's own id (from the myself line).
	ID string `json:"id,omitempty"`
	// Nodes is the node's CLUSTER NODES view.
	Nodes []Node `json:"-"`
	// ClusterInfo holds the fields of CLUSTER INFO.
	ClusterInfo map[string]string `json:"cluster_info,omitempty"`
	// Info holds every "key:value" field of INFO (all sections flattened).
	Info map[string]string `json:"info,omitempty"`
	// Config holds the CONFIG GET values slotshift reads.
	Config map[string]string `json:"config,omitempty"`
}

// Self returns the node's own line of its CLUSTER NODES view.
func (o *Observation) Self() (Node, bool) { return Myself(o.Nodes) }

// OK reports whether the node was observed.
func (o *Observation) OK() bool { return o.Err == "" }

// Snapshot is one immutable observation of a whole cluster: every node of
// the inventory and every node the cluster knows about. Every check is a pure
// function of (inventory, snapshot).
type Snapshot struct {
	Taken time.Time `json:"taken"`
	// Nodes maps a node address (host:port) to what it reported.
	Nodes map[string]*Observation `json:"nodes"`
}

// Addrs returns the observed addresses, sorted.
func (s *Snapshot) Addrs() []string {
	out := make([]string, 0, len(s.Nodes))
	for a := range s.Nodes {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Reachable returns the observations that succeeded, sorted by address.
func (s *Snapshot) Reachable() []*Observation {
	var out []*Observation
	for _, a := range s.Addrs() {
		if o := s.Nodes[a]; o.OK() {
			out = append(out, o)
		}
	}
	return out
}

// Signatures maps each reachable node's address to its slot-map signature.
func (s *Snapshot) Signatures() map[string]string {
	out := map[string]string{}
	for _, o := range s.Reachable() {
		out[o.Addr] = Signature(o.Nodes)
	}
	return out
}

// Agreed reports whether every reachable node reports the same non-empty
// slot-map signature and knows the same set of node ids.
func (s *Snapshot) Agreed() bool {
	var sig, ids string
	first := true
	for _, o := range s.Reachable() {
		si := Signature(o.Nodes)
		known := make([]string, 0, len(o.Nodes))
		for _, n := range o.Nodes {
			if !n.HasFlag("handshake") {
				known = append(known, n.ID)
			}
		}
		sort.Strings(known)
		k := ""
		for _, id := range known {
			k += id + ","
		}
		if first {
			sig, ids, first = si, k, false
			continue
		}
		if si != sig || k != ids {
			return false
		}
	}
	return !first && sig != ""
}

// View returns the cluster's slot map as seen by the first reachable master
// in address order (or any reachable node when there is no master). When
// Agreed is true every node gives the same answer.
func (s *Snapshot) View() []Node {
	var fallback []Node
	for _, o := range s.Reachable() {
		if me, ok := o.Self(); ok && me.IsMaster() {
			return o.Nodes
		}
		if fallback == nil {
			fallback = o.Nodes
		}
	}
	return fallback
}

// Owners maps every slot to the id of its owner in View; "" if unowned.
func (s *Snapshot) Owners() [NumSlots]string {
	var out [NumSlots]string
	for _, n := range s.View() {
		for _, slot := range n.Slots.Slots() {
			out[slot] = n.ID
		}
	}
	return out
}
