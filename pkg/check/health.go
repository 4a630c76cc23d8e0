package check

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/report"
)

// HealthChecks reports cluster.state (per member), slots.coverage,
// slots.open (per member), slots.agreement and node.failed (per member) —
// what redis-cli --cluster check checks, and cluster_state on every node.
// Before the cluster exists they are skipped with "cluster not created
// yet: run join".
func HealthChecks(inv *inventory.Inventory, l Live) []report.Check {
	if !l.Exists {
		var out []report.Check
		for _, id := range []string{IDClusterState, IDSlotsCoverage, IDSlotsOpen, IDSlotsAgreement, IDNodeFailed} {
			out = append(out, New(id, report.Skip, "", NotCreated))
		}
		return out
	}
	var out []report.Check
	out = append(out, CheckClusterState(inv, l)...)
	out = append(out, CheckCoverage(l))
	out = append(out, CheckOpenSlots(inv, l)...)
	out = append(out, CheckAgreement(inv, l))
	out = append(out, CheckFailed(inv, l)...)
	return out
}

// CheckClusterState reports cluster.state per reachable member.
func CheckClusterState(inv *inventory.Inventory, l Live) []report.Check {
	var out []report.Check
	for _, a := range l.MemberAddrs() {
		o, ok := l.Snap.Nodes[a]
		if !ok || !o.OK() {
			c := New(IDClusterState, report.Skip, a, "%s: not reachable", Label(inv, a))
			c.File, c.Line = LineOf(inv, a)
			out = append(out, c)
			continue
		}
		st := o.ClusterInfo["cluster_state"]
		c := New(IDClusterState, report.Pass, a, "%s: cluster_state:ok", Label(inv, a))
		if st != "ok" {
			c = New(IDClusterState, report.Fail, a, "%s: cluster_state:%s (%s of %d slots ok)", Label(inv, a), st, o.ClusterInfo["cluster_slots_ok"], cluster.NumSlots)
		}
		c.Observed, c.Threshold = st, "ok"
		c.File, c.Line = LineOf(inv, a)
		out = append(out, c)
	}
	return out
}

// CheckCoverage reports slots.coverage: every slot has an owner in the view.
func CheckCoverage(l Live) report.Check {
	var all cluster.SlotSet
	for i := range l.View {
		all.Union(&l.View[i].Slots)
	}
	n := all.Len()
	c := New(IDSlotsCoverage, report.Pass, "", "all %d slots covered (view of %s)", cluster.NumSlots, l.Viewer)
	if n != cluster.NumSlots {
		var missing cluster.SlotSet
		for s := range cluster.NumSlots {
			if !all.Has(s) {
				missing.Add(s)
			}
		}
		c = New(IDSlotsCoverage, report.Fail, "", "%d of %d slots covered (view of %s); unowned: %s", n, cluster.NumSlots, l.Viewer, truncate(missing.String(), 200))
		c.Hint = "assign the unowned slots (CLUSTER ADDSLOTS) or fix the cluster with redis-cli --cluster fix"
	}
	c.Observed, c.Threshold, c.Unit = n, cluster.NumSlots, "slots"
	return c
}

// CheckOpenSlots reports slots.open per reachable member: no slot of its
// own view is migrating or importing.
func CheckOpenSlots(inv *inventory.Inventory, l Live) []report.Check {
	var out []report.Check
	for _, a := range l.MemberAddrs() {
		o, ok := l.Snap.Nodes[a]
		if !ok || !o.OK() {
			continue
		}
		me, _ := o.Self()
		var open []string
		for _, s := range sortedInts(me.Migrating) {
			open = append(open, fmt.Sprintf("slot %d migrating to %s", s, peer(l, me.Migrating[s])))
		}
		for _, s := range sortedInts(me.Importing) {
			open = append(open, fmt.Sprintf("slot %d importing from %s", s, peer(l, me.Importing[s])))
		}
		c := New(IDSlotsOpen, report.Pass, a, "%s: no open slot", Label(inv, a))
		if len(open) > 0 {
			c = New(IDSlotsOpen, report.Fail, a, "%s: %s", Label(inv, a), strings.Join(open, "; "))
			c.Hint = "run slotshift rebalance to finish or close the open slots (or redis-cli --cluster fix)"
		}
		c.Observed, c.Threshold = len(open), 0
		c.File, c.Line = LineOf(inv, a)
		out = append(out, c)
	}
	return out
}

// peer names a node id by its address when the view knows it.
func peer(l Live, id string) string {
	if n, ok := l.ByID(id); ok && n.Addr != "" {
		return n.Addr
	}
	return id
}

