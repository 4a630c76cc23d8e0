package plan

import (
	"fmt"
	"sort"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/inventory"
)

// extension is what the steps of planExtend share: their inputs, the main
// cluster's view, and the inventory's nodes sorted by what they need.
type extension struct {
	p      *JoinPlan
	obs    []*observed
	byName map[string]*observed
	snap   *cluster.Snapshot
	comp   map[string]string
	main   string
	opts   JoinOptions

	// view is the union of what the inventory's members see, the first
	// member's line winning for each id; viewIDs are its ids, sorted.
	view    map[string]cluster.Node
	viewIDs []string
	// share is each inventory master's share of a create, to recognise
	// the pieces of an interrupted one.
	share map[string]string
	// inv names the inventory's observed nodes by id.
	inv map[string]JoinNode

	invIDs  map[string]bool // ids of every inventory node
	target  *observed       // MEET target: the first member master
	members []*observed     // inventory nodes already in the main cluster
	fresh   []*observed     // empty nodes that know nobody: to add
	rejoin  []*observed     // masters of an interrupted run: to meet again
}

// planExtend plans changes to the existing cluster (component main).
func (p *JoinPlan) planExtend(obs []*observed, byName map[string]*observed, snap *cluster.Snapshot,
	comp map[string]string, main string, opts JoinOptions) {
	x := &extension{p: p, obs: obs, byName: byName, snap: snap, comp: comp, main: main, opts: opts,
		inv: byID(obs), invIDs: map[string]bool{}}
	x.view, x.viewIDs = x.mainView()
	x.share = createShares(obs)
	for _, o := range obs {
		x.classify(o)
	}
	if !x.pickTarget() {
		return
	}
	x.checkMembers()
	x.meetNewcomers()
	extras := x.extras()
	if !opts.Prune {
		p.Extra = extras
		return
	}
	x.prune(extras)
}

// inMain reports whether o is a member of the main cluster.
func (x *extension) inMain(o *observed) bool {
	return o.obs != nil && x.comp[o.self.ID] == x.main && !o.isolated()
}

// mainView merges the views of the main cluster's inventory members.
func (x *extension) mainView() (map[string]cluster.Node, []string) {
	view := map[string]cluster.Node{}
	var ids []string
	for _, o := range x.obs {
		if !x.inMain(o) {
			continue
		}
		for _, n := range o.known {
			if _, ok := view[n.ID]; !ok {
				view[n.ID] = n
				ids = append(ids, n.ID)
			}
		}
	}
	sort.Strings(ids)
	return view, ids
}

// createShares returns the slots (SlotSet.String) each inventory master
// would own after a create; empty when the masters could not be created.
func createShares(obs []*observed) map[string]string {
	share := map[string]string{}
	var names []string
	for _, o := range obs {
		if o.ref.Role == inventory.RoleMaster {
			names = append(names, o.node.Name)
		}
	}
	ranges, err := Create(names)
	if err != nil {
		return share
	}
	for i, name := range names {
		set := cluster.NewSlotSet(ranges[i])
		share[name] = set.String()
	}
	return share
}

// classify files o as a member, a node to rejoin or a fresh node, or
// refuses it: it belongs to another cluster or holds data.
func (x *extension) classify(o *observed) {
	x.invIDs[o.self.ID] = true
	switch {
	case x.inMain(o):
		x.members = append(x.members, o)
		if x.target == nil && o.self.IsMaster() && o.ref.Role == inventory.RoleMaster {
			x.target = o
		}
	case !o.isolated():
		x.p.refuse(o.node, fmt.Sprintf("belongs to another cluster: it knows %d nodes that are not in this cluster", x.strangers(o)),
			"remove it from the other cluster (redis-cli --cluster del-node) and reset it, or fix the inventory")
	case x.interrupted(o):
		x.rejoin = append(x.rejoin, o)
	case o.self.Slots.Len() > 0:
		x.p.refuse(o.node, fmt.Sprintf("owns slots %s: it belongs to another cluster", o.self.Slots.String()),
			"reset it (CLUSTER RESET HARD) if it is not in use, or fix the inventory")
	case o.keys > 0:
		x.p.refuse(o.node, fmt.Sprintf("holds %d keys; a new node must be empty", o.keys),
			"flush it (FLUSHALL) if its data is not needed, or remove it from the inventory")
	default:
		x.fresh = append(x.fresh, o)
	}
}

