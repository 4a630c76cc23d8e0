package plan

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/inventory"
)

// Join modes (JoinPlan.Mode).
const (
	JoinCreate = "create" // no node knows another: build the cluster
	JoinExtend = "extend" // the cluster exists: add, re-point or remove nodes
	JoinNoop   = "noop"   // membership already matches the inventory
)

// JoinOptions are the choices PlanJoin leaves to the caller.
type JoinOptions struct {
	// MastersOnly adds new masters but defers new replicas (and re-pointing
	// replicas to new masters), the seeds' order: masters, rebalance,
	// replicas.
	MastersOnly bool
	// Prune removes nodes the cluster has and the inventory lacks, when they
	// own no slots. Without it they are only listed (JoinPlan.Extra).
	Prune bool
}

// JoinNode names a node the plan acts on.
type JoinNode struct {
	// Name is the inventory name "server:port"; "" for a node the inventory
	// does not list.
	Name   string `json:"name,omitempty"`
	Server string `json:"server,omitempty"`
	// Addr is host:port: the inventory address, or the address the cluster
	// announces for a node the inventory does not list.
	Addr string `json:"addr"`
	// ID is the node id; "" when the node could not be observed.
	ID   string `json:"id,omitempty"`
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// String names the node for messages: "server4:7000 (10.0.0.4:7000,
// inventory.yml:14)", or the address and id for a node outside the inventory.
func (n JoinNode) String() string {
	if n.Name == "" {
		if n.ID != "" {
			return n.Addr + " (" + short(n.ID) + ")"
		}
		return n.Addr
	}
	s := n.Name + " (" + n.Addr
	if n.File != "" || n.Line > 0 {
		s += ", " + n.File + ":" + strconv.Itoa(n.Line)
	}
	return s + ")"
}

// SlotAssignment gives a new master its slots (create only).
type SlotAssignment struct {
	Node   JoinNode        `json:"node"`
	Ranges []cluster.Range `json:"ranges"`
}

// EpochAssignment gives a node of a new cluster its distinct config epoch.
type EpochAssignment struct {
	Node  JoinNode `json:"node"`
	Epoch int64    `json:"epoch"`
}

// MeetStep sends CLUSTER MEET to Node, introducing it to Target.
type MeetStep struct {
	Node   JoinNode `json:"node"`
	Target JoinNode `json:"target"`
	// TargetBusPort is Target's cluster bus port.
	TargetBusPort int `json:"target_bus_port"`
	// Master is true when Node joins as a master (it gets Redis Functions
	// copied, as redis-cli add-node does).
	Master bool `json:"master"`
}

// ReplicateStep sends CLUSTER REPLICATE <Master.ID> to Node (Master.ID is
// the id observed before any MEET: MEET never changes a node's id).
type ReplicateStep struct {
	Node   JoinNode `json:"node"`
	Master JoinNode `json:"master"`
	// From says what Node was before: "" for a node new to the cluster,
	// otherwise "replica of <node>" or "master without slots".
	From string `json:"from,omitempty"`
}

// ForgetStep removes Node: CLUSTER FORGET on every node of Targets, then
// CLUSTER RESET HARD on Node itself when Reset is set.
type ForgetStep struct {
	Node   JoinNode `json:"node"`
	Master bool     `json:"master"`
	// Reset is false when Node cannot be reached (only the others forget it).
	Reset bool `json:"reset"`
	// Targets are every other node that knows Node and stays reachable.
	Targets []JoinNode `json:"targets"`
}

// Refusal is why the plan must not run; nothing may change while any exists.
type Refusal struct {
	Node   JoinNode `json:"node"`
	Reason string   `json:"reason"`
	Hint   string   `json:"hint,omitempty"`
}

// String is "node: reason".
func (r Refusal) String() string { return r.Node.String() + ": " + r.Reason }

// ExtraNode is a cluster member the inventory does not list.
type ExtraNode struct {
	Node   JoinNode `json:"node"`
	Master bool     `json:"master"`
	Slots  int      `json:"slots"`
	Failed bool     `json:"failed"` // flagged fail/pfail or unreachable
}

// JoinPlan is what join will do, in order: assign slots and config epochs
// (create), MEET, wait for convergence, REPLICATE, wait for the links,
// FORGET. It is deterministic for a given input and JSON-serialisable.
type JoinPlan struct {
	Mode string `json:"mode"`
	// Fingerprint is the slot-map fingerprint the plan was computed from.
	Fingerprint string            `json:"fingerprint"`
	Assign      []SlotAssignment  `json:"assign,omitempty"`
	Epochs      []EpochAssignment `json:"epochs,omitempty"`
	Meet        []MeetStep        `json:"meet,omitempty"`
	Replicate   []ReplicateStep   `json:"replicate,omitempty"`
	// Forget lists removals in order: replicas first, then masters.
	Forget []ForgetStep `json:"forget,omitempty"`
	// Unchanged lists inventory nodes that need nothing.
	Unchanged []JoinNode `json:"unchanged,omitempty"`
	// Deferred lists replicas left for a later run (MastersOnly).
	Deferred []JoinNode `json:"deferred,omitempty"`
	// Extra lists cluster members the inventory lacks, left in place
	// (without Prune).
	Extra []ExtraNode `json:"extra,omitempty"`
	// Refusals, when non-empty, forbid running the plan at all.
	Refusals []Refusal `json:"refusals,omitempty"`
}

// Changes reports whether the plan changes anything.
func (p *JoinPlan) Changes() bool {
	return len(p.Assign)+len(p.Epochs)+len(p.Meet)+len(p.Replicate)+len(p.Forget) > 0
}

// observed is what the plan knows about one inventory node.
type observed struct {
	ref   inventory.NodeRef
	node  JoinNode
	obs   *cluster.Observation
	self  cluster.Node
	known []cluster.Node // view without handshake entries
	keys  int64
}

func (o *observed) isolated() bool { return len(o.known) <= 1 }

// PlanJoin compares the inventory's nodes (replica_of resolved: every
// replica names its master, see inventory.Resolve) with an observation of
// every inventory node and every node they know, and plans the membership
// changes that make the cluster match the inventory without moving a slot
// that could hold keys. The error reports a broken invariant (a bug), never
// a refusal: refusals are data in the plan.
func PlanJoin(nodes []inventory.NodeRef, snap *cluster.Snapshot, opts JoinOptions) (JoinPlan, error) {
	var p JoinPlan
	if snap == nil {
		snap = &cluster.Snapshot{}
	}
	obs := make([]*observed, len(nodes))
	byName := map[string]*observed{}
	for i, r := range nodes {
		o := &observed{ref: r, node: JoinNode{Name: r.Name(), Server: r.Server, Addr: r.Addr(), File: r.File, Line: r.Line}}
		obs[i] = o
		byName[r.Name()] = o
		ob := snap.Nodes[r.Addr()]
		switch {
		case ob == nil:
			p.refuse(o.node, "was not observed (unreachable)", "start it (slotshift provision) or fix its address in the inventory")
			continue
		case !ob.OK():
			p.refuse(o.node, "unreachable: "+ob.Err, "start it (slotshift provision), check the address, port and password")
			continue
		}
		self, ok := ob.Self()
		if !ok || self.ID == "" {
			p.refuse(o.node, "its CLUSTER NODES has no myself line", "is cluster-enabled yes set?")
			continue
		}
		o.obs, o.self = ob, self
		o.node.ID = self.ID
		for _, n := range ob.Nodes {
			if !n.HasFlag("handshake") {
				o.known = append(o.known, n)
			}
		}
		o.keys = keyCount(ob.Info)
	}
	for _, r := range nodes {
		if r.Role == inventory.RoleReplica {
			if m, ok := byName[r.ReplicaOf]; !ok || m.ref.Role != inventory.RoleMaster {
				p.refuse(byName[r.Name()].node, fmt.Sprintf("replica_of %q is not a master in the inventory", r.ReplicaOf),
					"set replica_of to a master's server:port, or leave it empty to have slotshift place the replica")
			}
		}
	}
	if len(p.Refusals) > 0 {
		return p, nil
	}

	comp := components(snap)
	main := mainComponent(obs, comp)
	if main == "" {
		p.planCreate(obs, opts)
	} else {
		p.Fingerprint = cluster.Fingerprint(snap.View())
		p.planExtend(obs, byName, snap, comp, main, opts)
	}
	if len(p.Refusals) > 0 {
		return JoinPlan{Mode: p.Mode, Fingerprint: p.Fingerprint, Refusals: p.Refusals}, nil
	}
	switch {
	case p.Mode == JoinCreate:
	case p.Changes():
		p.Mode = JoinExtend
	default:
		p.Mode = JoinNoop
	}
	return p, p.Verify()
}

func (p *JoinPlan) refuse(n JoinNode, reason, hint string) {
	p.Refusals = append(p.Refusals, Refusal{Node: n, Reason: reason, Hint: hint})
}

// keyCount sums the keys of the "dbN:keys=…" fields of INFO keyspace.
func keyCount(info map[string]string) int64 {
	var total int64
	for k, v := range info {
		if !strings.HasPrefix(k, "db") {
			continue
		}
		if _, err := strconv.Atoi(k[2:]); err != nil {
			continue
		}
		for _, f := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(f, "keys="); ok {
				c, _ := strconv.ParseInt(n, 10, 64)
				total += c
			}
		}
	}
	return total
}