// CheckAgreement reports slots.agreement: every reachable member reports
// the same slot-map signature.
func CheckAgreement(inv *inventory.Inventory, l Live) report.Check {
	ref := cluster.Signature(l.View)
	var differ []string
	n := 0
	for _, a := range l.MemberAddrs() {
		o, ok := l.Snap.Nodes[a]
		if !ok || !o.OK() {
			continue
		}
		n++
		if cluster.Signature(o.Nodes) != ref {
			differ = append(differ, Label(inv, a))
		}
	}
	if len(differ) > 0 {
		c := New(IDSlotsAgreement, report.Fail, "", "nodes do not agree on the slot map: %s differ from %s's view", strings.Join(differ, ", "), l.Viewer)
		c.Observed = differ
		c.Hint = "wait for the cluster to converge; if it does not, look for a node stuck in an old config epoch"
		return c
	}
	return New(IDSlotsAgreement, report.Pass, "", "%d nodes agree on the slot map", n)
}

// CheckFailed reports node.failed per member: no reachable node flags it
// fail or fail? (pfail).
func CheckFailed(inv *inventory.Inventory, l Live) []report.Check {
	flagged := map[string][]string{}
	for _, o := range l.Snap.Reachable() {
		if !l.Members[o.Addr] {
			continue
		}
		for _, n := range o.Nodes {
			if n.Failing() && n.Addr != "" {
				f := "fail?"
				if n.HasFlag("fail") {
					f = "fail"
				}
				flagged[n.Addr] = append(flagged[n.Addr], fmt.Sprintf("%s by %s", f, o.Addr))
			}
		}
	}
	var out []report.Check
	for _, a := range l.MemberAddrs() {
		c := New(IDNodeFailed, report.Pass, a, "%s: no node flags it fail or pfail", Label(inv, a))
		if f := flagged[a]; len(f) > 0 {
			c = New(IDNodeFailed, report.Fail, a, "%s is flagged %s", Label(inv, a), strings.Join(f, ", "))
			c.Hint = "bring the node back, or remove it from the cluster and the inventory"
		}
		c.File, c.Line = LineOf(inv, a)
		out = append(out, c)
	}
	return out
}

// NewNodes returns the inventory nodes that are not members of the cluster
// (all of them before the cluster exists).
func NewNodes(inv *inventory.Inventory, l Live) []inventory.NodeRef {
	var out []inventory.NodeRef
	for _, r := range inv.Nodes() {
		if !l.Exists || !l.Members[r.Addr()] {
			out = append(out, r)
		}
	}
	return out
}

// CheckNewEmpty reports node.new_empty for every node the inventory lists
// and the cluster lacks: no keys, no slots, cluster_known_nodes:1. Join
// refuses nodes with data or from another cluster.
func CheckNewEmpty(inv *inventory.Inventory, l Live) []report.Check {
	var out []report.Check
	for _, r := range NewNodes(inv, l) {
		a := r.Addr()
		o, ok := l.Snap.Nodes[a]
		var c report.Check
		switch {
		case !ok || !o.OK():
			c = New(IDNewEmpty, report.Skip, a, "%s: not reachable", Label(inv, a))
		default:
			var why []string
			if k := keyCount(o.Info); k > 0 {
				why = append(why, fmt.Sprintf("holds %d keys", k))
			}
			if kn := o.ClusterInfo["cluster_known_nodes"]; kn != "" && kn != "1" {
				why = append(why, fmt.Sprintf("knows %s nodes (cluster_known_nodes:%s): it belongs to another cluster", kn, kn))
			}
			if me, ok := o.Self(); ok && me.Slots.Len() > 0 {
				why = append(why, fmt.Sprintf("owns %d slots", me.Slots.Len()))
			}
			c = New(IDNewEmpty, report.Pass, a, "%s is empty and knows no other node: ready to join", Label(inv, a))
			if len(why) > 0 {
				c = New(IDNewEmpty, report.Fail, a, "%s is to be added but %s", Label(inv, a), strings.Join(why, ", "))
				c.Hint = "join adds only empty nodes: flush it and run CLUSTER RESET, or fix its address in the inventory"
			}
		}
		c.File, c.Line = r.File, r.Line
		out = append(out, c)
	}
	return out
}

// keyCount sums the keys of every db in INFO keyspace ("db0:keys=3,...").
func keyCount(info map[string]string) int64 {
	var n int64
	for k, v := range info {
		if !strings.HasPrefix(k, "db") {
			continue
		}
		for _, f := range strings.Split(v, ",") {
			if s, ok := strings.CutPrefix(f, "keys="); ok {
				x, _ := strconv.ParseInt(s, 10, 64)
				n += x
			}
		}
	}
	return n
}
