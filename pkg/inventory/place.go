package inventory

import (
	"fmt"
	"strings"
)

// PlaceReplicas decides which master every replica follows. The result maps
// each replica's "server:port" to its master's "server:port" and covers
// every replica: an explicit replica_of is kept as written; otherwise an
// assignment in existing (replica name → master name, from the live
// cluster, already translated to inventory names) is kept while its master
// follows no more than its share (see placement); the rest are placed.
//
// Placement never puts a replica on its master's server (anti-affinity is by
// server name, so a sandbox on one address still has failure domains). It
// spreads replicas so that no master follows more than the fewest possible
// (ceil(replicas/masters) whenever the servers allow it), always filling the
// least-followed master first. Ties go to the master on the server just
// before the replica's in inventory order (server1's replica follows
// server3 of three), which makes a fresh cluster a cycle. Because the
// least-followed masters come first, servers added in a pair end up
// following each other, as in the seed: server4's replica follows server5's
// master and server5's follows server4's. The result is deterministic.
//
// Existing assignments that would break anti-affinity or that name a node
// that is not a master in the inventory are not kept: the replica is placed
// again. An explicit replica_of that does either, or a replica that cannot
// be placed (every master is on its server), is an error.
func PlaceReplicas(inv *Inventory, existing map[string]string) (map[string]string, error) {
	p := placement(inv, existing)
	var errs []string
	for _, r := range p.invalid {
		errs = append(errs, fmt.Sprintf("%s:%d: replica %s: replica_of %q is not a master on another server", r.File, r.Line, r.Name(), r.ReplicaOf))
	}
	for _, r := range p.unplaced {
		errs = append(errs, fmt.Sprintf("%s:%d: replica %s: no master on another server to follow", r.File, r.Line, r.Name()))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("place replicas: %s", strings.Join(errs, "; "))
	}
	return p.assign, nil
}

// Resolve places every replica whose replica_of is empty (see
// PlaceReplicas) and writes the result into the inventory's nodes, so that
// NodeRef.ReplicaOf is set on every replica afterwards.
func Resolve(inv *Inventory, existing map[string]string) error {
	assign, err := PlaceReplicas(inv, existing)
	if err != nil {
		return err
	}
	for i := range inv.Servers {
		s := &inv.Servers[i]
		for j := range s.Nodes {
			n := &s.Nodes[j]
			if n.Role == RoleReplica && n.ReplicaOf == "" {
				n.ReplicaOf = assign[NodeName(s.Name, n.Port)]
			}
		}
	}
	return nil
}

type placed struct {
	assign   map[string]string // replica name -> master name
	invalid  []NodeRef         // explicit replica_of not a master on another server
	unplaced []NodeRef         // no master on another server
}

