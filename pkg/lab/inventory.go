package lab

import (
	"fmt"
	"strings"
)

// Ports of every host's two Redis processes, as in the seeds.
const (
	MasterPort  = 7000
	ReplicaPort = 7001
)

// SharedMachineGates is an inventory gates section for a lab: its hosts
// share one small machine with everything else on it, so the seeds' gates
// (5 ms average latency) would hold on noise. These hold only when a host
// really struggles, and give up after two minutes.
const SharedMachineGates = `gates:
  latency_avg_ms: {hold: 100, abort: 2000}
  latency_p99_ms: {hold: 500, abort: 5000}
  replication_lag_ms: {hold: 2000, abort: 30000}
  cpu_percent: {hold: 95, abort: 100}
  memory_percent: {hold: 90, abort: 99}
  hold_timeout: 2m
`

// InventoryOptions shape Lab.Inventory's text. Zero values take the
// documented defaults.
type InventoryOptions struct {
	// Servers is how many of the lab's hosts the inventory lists, from
	// server1. Default every host.
	Servers int
	// Name is the cluster name. Default "lab".
	Name string
	// PasswordEnv names the variable holding the cluster password.
	// Default SLOTSHIFT_PASSWORD.
	PasswordEnv string
	// NodeTimeoutMS is cluster-node-timeout. Default 2000: a lab cluster
	// converges and fails over quickly.
	NodeTimeoutMS int
	// RedisConfig is the cluster's redis_config block as flow YAML.
	// Default {maxmemory: 256mb, maxmemory-policy: noeviction, appendonly: "no"}.
	RedisConfig string
	// Extra is appended verbatim: gates, rebalance, validate sections.
	Extra string
}

// Inventory renders a slotshift inventory of the lab's hosts in the seeds'
// topology: each server runs a master on 7000 and a replica on 7001;
// server1…server3 are cross-replicated (server1's replica follows
// server3's master, server2's follows server1's, server3's follows
// server2's); later servers leave replica_of to slotshift, which pairs
// them (server4's replica follows server5's master and the reverse).
// Provision uses systemd units and apt (redis-server is preinstalled: the
// hosts have no mirror), as root over SSH.
func (l *Lab) Inventory(o InventoryOptions) string {
	if o.Servers == 0 {
		o.Servers = len(l.Hosts)
	}
	if o.Name == "" {
		o.Name = "lab"
	}
	if o.PasswordEnv == "" {
		o.PasswordEnv = "SLOTSHIFT_PASSWORD"
	}
	if o.NodeTimeoutMS == 0 {
		o.NodeTimeoutMS = 2000
	}
	if o.RedisConfig == "" {
		o.RedisConfig = `{maxmemory: 256mb, maxmemory-policy: noeviction, appendonly: "no"}`
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# slotshift lab %d: %d servers on %s (%s/24)\n", l.ID, o.Servers, l.Bridge, l.Gateway)
	fmt.Fprintf(&b, "version: 1\ncluster:\n  name: %s\n  password_env: %s\n  node_timeout_ms: %d\n  redis_config: %s\n",
		o.Name, o.PasswordEnv, o.NodeTimeoutMS, o.RedisConfig)
	b.WriteString("ssh: {user: root, port: 22}\nservers:\n")
	ring := min(o.Servers, 3)
	for i, h := range l.Hosts[:min(o.Servers, len(l.Hosts))] {
		fmt.Fprintf(&b, "  - name: %s\n    address: %s\n    nodes:\n      - {port: %d, role: master}\n", h.Name, h.Addr, MasterPort)
		if i < ring {
			prev := (i + ring - 1) % ring
			fmt.Fprintf(&b, "      - {port: %d, role: replica, replica_of: \"server%d:%d\"}\n", ReplicaPort, prev+1, MasterPort)
		} else {
			fmt.Fprintf(&b, "      - {port: %d, role: replica}\n", ReplicaPort)
		}
	}
	b.WriteString("provision:\n  service: systemd\n  install: apt\n  kernel_tuning: true\n  user: redis\n  group: redis\n")
	b.WriteString(o.Extra)
	return b.String()
}