// strangers counts the nodes o knows outside the main cluster.
func (x *extension) strangers(o *observed) int {
	var n int
	for _, k := range o.known {
		if k.ID != o.self.ID && x.comp[k.ID] != x.main {
			n++
		}
	}
	return n
}

// interrupted reports whether o, which knows nobody yet, is a master left
// by an interrupted run: it owns slots no other node claims, and either
// the cluster knows it (a MEET still in handshake) or it holds exactly its
// share of a create. Meeting it again changes nothing if the handshake
// completes first.
func (x *extension) interrupted(o *observed) bool {
	return o.self.Slots.Len() > 0 && o.ref.Role == inventory.RoleMaster && !slotConflict(x.view, o.self) &&
		(x.comp[o.self.ID] == x.main || o.self.Slots.String() == x.share[o.node.Name])
}

// pickTarget falls back to any member that is a master when none is a
// master in both the inventory and the cluster. It refuses, and reports
// false, when there are nodes to meet and no master to meet them with.
func (x *extension) pickTarget() bool {
	if x.target == nil {
		for _, o := range x.members {
			if o.self.IsMaster() {
				x.target = o
				break
			}
		}
	}
	if x.target != nil || len(x.fresh)+len(x.rejoin) == 0 {
		return true
	}
	first := x.fresh
	if len(first) == 0 {
		first = x.rejoin
	}
	x.p.refuse(first[0].node, "no master of the cluster to meet: none of the inventory's members is a master", "fix the inventory")
	return false
}

// checkMembers checks each member's role against the inventory and
// re-points replicas that follow another master (or none).
func (x *extension) checkMembers() {
	isFresh := map[string]bool{}
	for _, o := range x.fresh {
		isFresh[o.node.Name] = true
	}
	for _, o := range x.members {
		switch o.ref.Role {
		case inventory.RoleMaster:
			x.checkMaster(o)
		case inventory.RoleReplica:
			x.checkReplica(o, isFresh)
		}
	}
}

func (x *extension) checkMaster(o *observed) {
	if o.self.IsReplica() {
		x.p.refuse(o.node, "the inventory says master but it is a replica of "+describe(x.view, o.self.MasterID, x.inv),
			"fix the inventory (role: replica), or promote it first (CLUSTER FAILOVER on it)")
		return
	}
	x.p.Unchanged = append(x.p.Unchanged, o.node)
}

// checkReplica refuses a master with slots or keys the inventory calls a
// replica, and re-points a replica to its inventory master; a replica of
// a new master waits (MastersOnly) until that master has joined.
func (x *extension) checkReplica(o *observed, isFresh map[string]bool) {
	self := o.self
	m := x.byName[o.ref.ReplicaOf]
	switch {
	case self.IsMaster() && self.Slots.Len() > 0:
		x.p.refuse(o.node, fmt.Sprintf("the inventory says replica but it is a master owning %d slots", self.Slots.Len()),
			"drain its slots first (rebalance with weight 0), or fix its role in the inventory")
	case self.IsMaster() && o.keys > 0:
		x.p.refuse(o.node, fmt.Sprintf("the inventory says replica but it is a master holding %d keys", o.keys),
			"flush it if its data is not needed, or fix its role in the inventory")
	case self.IsReplica() && m.obs != nil && self.MasterID == m.self.ID:
		x.p.Unchanged = append(x.p.Unchanged, o.node)
	case x.opts.MastersOnly && isFresh[m.node.Name]:
		x.p.Deferred = append(x.p.Deferred, o.node)
	default:
		from := "master without slots"
		if self.IsReplica() {
			from = "replica of " + describe(x.view, self.MasterID, x.inv)
		}
		x.p.Replicate = append(x.p.Replicate, ReplicateStep{Node: o.node, Master: m.node, From: from})
	}
}

