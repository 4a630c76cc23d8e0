package sandboxtest

import (
	"fmt"
	"strings"
	"testing"
)

// Gates renders an inventory gates section that does not hold on a loaded
// test machine, for tests about something else than throttling: latency
// avg hold 500 ms, p99 hold p99HoldMS (abort 10 s), replication lag hold
// 5 s, cpu and memory abort at 100% (the highest the rules accept).
// p99HoldMS "0.001" holds on every reading, for tests about holds.
func Gates(p99HoldMS, holdTimeout string) string {
	return "gates:\n" +
		"  latency_avg_ms: {hold: 500, abort: 5000}\n" +
		"  latency_p99_ms: {hold: " + p99HoldMS + ", abort: 10000}\n" +
		"  replication_lag_ms: {hold: 5000, abort: 60000}\n" +
		"  cpu_percent: {hold: 99, abort: 100}\n" +
		"  memory_percent: {hold: 99, abort: 100}\n" +
		"  hold_timeout: " + holdTimeout + "\n"
}

// GenerousGates are Gates with a 1 s p99 hold and a 30 s hold timeout.
var GenerousGates = Gates("1000", "30s")

// InventoryOptions shape CrossInventory's text. Zero values take the
// documented defaults.
type InventoryOptions struct {
	// Name is the cluster name. Default "test".
	Name string
	// Preamble is top-level YAML written before servers (an ssh: section).
	Preamble string
	// Weights are server weights by server name; "" or absent = default.
	Weights map[string]string
	// Extra is appended verbatim after the servers: more servers (see
	// Server and CrossPair), gates, rebalance settings.
	Extra string
}

// CrossInventory renders an inventory, all on 127.0.0.1, of the cluster
// Form(masters) builds from ports (one per node, in node order): server s
// runs master ports[s] and replica ports[masters+s], which follows the
// master of server (s+1)%masters, so that no replica is on its master's
// server. cluster-node-timeout is 1000 ms, as the harness starts nodes.
func CrossInventory(ports []int, masters int, o InventoryOptions) string {
	if o.Name == "" {
		o.Name = "test"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ncluster:\n  name: %s\n  node_timeout_ms: 1000\n%sservers:\n", o.Name, o.Preamble)
	for s := range masters {
		replicaOf := fmt.Sprintf("server%d:%d", (s+1)%masters+1, ports[(s+1)%masters])
		b.WriteString(Server(fmt.Sprintf("server%d", s+1), o.Weights[fmt.Sprintf("server%d", s+1)], ports[s], ports[masters+s], replicaOf))
	}
	b.WriteString(o.Extra)
	return b.String()
}

// Server renders one server entry on 127.0.0.1: a master on port master
// and, when replica is not 0, a replica following replicaOf ("" lets
// slotshift place it). weight "" leaves the default.
func Server(name, weight string, master, replica int, replicaOf string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - name: %s\n    address: 127.0.0.1\n", name)
	if weight != "" {
		fmt.Fprintf(&b, "    weight: %s\n", weight)
	}
	b.WriteString("    nodes:\n")
	if master != 0 {
		fmt.Fprintf(&b, "      - {port: %d, role: master}\n", master)
	}
	switch {
	case replica != 0 && replicaOf != "":
		fmt.Fprintf(&b, "      - {port: %d, role: replica, replica_of: %q}\n", replica, replicaOf)
	case replica != 0:
		fmt.Fprintf(&b, "      - {port: %d, role: replica}\n", replica)
	}
	return b.String()
}

// CrossPair renders two new servers whose replicas follow each other's
// master, as the seed adds servers: ports are a's master and replica, then
// b's.
func CrossPair(a, b string, ports [4]int) string {
	return Server(a, "", ports[0], ports[1], fmt.Sprintf("%s:%d", b, ports[2])) +
		Server(b, "", ports[2], ports[3], fmt.Sprintf("%s:%d", a, ports[0]))
}

// Ports returns the cluster's ports in node order.
func (c *Cluster) Ports() []int {
	out := make([]int, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Port
	}
	return out
}

// Healthy asserts what every finished or stopped slot move must leave: a
// converged cluster, no open slot anywhere, each of the n keys Load wrote
// readable with its value, and redis-cli --cluster check happy.
func (c *Cluster) Healthy(t testing.TB, n, valueSize int) {
	t.Helper()
	c.WaitConverged(t)
	if open := c.OpenSlots(t); len(open) > 0 {
		t.Errorf("open slots: %v", open)
	}
	c.CheckKeys(t, n, valueSize)
	c.RedisCLICheck(t)
}