// components groups node ids by the "knows" relation over every observed
// view (union-find) and returns each id's component root.
func components(snap *cluster.Snapshot) map[string]string {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if _, ok := parent[x]; !ok {
			parent[x] = x
		}
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	union := func(a, b string) {
		ra, rb := find(a), find(b)
		if ra == rb {
			return
		}
		// The smaller id becomes the root so that roots are deterministic.
		if rb < ra {
			ra, rb = rb, ra
		}
		parent[rb] = ra
	}
	for _, a := range snap.Addrs() {
		o := snap.Nodes[a]
		if !o.OK() {
			continue
		}
		self, ok := o.Self()
		if !ok {
			continue
		}
		find(self.ID)
		for _, n := range o.Nodes {
			if !n.HasFlag("handshake") {
				union(self.ID, n.ID)
			}
		}
	}
	out := make(map[string]string, len(parent))
	for id := range parent {
		out[id] = find(id)
	}
	return out
}

// mainComponent picks the cluster the inventory describes: among the
// components holding an inventory node that knows another node, the one with the most such inventory nodes, then the most slots,
// then the one of the earliest inventory node. "" means there is none: the
// cluster must be created.
func mainComponent(obs []*observed, comp map[string]string) string {
	type score struct {
		members, slots, first int
	}
	scores := map[string]*score{}
	var order []string
	for i, o := range obs {
		// A node alone is no cluster, even with slots: an interrupted
		// create leaves masters like that, and planCreate resumes them.
		if o.obs == nil || o.isolated() {
			continue
		}
		root := comp[o.self.ID]
		s, ok := scores[root]
		if !ok {
			s = &score{first: i}
			scores[root] = s
			order = append(order, root)
			var all cluster.SlotSet
			for _, n := range o.known {
				all.Union(&n.Slots)
			}
			s.slots = all.Len()
		}
		s.members++
	}
	best := ""
	for _, root := range order {
		if best == "" {
			best = root
			continue
		}
		a, b := scores[root], scores[best]
		if a.members > b.members || (a.members == b.members && a.slots > b.slots) {
			best = root
		}
	}
	return best
}