// meetNewcomers meets the new nodes with the target: masters to rejoin,
// then new masters, then new replicas with their REPLICATE (deferred
// under MastersOnly).
func (x *extension) meetNewcomers() {
	meet := func(o *observed, master bool) {
		x.p.Meet = append(x.p.Meet, MeetStep{Node: o.node, Target: x.target.node,
			TargetBusPort: busPort(x.view, x.target), Master: master})
	}
	for _, o := range x.rejoin {
		meet(o, true)
	}
	for _, o := range x.fresh {
		if o.ref.Role == inventory.RoleMaster {
			meet(o, true)
		}
	}
	for _, o := range x.fresh {
		if o.ref.Role != inventory.RoleReplica {
			continue
		}
		if x.opts.MastersOnly {
			x.p.Deferred = append(x.p.Deferred, o.node)
			continue
		}
		meet(o, false)
		x.p.Replicate = append(x.p.Replicate, ReplicateStep{Node: o.node, Master: x.byName[o.ref.ReplicaOf].node})
	}
}

// extras lists the nodes the cluster has and the inventory lacks, by id.
// A node counts as failed when flagged, or when its address does not
// answer as that node.
func (x *extension) extras() []ExtraNode {
	var extras []ExtraNode
	for _, id := range x.viewIDs {
		if x.invIDs[id] {
			continue
		}
		n := x.view[id]
		e := ExtraNode{Node: JoinNode{Addr: n.Addr, ID: id}, Master: !n.IsReplica(), Slots: n.Slots.Len(), Failed: n.Failing()}
		if o := x.snap.Nodes[n.Addr]; o == nil || !o.OK() || selfID(o) != id {
			e.Failed = true
		}
		extras = append(extras, e)
	}
	return extras
}

// prune plans the removal of extras, replicas first (a replica cannot
// forget its own master), and refuses to remove a node that owns slots.
func (x *extension) prune(extras []ExtraNode) {
	sort.SliceStable(extras, func(i, j int) bool { return !extras[i].Master && extras[j].Master })
	for _, e := range extras {
		if e.Slots > 0 {
			x.p.refuse(e.Node, fmt.Sprintf("is not in the inventory but owns %d slots; join never moves slots", e.Slots),
				"drain it first: rebalance with the node still in the inventory at weight 0, then prune")
		}
	}
	// Everyone that stays, plus every newcomer (it learns of the removed
	// node through gossip), forgets it; so do the other removed nodes still
	// to come, or they would gossip it back within the ban window.
	var stay []JoinNode
	for _, o := range x.members {
		stay = append(stay, o.node)
	}
	for _, m := range x.p.Meet {
		stay = append(stay, m.Node)
	}
	for i, e := range extras {
		targets := append([]JoinNode(nil), stay...)
		for _, later := range extras[i+1:] {
			if !later.Failed {
				targets = append(targets, later.Node)
			}
		}
		x.p.Forget = append(x.p.Forget, ForgetStep{Node: e.Node, Master: e.Master, Reset: !e.Failed, Targets: targets})
	}
}

// slotConflict reports whether a node of view other than me owns one of
// me's slots.
func slotConflict(view map[string]cluster.Node, me cluster.Node) bool {
	for id, n := range view {
		if id != me.ID && n.Slots.Intersects(&me.Slots) {
			return true
		}
	}
	return false
}

func selfID(o *cluster.Observation) string {
	if s, ok := o.Self(); ok {
		return s.ID
	}
	return ""
}

func busPort(view map[string]cluster.Node, o *observed) int {
	if n, ok := view[o.self.ID]; ok && n.BusPort > 0 {
		return n.BusPort
	}
	return o.ref.BusPort()
}

func byID(obs []*observed) map[string]JoinNode {
	out := map[string]JoinNode{}
	for _, o := range obs {
		if o.node.ID != "" {
			out[o.node.ID] = o.node
		}
	}
	return out
}

// describe names the node with id: its inventory name when it has one,
// otherwise its address and id.
func describe(view map[string]cluster.Node, id string, inv map[string]JoinNode) string {
	if n, ok := inv[id]; ok {
		return n.Name
	}
	if n, ok := view[id]; ok && n.Addr != "" {
		return n.Addr + " (" + short(id) + ")"
	}
	return short(id)
}
