package check

import (
	"strings"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/report"
)

// Dial is the outcome of TCP connects to a node's client and bus ports;
// "" means the connect succeeded.
type Dial struct {
	Port, Bus string
}

// CheckReachable turns TCP dial results into node.reachable and
// node.bus_port checks, one of each per node. It does no I/O.
func CheckReachable(inv *inventory.Inventory, dials map[string]Dial) []report.Check {
	addrs := make([]string, 0, len(dials))
	for a := range dials {
		addrs = append(addrs, a)
	}
	sortByInventory(inv, addrs)
	var out []report.Check
	for _, a := range addrs {
		d := dials[a]
		file, line := LineOf(inv, a)
		c := New(IDReachable, report.Pass, a, "%s accepts connections", Label(inv, a))
		if d.Port != "" {
			c = New(IDReachable, report.Fail, a, "%s is not reachable: %s", Label(inv, a), d.Port)
			c.Hint = "check that redis-server runs and that the firewall opens the port"
		}
		c.File, c.Line = file, line
		b := New(IDBusPort, report.Pass, a, "%s cluster bus port accepts connections", Label(inv, a))
		if d.Bus != "" {
			b = New(IDBusPort, report.Fail, a, "%s cluster bus port is not reachable: %s", Label(inv, a), d.Bus)
			b.Hint = "the cluster bus is the client port + 10000; open it between all servers"
		}
		b.File, b.Line = file, line
		out = append(out, c, b)
	}
	return out
}

// CheckAuth reports node.auth per node: whether slotshift could log in and
// read the node. Nodes that refused the TCP connection (dials says so) are
// skipped: node.reachable already failed for them. A node that answered
// INFO but failed later (cluster support disabled) passes here; its own
// check reports the rest.
func CheckAuth(inv *inventory.Inventory, l Live, dials map[string]Dial) []report.Check {
	var out []report.Check
	for _, a := range checkAddrs(inv, l) {
		file, line := LineOf(inv, a)
		var c report.Check
		o, observed := l.Snap.Nodes[a]
		switch {
		case dials[a].Port != "":
			c = New(IDAuth, report.Skip, a, "%s: not reachable", Label(inv, a))
		case !observed || o == nil:
			c = New(IDAuth, report.Skip, a, "%s: not observed", Label(inv, a))
		case o.OK() || o.Info != nil:
			c = New(IDAuth, report.Pass, a, "%s: authenticated", Label(inv, a))
		default:
			c = New(IDAuth, report.Fail, a, "%s: %s", Label(inv, a), o.Err)
			switch low := strings.ToLower(o.Err); {
			case strings.Contains(low, "x509") || strings.Contains(low, "tls:"):
				// Before "auth": "unknown authority" is a certificate problem.
				c.Hint = "the TLS handshake failed: check the CA in the variable named by cluster.tls.ca_env, and that the node's certificate names its address (or set cluster.tls.server_name)"
			case strings.Contains(low, "auth"):
				c.Hint = "the password in the variable named by cluster.password_env does not match the node's requirepass"
			}
		}
		c.File, c.Line = file, line
		out = append(out, c)
	}
	return out
}

// CheckObserved reports node.reachable per node from the snapshot alone
// (for verify, which does not dial separately).
func CheckObserved(inv *inventory.Inventory, l Live) []report.Check {
	var out []report.Check
	for _, a := range checkAddrs(inv, l) {
		file, line := LineOf(inv, a)
		o, ok := l.Snap.Nodes[a]
		var c report.Check
		switch {
		case !ok || o == nil:
			c = New(IDReachable, report.Fail, a, "%s was not observed", Label(inv, a))
		case o.OK():
			c = New(IDReachable, report.Pass, a, "%s answered", Label(inv, a))
		default:
			c = New(IDReachable, report.Fail, a, "%s: %s", Label(inv, a), o.Err)
		}
		c.File, c.Line = file, line
		out = append(out, c)
	}
	return out
}

// CheckClusterEnabled reports node.cluster_enabled per node that answered
// INFO.
func CheckClusterEnabled(inv *inventory.Inventory, l Live) []report.Check {
	var out []report.Check
	for _, a := range l.Snap.Addrs() {
		o := l.Snap.Nodes[a]
		if o == nil || o.Info == nil {
			continue
		}
		v := o.Info["cluster_enabled"]
		c := New(IDClusterEnabled, report.Pass, a, "%s: cluster_enabled:1", Label(inv, a))
		if v != "1" {
			c = New(IDClusterEnabled, report.Fail, a, "%s: cluster_enabled:%s, want 1", Label(inv, a), v)
			c.Hint = "set cluster-enabled yes in the node's redis.conf and restart it"
		}
		c.Observed, c.Threshold = v, "1"
		c.File, c.Line = LineOf(inv, a)
		out = append(out, c)
	}
	return out
}
