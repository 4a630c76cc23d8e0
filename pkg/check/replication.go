package check

import (
	"maps"
	"slices"
	"strings"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/report"
)

// cluster that owns slots: at least one replica that is not failing runs
// on another server (inventory server names, not IPs).
func CheckPlacement(inv *inventory.Inventory, l Live) []report.Check {
	if !l.Exists {
		return []report.Check{New(IDPlacement, report.Skip, "", NotCreated)}
	}
	var out []report.Check
	for _, m := range l.Masters() {
		if m.Slots.Len() == 0 {
			continue
		}
		ms := ServerOf(inv, m.Addr)
		var good, same []string
		for _, r := range l.Replicas() {
			if r.MasterID != m.ID || r.Failing() {
				continue
			}
			rs := ServerOf(inv, r.Addr)
			if rs == ms {
				same = append(same, r.Addr+" on "+rs)
			} else {
				good = append(good, r.Addr+" on "+rs)
			}
		}
		var c report.Check
		switch {
		case len(good) > 0:
			c = New(IDPlacement, report.Pass, m.Addr, "master %s on %s has a replica on another server: %s", Label(inv, m.Addr), ms, strings.Join(good, ", "))
		case len(same) > 0:
			c = New(IDPlacement, report.Fail, m.Addr, "master %s on %s has replicas only on its own server: %s", Label(inv, m.Addr), ms, strings.Join(same, ", "))
			c.Hint = "losing that server loses the slots: make a replica on another server follow it (join applies the inventory's replica_of)"
		default:
			c = New(IDPlacement, report.Fail, m.Addr, "master %s on %s has no working replica", Label(inv, m.Addr), ms)
			c.Hint = "attach a replica on another server (slotshift join)"
		}
		c.File, c.Line = LineOf(inv, m.Addr)
		out = append(out, c)
	}
	return out
}

// CheckReplLink reports replication.link per reachable replica:
// master_link_status:up.
func CheckReplLink(inv *inventory.Inventory, l Live) []report.Check {
	var out []report.Check
	for _, o := range l.Snap.Reachable() {
		if o.Info["role"] != "slave" || !l.Members[o.Addr] {
			continue
		}
		st := o.Info["master_link_status"]
		master := hostPort(o.Info["master_host"], o.Info["master_port"])
		c := New(IDReplLink, report.Pass, o.Addr, "%s: link to master %s is up", Label(inv, o.Addr), master)
		if st != "up" {
			c = New(IDReplLink, report.Fail, o.Addr, "%s: master_link_status:%s (master %s, down %s s)", Label(inv, o.Addr), st, master, o.Info["master_link_down_since_seconds"])
			c.Hint = "check masterauth and that the master is reachable from the replica"
		}
		c.Observed, c.Threshold = st, "up"
		c.File, c.Line = LineOf(inv, o.Addr)
		out = append(out, c)
	}
	return out
}

func hostPort(host, port string) string {
	if host == "" {
		return "unknown"
	}
	return host + ":" + port
}

// Lag is one replica's measured replication lag.
type Lag struct {
	MS  float64
	Err string
}

// CheckReplLag reports replication.lag per measured replica against the
// replication_lag_ms gate.
func CheckReplLag(inv *inventory.Inventory, lags map[string]Lag, g inventory.Threshold) []report.Check {
	addrs := slices.Sorted(maps.Keys(lags))
	sortByInventory(inv, addrs)
	var out []report.Check
	for _, a := range addrs {
		x := lags[a]
		var c report.Check
		if x.Err != "" {
			c = New(IDReplLag, report.Error, a, "%s: lag not measured: %s", Label(inv, a), x.Err)
		} else {
			v := round1(x.MS)
			c = New(IDReplLag, gateStatus(v, g), a, "%s: replication lag %.1f ms (hold %g ms, abort %g ms)", Label(inv, a), v, g.Hold, g.Abort)
			c.Observed, c.Threshold, c.Unit = v, g.Hold, "ms"
		}
		c.File, c.Line = LineOf(inv, a)
		out = append(out, c)
	}
	return out
}
