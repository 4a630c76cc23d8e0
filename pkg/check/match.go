package check

import (
	"math"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/report"
)

// inventory lacks. One check per node.
func CheckInventoryMatch(inv *inventory.Inventory, l Live) []report.Check {
	if !l.Exists {
		return []report.Check{New(IDInventoryMatch, report.Skip, "", NotCreated)}
	}
	var out []report.Check
	for _, r := range inv.Nodes() {
		a := r.Addr()
		n, ok := l.Node(a)
		var c report.Check
		switch {
		case !ok || !l.Members[a]:
			c = New(IDInventoryMatch, report.Fail, a, "%s is in the inventory but not in the cluster", Label(inv, a))
			c.Hint = "run slotshift join to add it, or remove it from the inventory"
		case r.Role == inventory.RoleMaster && !n.IsMaster():
			c = New(IDInventoryMatch, report.Fail, a, "%s is declared master but is a replica of %s", Label(inv, a), peer(l, n.MasterID))
			c.Hint = "a failover may have swapped roles: CLUSTER FAILOVER on the declared master restores them"
		case r.Role == inventory.RoleReplica && !n.IsReplica():
			c = New(IDInventoryMatch, report.Fail, a, "%s is declared replica but is a master with %d slots", Label(inv, a), n.Slots.Len())
		case r.Role == inventory.RoleReplica && r.ReplicaOf != "":
			m, known := inv.NodeByName(r.ReplicaOf)
			live := peer(l, n.MasterID)
			if known && live == m.Addr() {
				c = New(IDInventoryMatch, report.Pass, a, "%s is a replica of %s as declared", Label(inv, a), Label(inv, live))
			} else {
				c = New(IDInventoryMatch, report.Fail, a, "%s follows %s, the inventory says replica_of %s", Label(inv, a), Label(inv, live), r.ReplicaOf)
				c.Hint = "run slotshift join to re-point replicas as declared"
			}
		default:
			c = New(IDInventoryMatch, report.Pass, a, "%s is a %s as declared", Label(inv, a), r.Role)
		}
		c.File, c.Line = r.File, r.Line
		out = append(out, c)
	}
	for _, a := range l.MemberAddrs() {
		if _, ok := inv.NodeByAddr(a); ok {
			continue
		}
		n, _ := l.Node(a)
		c := New(IDInventoryMatch, report.Fail, a, "%s (id %s) is in the cluster but not in the inventory", a, n.ID)
		c.Hint = "add it to the inventory, or remove it with slotshift join --prune"
		out = append(out, c)
	}
	return out
}

// CheckDistribution reports slots.distribution per master against the
// planner's targets: it fails when the planner would move slots (some
// master is off its target by more than threshold_percent).
func CheckDistribution(inv *inventory.Inventory, l Live, targets []Receive, moves int, thresholdPct float64) []report.Check {
	if !l.Exists {
		return []report.Check{New(IDDistribution, report.Skip, "", NotCreated)}
	}
	var out []report.Check
	for _, t := range targets {
		dev := 0.0
		if t.Target > 0 {
			dev = round1(100 * math.Abs(float64(t.Current-t.Target)) / float64(t.Target))
		} else if t.Current > 0 {
			dev = 100
		}
		st := report.Pass
		if moves > 0 && t.Current != t.Target {
			st = report.Fail
		}
		c := New(IDDistribution, st, t.Addr, "%s owns %d slots, target %d (%.1f%% off; threshold %g%%)", Label(inv, t.Addr), t.Current, t.Target, dev, thresholdPct)
		if st == report.Fail {
			c.Hint = "run slotshift rebalance"
		}
		c.Observed, c.Threshold, c.Unit = t.Current, t.Target, "slots"
		c.File, c.Line = LineOf(inv, t.Addr)
		out = append(out, c)
	}
	return out
}