// planCreate plans a new cluster from nodes that know nobody.
func (p *JoinPlan) planCreate(obs []*observed, opts JoinOptions) {
	p.Mode = JoinCreate
	var masters, replicas []*observed
	for _, o := range obs {
		if o.ref.Role == inventory.RoleMaster {
			masters = append(masters, o)
		} else {
			replicas = append(replicas, o)
		}
	}
	if len(masters) == 0 {
		p.refuse(JoinNode{Addr: "-"}, "the inventory declares no master", "declare at least 3 masters")
		return
	}
	names := make([]string, len(masters))
	for i, m := range masters {
		names[i] = m.node.Name
	}
	ranges, err := Create(names)
	if err != nil {
		p.refuse(masters[0].node, err.Error(), "")
		return
	}
	participants := append([]*observed(nil), masters...)
	if opts.MastersOnly {
		for _, r := range replicas {
			p.Deferred = append(p.Deferred, r.node)
		}
	} else {
		participants = append(participants, replicas...)
	}
	for _, o := range obs {
		if o.keys > 0 {
			p.refuse(o.node, fmt.Sprintf("holds %d keys; a new node must be empty", o.keys),
				"flush it (FLUSHALL) if its data is not needed, or remove it from the inventory")
		}
	}
	for i, m := range masters {
		want := cluster.NewSlotSet(ranges[i])
		switch {
		case m.self.Slots.Len() == 0:
			p.Assign = append(p.Assign, SlotAssignment{Node: m.node, Ranges: []cluster.Range{ranges[i]}})
		case m.self.Slots.String() != want.String():
			p.refuse(m.node, fmt.Sprintf("owns slots %s but knows no other node: it belongs to another cluster", m.self.Slots.String()),
				"reset it (CLUSTER RESET HARD) if it is not in use, or remove it from the inventory")
		}
	}
	for _, r := range replicas {
		if r.self.Slots.Len() > 0 {
			p.refuse(r.node, fmt.Sprintf("owns slots %s but the inventory says replica", r.self.Slots.String()),
				"reset it (CLUSTER RESET HARD) if it is not in use, or fix its role in the inventory")
		}
	}
	first := masters[0]
	for i, o := range participants {
		// A node whose epoch is already set (an earlier, interrupted run)
		// would refuse SET-CONFIG-EPOCH; it already has a distinct one.
		if o.self.ConfigEpoch == 0 {
			p.Epochs = append(p.Epochs, EpochAssignment{Node: o.node, Epoch: int64(i + 1)})
		}
		if o != first {
			p.Meet = append(p.Meet, MeetStep{Node: o.node, Target: first.node, TargetBusPort: first.ref.BusPort(),
				Master: o.ref.Role == inventory.RoleMaster})
		}
	}
	if !opts.MastersOnly {
		for _, r := range replicas {
			m := byNameIn(masters, r.ref.ReplicaOf)
			p.Replicate = append(p.Replicate, ReplicateStep{Node: r.node, Master: m.node})
		}
	}
}