// placement is PlaceReplicas without the error: Check uses it to reason
// about the topology even when part of it is wrong.
func placement(inv *Inventory, existing map[string]string) placed {
	out := placed{assign: map[string]string{}}
	masters := inv.Masters()
	mIndex := map[string]int{}
	for i, m := range masters {
		if _, dup := mIndex[m.Name()]; !dup {
			mIndex[m.Name()] = i
		}
	}
	serverIndex := map[string]int{}
	for i, s := range inv.Servers {
		if _, dup := serverIndex[s.Name]; !dup {
			serverIndex[s.Name] = i
		}
	}
	// valid reports the master index a replica may follow.
	valid := func(r NodeRef, master string) (int, bool) {
		i, ok := mIndex[master]
		return i, ok && masters[i].Server != r.Server
	}
	load := make([]int, len(masters))
	// held are the replicas without replica_of that follow a valid master
	// in the live cluster, and that master's index.
	type heldRef struct {
		r  NodeRef
		mi int
	}
	var held []heldRef
	var free []NodeRef
	for _, r := range inv.Replicas() {
		if r.ReplicaOf != "" {
			if i, ok := valid(r, r.ReplicaOf); ok {
				out.assign[r.Name()] = r.ReplicaOf
				load[i]++
			} else {
				out.invalid = append(out.invalid, r)
			}
			continue
		}
		if m, ok := existing[r.Name()]; ok {
			if i, ok := valid(r, m); ok {
				held = append(held, heldRef{r, i})
				continue
			}
		}
		free = append(free, r)
	}
	var placeable []NodeRef
	for _, r := range free {
		if hasOtherMaster(masters, r.Server) {
			placeable = append(placeable, r)
		} else {
			out.unplaced = append(out.unplaced, r)
		}
	}
	m := &matcher{masters: masters}
	// place assigns reps on top of fixed with the smallest cap that admits
	// a complete assignment and returns it with that cap: augmenting paths
	// make each attempt exact, feasibility only grows with the cap, and
	// cap == total always admits one because every replica placed has a
	// master on another server.
	place := func(reps []NodeRef, fixed []int) ([]int, int) {
		m.prefs = prefer(reps, masters, serverIndex, len(inv.Servers))
		total := len(reps)
		for _, l := range fixed {
			total += l
		}
		lo, hi := (total+len(masters)-1)/len(masters), total
		for lo < hi {
			mid := lo + (hi-lo)/2
			if _, ok := m.run(reps, fixed, mid); ok {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		got, _ := m.run(reps, fixed, lo)
		return got, lo
	}
	// A live assignment is kept while its master stays within the cap that
	// placing every replica without replica_of would reach. A replica that
	// drifted onto a master that already has its share (failovers and
	// Redis's replica migration move replicas without asking) is placed
	// again, onto a master that has none; a balanced layout is
	// left alone. When keeping them leaves no way to place the rest under
	// that cap, every live assignment is kept and only the rest are
	// placed: existing replicas are not moved to make room for new ones
	// (see TestOneServerExpansionIsFlagged).
	rest := placeable
	if len(held) > 0 {
		all := append([]NodeRef(nil), placeable...)
		for _, h := range held {
			all = append(all, h.r)
		}
		_, balanced := place(all, load)
		keptLoad := append([]int(nil), load...)
		var kept []heldRef
		moved := append([]NodeRef(nil), placeable...)
		for _, h := range held {
			if keptLoad[h.mi] < balanced {
				keptLoad[h.mi]++
				kept = append(kept, h)
			} else {
				moved = append(moved, h.r)
			}
		}
		if len(kept) < len(held) {
			m.prefs = prefer(moved, masters, serverIndex, len(inv.Servers))
			if _, ok := m.run(moved, keptLoad, balanced); !ok {
				kept, moved = held, placeable
				keptLoad = append([]int(nil), load...)
				for _, h := range held {
					keptLoad[h.mi]++
				}
			}
		}
		for _, h := range kept {
			out.assign[h.r.Name()] = masters[h.mi].Name()
		}
		rest, load = moved, keptLoad
	}
	if len(rest) == 0 {
		return out
	}
	got, _ := place(rest, load)
	for i, r := range rest {
		out.assign[r.Name()] = masters[got[i]].Name()
	}
	return out
}

func hasOtherMaster(masters []NodeRef, server string) bool {
	for _, m := range masters {
		if m.Server != server {
			return true
		}
	}
	return false
}

// matcher assigns free replicas to masters with at most limit followers
// each (fixed assignments included), by augmenting paths (a capacitated
// bipartite matching), so that it fails only when no assignment exists.
type matcher struct {
	masters []NodeRef
	prefs   [][]int // per replica: candidate masters in preference order

	limit int
	load  []int
	of    []int   // replica index -> master index, -1 when unassigned
	by    [][]int // master index -> free replicas assigned to it
	reps  []NodeRef
}

func (m *matcher) run(reps []NodeRef, fixedLoad []int, limit int) ([]int, bool) {
	m.limit, m.reps = limit, reps
	m.load = append([]int(nil), fixedLoad...)
	m.of = make([]int, len(reps))
	m.by = make([][]int, len(m.masters))
	for i := range reps {
		m.of[i] = -1
	}
	for i := range reps {
		if !m.augment(i, make([]bool, len(m.masters))) {
			return nil, false
		}
	}
	return m.of, true
}

// prefer lists, for each replica, the masters it may follow: those on the
// nearest preceding server first (server1's replica looks at server3 of
// three, then server2), each server's masters in inventory order.
func prefer(reps, masters []NodeRef, serverIndex map[string]int, nServers int) [][]int {
	onServer := make([][]int, nServers)
	for i, m := range masters {
		si := serverIndex[m.Server]
		onServer[si] = append(onServer[si], i)
	}
	prefs := make([][]int, len(reps))
	for i, r := range reps {
		rs := serverIndex[r.Server]
		for d := 1; d < nServers; d++ {
			for _, mi := range onServer[(rs-d+nServers)%nServers] {
				// Names, not indexes, decide: duplicate server names
				// share an index yet are the same failure domain.
				if masters[mi].Server != r.Server {
					prefs[i] = append(prefs[i], mi)
				}
			}
		}
	}
	return prefs
}

func (m *matcher) set(r, mi int) {
	m.of[r] = mi
	m.load[mi]++
	m.by[mi] = append(m.by[mi], r)
}

func (m *matcher) unset(r int) {
	mi := m.of[r]
	m.of[r] = -1
	m.load[mi]--
	for k, x := range m.by[mi] {
		if x == r {
			m.by[mi] = append(m.by[mi][:k:k], m.by[mi][k+1:]...)
			break
		}
	}
}

// augment assigns unassigned replica r: to the least-followed candidate
// with room (ties to the preferred one), or else by moving other free
// replicas along an augmenting path.
func (m *matcher) augment(r int, visited []bool) bool {
	best := -1
	for _, mi := range m.prefs[r] {
		if !visited[mi] && m.load[mi] < m.limit && (best < 0 || m.load[mi] < m.load[best]) {
			best = mi
		}
	}
	if best >= 0 {
		m.set(r, best)
		return true
	}
	for _, mi := range m.prefs[r] {
		if visited[mi] {
			continue
		}
		visited[mi] = true
		for _, other := range append([]int(nil), m.by[mi]...) {
			m.unset(other)
			if m.augment(other, visited) {
				m.set(r, mi)
				return true
			}
			m.set(other, mi)
		}
	}
	return false
}