func byNameIn(list []*observed, name string) *observed {
	for _, o := range list {
		if o.node.Name == name {
			return o
		}
	}
	return nil
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// Verify checks the plan's invariants: every node is met at most once and
// never by itself, replicated at most once, never both forgotten and kept;
// a create plan assigns every slot exactly once.
func (p *JoinPlan) Verify() error {
	if len(p.Refusals) > 0 {
		return nil
	}
	seen := map[string]string{}
	mark := func(step, addr string) error {
		key := step + " " + addr
		if _, dup := seen[key]; dup {
			return fmt.Errorf("join plan: %s twice for %s", step, addr)
		}
		seen[key] = step
		return nil
	}
	for _, m := range p.Meet {
		if m.Node.Addr == m.Target.Addr {
			return fmt.Errorf("join plan: %s meets itself", m.Node.Addr)
		}
		if err := mark("meet", m.Node.Addr); err != nil {
			return err
		}
	}
	for _, r := range p.Replicate {
		if r.Node.Addr == r.Master.Addr {
			return fmt.Errorf("join plan: %s replicates itself", r.Node.Addr)
		}
		if err := mark("replicate", r.Node.Addr); err != nil {
			return err
		}
	}
	for _, f := range p.Forget {
		if err := mark("forget", f.Node.ID); err != nil {
			return err
		}
		for _, t := range f.Targets {
			if t.ID != "" && t.ID == f.Node.ID {
				return fmt.Errorf("join plan: %s forgets itself", f.Node.Addr)
			}
		}
	}
	for _, u := range p.Unchanged {
		if _, ok := seen["replicate "+u.Addr]; ok {
			return fmt.Errorf("join plan: %s both unchanged and replicated", u.Addr)
		}
		if _, ok := seen["meet "+u.Addr]; ok {
			return fmt.Errorf("join plan: %s both unchanged and met", u.Addr)
		}
	}
	if p.Mode == JoinCreate && len(p.Assign) > 0 {
		var owned [cluster.NumSlots]bool
		for _, a := range p.Assign {
			for _, r := range a.Ranges {
				for s := r.Start; s <= r.End; s++ {
					if owned[s] {
						return fmt.Errorf("join plan: slot %d assigned twice", s)
					}
					owned[s] = true
				}
			}
		}
	}
	return nil
}
