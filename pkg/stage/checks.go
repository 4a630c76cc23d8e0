package stage

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/report"
)

// Check ids of validate and verify. They are stable: reports, JUnit test
// names and workflow conditions refer to them.
const (
	IDReachable      = "node.reachable"
	IDBusPort        = "node.bus_port"
	IDAuth           = "node.auth"
	IDClusterEnabled = "node.cluster_enabled"
	IDVersion        = "redis.version"
	IDConfigDrift    = "config.drift"
	IDClusterState   = "cluster.state"
	IDSlotsCoverage  = "slots.coverage"
	IDSlotsOpen      = "slots.open"
	IDSlotsAgreement = "slots.agreement"
	IDNodeFailed     = "node.failed"
	IDNewEmpty       = "node.new_empty"
	IDMemoryHeadroom = "memory.headroom"
	IDGateCPU        = "gate.cpu"
	IDGateMemory     = "gate.memory"
	IDBigKeys        = "keys.big"
	IDBackup         = "backup.recent"
	IDPlacement      = "replication.placement"
	IDReplLink       = "replication.link"
	IDReplLag        = "replication.lag"
	IDDistribution   = "slots.distribution"
	IDInventoryMatch = "inventory.match"
	IDCanary         = "canary.write_read"
	IDLatencyAvg     = "gate.latency_avg"
	IDLatencyP99     = "gate.latency_p99"
)

// notCreated is the message of health checks skipped before join.
const notCreated = "cluster not created yet: run join"

// Live is the cluster as the checks see it in one snapshot: the widest view
// any reachable node has (the node that knows the most nodes, so that an
// empty node about to be added, which only knows itself, never stands for
// the cluster) and the addresses of the nodes in it.
type Live struct {
	Snap *cluster.Snapshot
	// Viewer is the address whose CLUSTER NODES is View; "" when no node
	// was reachable.
	Viewer string
	View   []cluster.Node
	// Members are the addresses of the nodes in View (handshake and
	// address-less entries left out).
	Members map[string]bool
	// Exists is false when no reachable node knows another node or owns a
	// slot: the cluster has not been created yet.
	Exists bool
}

// NewLive derives the live view from a snapshot. It does no I/O.
func NewLive(snap *cluster.Snapshot) Live {
	l := Live{Snap: snap, Members: map[string]bool{}}
	best, bestKnown, bestSlots := (*cluster.Observation)(nil), -1, -1
	for _, o := range snap.Reachable() {
		known, slots := 0, 0
		for i := range o.Nodes {
			n := &o.Nodes[i]
			if n.HasFlag("handshake") || n.HasFlag("noaddr") || n.Addr == "" {
				continue
			}
			known++
			slots += n.Slots.Len()
		}
		// Reachable is address-sorted, so ties keep the first address.
		if known > bestKnown || (known == bestKnown && slots > bestSlots) {
			best, bestKnown, bestSlots = o, known, slots
		}
	}
	if best == nil {
		return l
	}
	l.Viewer, l.View = best.Addr, best.Nodes
	for _, n := range best.Nodes {
		if n.HasFlag("handshake") || n.HasFlag("noaddr") || n.Addr == "" {
			continue
		}
		l.Members[n.Addr] = true
	}
	l.Exists = bestKnown > 1 || bestSlots > 0
	return l
}

// Fingerprint is the fingerprint of the view's slot map ("" when none).
func (l Live) Fingerprint() string {
	if !l.Exists {
		return ""
	}
	return cluster.Fingerprint(l.View)
}

// node returns the view's entry for addr.
func (l Live) node(addr string) (cluster.Node, bool) {
	for _, n := range l.View {
		if n.Addr == addr {
			return n, true
		}
	}
	return cluster.Node{}, false
}

// byID returns the view's entry for id.
func (l Live) byID(id string) (cluster.Node, bool) {
	for _, n := range l.View {
		if n.ID == id {
			return n, true
		}
	}
	return cluster.Node{}, false
}

// memberAddrs are the members, sorted.
func (l Live) memberAddrs() []string {
	out := make([]string, 0, len(l.Members))
	for a := range l.Members {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Masters returns the view's masters (slots or not), sorted by address.
func (l Live) Masters() []cluster.Node { return l.members((*cluster.Node).IsMaster) }

// Replicas returns the view's replicas, sorted by address.
func (l Live) Replicas() []cluster.Node { return l.members((*cluster.Node).IsReplica) }

// members returns the view's member nodes that match, sorted by address.
func (l Live) members(match func(*cluster.Node) bool) []cluster.Node {
	var out []cluster.Node
	for _, n := range l.View {
		if match(&n) && l.Members[n.Addr] {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// label names a node for messages: "addr (server:port)" when the inventory
// knows it.
func label(inv *inventory.Inventory, addr string) string {
	if inv != nil {
		if r, ok := inv.NodeByAddr(addr); ok {
			return addr + " (" + r.Name() + ")"
		}
	}
	return addr
}

// serverOf is the failure domain of addr: the inventory server name, or
// the host part of the address when the inventory does not know the node.
func serverOf(inv *inventory.Inventory, addr string) string {
	if inv != nil {
		if s, ok := inv.ServerOf(addr); ok {
			return s
		}
	}
	host, _, found := strings.Cut(addr, ":")
	if !found {
		return addr
	}
	return "host " + host
}

// lineOf returns the inventory file and line of the node at addr.
func lineOf(inv *inventory.Inventory, addr string) (string, int) {
	if inv != nil {
		if r, ok := inv.NodeByAddr(addr); ok {
			return inv.Source, r.Line
		}
	}
	return "", 0
}

func check(id string, st report.Status, node, format string, a ...any) report.Check {
	return report.Check{ID: id, Status: st, Node: node, Message: fmt.Sprintf(format, a...)}
}

// checkAddrs is every address a per-node check covers: the inventory's
// nodes, then the cluster's members and any other observed node.
func checkAddrs(inv *inventory.Inventory, l Live) []string {
	seen := map[string]bool{}
	var out []string
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if inv != nil {
		for _, r := range inv.Nodes() {
			add(r.Addr())
		}
	}
	var rest []string
	for a := range l.Members {
		rest = append(rest, a)
	}
	if l.Snap != nil {
		rest = append(rest, l.Snap.Addrs()...)
	}
	sort.Strings(rest)
	for _, a := range rest {
		add(a)
	}
	return out
}

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
		file, line := lineOf(inv, a)
		c := check(IDReachable, report.Pass, a, "%s accepts connections", label(inv, a))
		if d.Port != "" {
			c = check(IDReachable, report.Fail, a, "%s is not reachable: %s", label(inv, a), d.Port)
			c.Hint = "check that redis-server runs and that the firewall opens the port"
		}
		c.File, c.Line = file, line
		b := check(IDBusPort, report.Pass, a, "%s cluster bus port accepts connections", label(inv, a))
		if d.Bus != "" {
			b = check(IDBusPort, report.Fail, a, "%s cluster bus port is not reachable: %s", label(inv, a), d.Bus)
			b.Hint = "the cluster bus is the client port + 10000; open it between all servers"
		}
		b.File, b.Line = file, line
		out = append(out, c, b)
	}
	return out
}

// sortByInventory orders addresses as the inventory lists its nodes, then
// unknown ones by address.
func sortByInventory(inv *inventory.Inventory, addrs []string) {
	rank := map[string]int{}
	if inv != nil {
		for i, r := range inv.Nodes() {
			rank[r.Addr()] = i + 1
		}
	}
	sort.SliceStable(addrs, func(i, j int) bool {
		ri, rj := rank[addrs[i]], rank[addrs[j]]
		switch {
		case ri == 0 && rj == 0:
			return addrs[i] < addrs[j]
		case ri == 0:
			return false
		case rj == 0:
			return true
		}
		return ri < rj
	})
}

// CheckAuth reports node.auth per node: whether slotshift could log in and
// read the node. Nodes that refused the TCP connection (dials says so) are
// skipped: node.reachable already failed for them. A node that answered
// INFO but failed later (cluster support disabled) passes here; its own
// check reports the rest.
func CheckAuth(inv *inventory.Inventory, l Live, dials map[string]Dial) []report.Check {
	var out []report.Check
	for _, a := range checkAddrs(inv, l) {
		file, line := lineOf(inv, a)
		var c report.Check
		o, observed := l.Snap.Nodes[a]
		switch {
		case dials[a].Port != "":
			c = check(IDAuth, report.Skip, a, "%s: not reachable", label(inv, a))
		case !observed || o == nil:
			c = check(IDAuth, report.Skip, a, "%s: not observed", label(inv, a))
		case o.OK() || o.Info != nil:
			c = check(IDAuth, report.Pass, a, "%s: authenticated", label(inv, a))
		default:
			c = check(IDAuth, report.Fail, a, "%s: %s", label(inv, a), o.Err)
			if strings.Contains(strings.ToLower(o.Err), "auth") {
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
		file, line := lineOf(inv, a)
		o, ok := l.Snap.Nodes[a]
		var c report.Check
		switch {
		case !ok || o == nil:
			c = check(IDReachable, report.Fail, a, "%s was not observed", label(inv, a))
		case o.OK():
			c = check(IDReachable, report.Pass, a, "%s answered", label(inv, a))
		default:
			c = check(IDReachable, report.Fail, a, "%s: %s", label(inv, a), o.Err)
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
		c := check(IDClusterEnabled, report.Pass, a, "%s: cluster_enabled:1", label(inv, a))
		if v != "1" {
			c = check(IDClusterEnabled, report.Fail, a, "%s: cluster_enabled:%s, want 1", label(inv, a), v)
			c.Hint = "set cluster-enabled yes in the node's redis.conf and restart it"
		}
		c.Observed, c.Threshold = v, "1"
		c.File, c.Line = lineOf(inv, a)
		out = append(out, c)
	}
	return out
}

// CheckVersion reports redis.version: every reachable node runs the same
// Redis version. The message lists each version with its nodes.
func CheckVersion(inv *inventory.Inventory, l Live) report.Check {
	byVersion := map[string][]string{}
	for _, o := range l.Snap.Reachable() {
		v := o.Info["redis_version"]
		if v == "" {
			v = "unknown"
		}
		byVersion[v] = append(byVersion[v], label(inv, o.Addr))
	}
	versions := slices.Sorted(maps.Keys(byVersion))
	switch len(versions) {
	case 0:
		return check(IDVersion, report.Skip, "", "no node was reachable")
	case 1:
		c := check(IDVersion, report.Pass, "", "every node runs Redis %s", versions[0])
		c.Observed = versions[0]
		return c
	}
	// Name the minority: the version most nodes run is the reference.
	sort.SliceStable(versions, func(i, j int) bool { return len(byVersion[versions[i]]) > len(byVersion[versions[j]]) })
	parts := make([]string, len(versions))
	for i, v := range versions {
		parts[i] = fmt.Sprintf("%s on %s", v, strings.Join(byVersion[v], ", "))
	}
	c := check(IDVersion, report.Fail, "", "Redis versions differ: %s", strings.Join(parts, "; "))
	c.Observed = versions
	c.Hint = "upgrade every node to the same version before changing the cluster"
	return c
}

// DriftKeys are the directives compared between nodes when present in the
// snapshot's CONFIG GET values; the inventory's redis_config keys are
// compared as well.
var DriftKeys = []string{
	"cluster-node-timeout", "maxmemory", "maxmemory-policy", "appendonly",
	"appendfsync", "save", "cluster-require-full-coverage",
	"cluster-allow-reads-when-down", "cluster-replica-validity-factor",
	"cluster-migration-barrier", "cluster-allow-replica-migration",
	"repl-backlog-size", "repl-diskless-sync", "maxclients", "timeout",
	"tcp-keepalive", "hz", "lazyfree-lazy-eviction", "activedefrag",
}

// CheckConfigDrift reports config.drift per reachable node: each compared
// directive has the value most nodes have, and the value the inventory
// declares (cluster.node_timeout_ms and cluster.redis_config), compared
// after normalising sizes ("4gb") and yes/no.
func CheckConfigDrift(inv *inventory.Inventory, l Live) []report.Check {
	want := map[string]string{}
	if inv != nil {
		if inv.Cluster.NodeTimeoutMS > 0 {
			want["cluster-node-timeout"] = strconv.Itoa(inv.Cluster.NodeTimeoutMS)
		}
		for k, v := range inv.Cluster.RedisConfig {
			want[strings.ToLower(k)] = v
		}
	}
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	obs := l.Snap.Reachable()
	for _, k := range DriftKeys {
		for _, o := range obs {
			if _, ok := o.Config[k]; ok {
				keys[k] = true
			}
		}
	}
	// The reference value of each key is what most nodes report.
	majority := map[string]string{}
	for k := range keys {
		count := map[string]int{}
		for _, o := range obs {
			if v, ok := o.Config[k]; ok {
				count[normConfig(v)]++
			}
		}
		best, bestN := "", 0
		for _, v := range slices.Sorted(maps.Keys(count)) {
			if count[v] > bestN {
				best, bestN = v, count[v]
			}
		}
		majority[k] = best
	}
	names := slices.Sorted(maps.Keys(keys))
	var out []report.Check
	for _, o := range obs {
		var diffs []string
		compared := 0
		for _, k := range names {
			v, ok := o.Config[k]
			if !ok {
				continue
			}
			compared++
			nv := normConfig(v)
			if w, declared := want[k]; declared && nv != normConfig(w) {
				diffs = append(diffs, fmt.Sprintf("%s is %q, the inventory says %q", k, v, w))
				continue
			}
			if nv != majority[k] {
				diffs = append(diffs, fmt.Sprintf("%s is %q, other nodes have %q", k, v, majority[k]))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if _, ok := o.Config[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s (from redis_config) could not be read with CONFIG GET", k))
			}
		}
		c := check(IDConfigDrift, report.Pass, o.Addr, "%s: %d directives match the other nodes and the inventory", label(inv, o.Addr), compared)
		if len(diffs) > 0 {
			c = check(IDConfigDrift, report.Fail, o.Addr, "%s: %s", label(inv, o.Addr), strings.Join(diffs, "; "))
			c.Hint = "make the directives identical on every node (provision writes them from the inventory)"
		}
		c.File, c.Line = lineOf(inv, o.Addr)
		out = append(out, c)
	}
	return out
}

// normConfig normalises a directive value for comparison: sizes to bytes
// (Redis reads "1gb" as 1024³ and "1g" as 10⁹), yes/no lowercased, quotes
// and surrounding space dropped.
func normConfig(v string) string {
	v = strings.ToLower(strings.Trim(strings.TrimSpace(v), `"'`))
	if b, ok := parseSize(v); ok {
		return strconv.FormatInt(b, 10)
	}
	return v
}

// parseSize parses a Redis memory size: digits with an optional k, kb, m,
// mb, g or gb suffix.
func parseSize(v string) (int64, bool) {
	mult := int64(1)
	for _, s := range []struct {
		suffix string
		mult   int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}} {
		if strings.HasSuffix(v, s.suffix) {
			v, mult = strings.TrimSuffix(v, s.suffix), s.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n * mult, true
}

// HealthChecks reports cluster.state (per member), slots.coverage,
// slots.open (per member), slots.agreement and node.failed (per member) —
// what redis-cli --cluster check checks, and cluster_state on every node.
// Before the cluster exists they are skipped with "cluster not created
// yet: run join".
func HealthChecks(inv *inventory.Inventory, l Live) []report.Check {
	if !l.Exists {
		var out []report.Check
		for _, id := range []string{IDClusterState, IDSlotsCoverage, IDSlotsOpen, IDSlotsAgreement, IDNodeFailed} {
			out = append(out, check(id, report.Skip, "", notCreated))
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
	for _, a := range l.memberAddrs() {
		o, ok := l.Snap.Nodes[a]
		if !ok || !o.OK() {
			c := check(IDClusterState, report.Skip, a, "%s: not reachable", label(inv, a))
			c.File, c.Line = lineOf(inv, a)
			out = append(out, c)
			continue
		}
		st := o.ClusterInfo["cluster_state"]
		c := check(IDClusterState, report.Pass, a, "%s: cluster_state:ok", label(inv, a))
		if st != "ok" {
			c = check(IDClusterState, report.Fail, a, "%s: cluster_state:%s (%s of %d slots ok)", label(inv, a), st, o.ClusterInfo["cluster_slots_ok"], cluster.NumSlots)
		}
		c.Observed, c.Threshold = st, "ok"
		c.File, c.Line = lineOf(inv, a)
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
	c := check(IDSlotsCoverage, report.Pass, "", "all %d slots covered (view of %s)", cluster.NumSlots, l.Viewer)
	if n != cluster.NumSlots {
		var missing cluster.SlotSet
		for s := range cluster.NumSlots {
			if !all.Has(s) {
				missing.Add(s)
			}
		}
		c = check(IDSlotsCoverage, report.Fail, "", "%d of %d slots covered (view of %s); unowned: %s", n, cluster.NumSlots, l.Viewer, truncate(missing.String(), 200))
		c.Hint = "assign the unowned slots (CLUSTER ADDSLOTS) or fix the cluster with redis-cli --cluster fix"
	}
	c.Observed, c.Threshold, c.Unit = n, cluster.NumSlots, "slots"
	return c
}

// CheckOpenSlots reports slots.open per reachable member: no slot of its
// own view is migrating or importing.
func CheckOpenSlots(inv *inventory.Inventory, l Live) []report.Check {
	var out []report.Check
	for _, a := range l.memberAddrs() {
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
		c := check(IDSlotsOpen, report.Pass, a, "%s: no open slot", label(inv, a))
		if len(open) > 0 {
			c = check(IDSlotsOpen, report.Fail, a, "%s: %s", label(inv, a), strings.Join(open, "; "))
			c.Hint = "run slotshift rebalance to finish or close the open slots (or redis-cli --cluster fix)"
		}
		c.Observed, c.Threshold = len(open), 0
		c.File, c.Line = lineOf(inv, a)
		out = append(out, c)
	}
	return out
}

// peer names a node id by its address when the view knows it.
func peer(l Live, id string) string {
	if n, ok := l.byID(id); ok && n.Addr != "" {
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
	for _, a := range l.memberAddrs() {
		o, ok := l.Snap.Nodes[a]
		if !ok || !o.OK() {
			continue
		}
		n++
		if cluster.Signature(o.Nodes) != ref {
			differ = append(differ, label(inv, a))
		}
	}
	if len(differ) > 0 {
		c := check(IDSlotsAgreement, report.Fail, "", "nodes do not agree on the slot map: %s differ from %s's view", strings.Join(differ, ", "), l.Viewer)
		c.Observed = differ
		c.Hint = "wait for the cluster to converge; if it does not, look for a node stuck in an old config epoch"
		return c
	}
	return check(IDSlotsAgreement, report.Pass, "", "%d nodes agree on the slot map", n)
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
	for _, a := range l.memberAddrs() {
		c := check(IDNodeFailed, report.Pass, a, "%s: no node flags it fail or pfail", label(inv, a))
		if f := flagged[a]; len(f) > 0 {
			c = check(IDNodeFailed, report.Fail, a, "%s is flagged %s", label(inv, a), strings.Join(f, ", "))
			c.Hint = "bring the node back, or remove it from the cluster and the inventory"
		}
		c.File, c.Line = lineOf(inv, a)
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
			c = check(IDNewEmpty, report.Skip, a, "%s: not reachable", label(inv, a))
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
			c = check(IDNewEmpty, report.Pass, a, "%s is empty and knows no other node: ready to join", label(inv, a))
			if len(why) > 0 {
				c = check(IDNewEmpty, report.Fail, a, "%s is to be added but %s", label(inv, a), strings.Join(why, ", "))
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

func infoFloat(info map[string]string, key string) (float64, bool) {
	v, ok := info[key]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	return f, err == nil
}

// memoryLimit is the denominator of memory percentages: maxmemory, or the
// machine's memory when maxmemory is 0.
func memoryLimit(o *cluster.Observation) (limit float64, what string) {
	if mm, ok := infoFloat(o.Info, "maxmemory"); ok && mm > 0 {
		return mm, "maxmemory"
	}
	if v, ok := o.Config["maxmemory"]; ok {
		if b, ok := parseSize(normConfig(v)); ok && b > 0 {
			return float64(b), "maxmemory"
		}
	}
	if t, ok := infoFloat(o.Info, "total_system_memory"); ok && t > 0 {
		return t, "system memory"
	}
	return 0, ""
}

// gateStatus grades a value against a gate: over abort fails, over hold
// warns (a rebalance would hold), otherwise passes.
func gateStatus(v float64, t inventory.Threshold) report.Status {
	switch {
	case t.Abort > 0 && v > t.Abort:
		return report.Fail
	case t.Hold > 0 && v > t.Hold:
		return report.Warn
	}
	return report.Pass
}

// CheckCPU reports gate.cpu per node from measured CPU percentages.
func CheckCPU(inv *inventory.Inventory, cpu map[string]float64, g inventory.Threshold) []report.Check {
	addrs := slices.Sorted(maps.Keys(cpu))
	sortByInventory(inv, addrs)
	var out []report.Check
	for _, a := range addrs {
		v := round1(cpu[a])
		st := gateStatus(v, g)
		c := check(IDGateCPU, st, a, "%s: CPU %.1f%% (hold %g%%, abort %g%%)", label(inv, a), v, g.Hold, g.Abort)
		c.Observed, c.Threshold, c.Unit = v, g.Hold, "percent"
		c.File, c.Line = lineOf(inv, a)
		out = append(out, c)
	}
	return out
}

// CheckMemory reports gate.memory per reachable node: used_memory as a
// percentage of maxmemory (or of system memory when maxmemory is 0).
func CheckMemory(inv *inventory.Inventory, l Live, g inventory.Threshold) []report.Check {
	var out []report.Check
	for _, o := range l.Snap.Reachable() {
		used, _ := infoFloat(o.Info, "used_memory")
		limit, what := memoryLimit(o)
		var c report.Check
		if limit <= 0 {
			c = check(IDGateMemory, report.Skip, o.Addr, "%s: neither maxmemory nor total_system_memory known", label(inv, o.Addr))
		} else {
			pct := round1(100 * used / limit)
			c = check(IDGateMemory, gateStatus(pct, g), o.Addr, "%s: memory %.1f%% of %s (%s of %s; hold %g%%, abort %g%%)", label(inv, o.Addr), pct, what, bytesText(used), bytesText(limit), g.Hold, g.Abort)
			c.Observed, c.Threshold, c.Unit = pct, g.Hold, "percent"
		}
		c.File, c.Line = lineOf(inv, o.Addr)
		out = append(out, c)
	}
	return out
}

// Receive is one master's slot change in the planned rebalance.
type Receive struct {
	Addr            string
	Current, Target int
}

// CheckHeadroom reports memory.headroom for each node that will receive
// slots: its used memory plus the slots it receives at the givers' average
// bytes per slot stays under the memory gate's hold percentage of
// maxmemory (or system memory).
func CheckHeadroom(inv *inventory.Inventory, l Live, targets []Receive, g inventory.Threshold) []report.Check {
	if !l.Exists {
		return []report.Check{check(IDMemoryHeadroom, report.Skip, "", notCreated)}
	}
	var giverBytes, giverSlots float64
	for _, t := range targets {
		if t.Current > t.Target {
			if o, ok := l.Snap.Nodes[t.Addr]; ok && o.OK() {
				used := datasetBytes(o)
				giverBytes += used
				giverSlots += float64(t.Current)
			}
		}
	}
	perSlot := 0.0
	if giverSlots > 0 {
		perSlot = giverBytes / giverSlots
	}
	var out []report.Check
	for _, t := range targets {
		if t.Target <= t.Current {
			continue
		}
		o, ok := l.Snap.Nodes[t.Addr]
		if !ok || !o.OK() {
			out = append(out, check(IDMemoryHeadroom, report.Skip, t.Addr, "%s: not reachable", label(inv, t.Addr)))
			continue
		}
		used, _ := infoFloat(o.Info, "used_memory")
		limit, what := memoryLimit(o)
		recv := t.Target - t.Current
		projected := used + float64(recv)*perSlot
		if limit <= 0 {
			out = append(out, check(IDMemoryHeadroom, report.Skip, t.Addr, "%s: neither maxmemory nor total_system_memory known", label(inv, t.Addr)))
			continue
		}
		pct := round1(100 * projected / limit)
		st := report.Pass
		if pct > g.Hold {
			st = report.Fail
		}
		c := check(IDMemoryHeadroom, st, t.Addr, "%s receives %d slots: projected %s (%.1f%% of %s %s; %s/slot on the givers), limit %g%%",
			label(inv, t.Addr), recv, bytesText(projected), pct, what, bytesText(limit), bytesText(perSlot), g.Hold)
		if st == report.Fail {
			c.Hint = "raise maxmemory, add servers, or lower the receiving servers' weight before rebalancing"
		}
		c.Observed, c.Threshold, c.Unit = pct, g.Hold, "percent"
		c.File, c.Line = lineOf(inv, t.Addr)
		out = append(out, c)
	}
	if len(out) == 0 {
		out = append(out, check(IDMemoryHeadroom, report.Pass, "", "no node receives slots"))
	}
	return out
}

// datasetBytes is the memory a node's keys take: used_memory_dataset when
// reported, else used_memory.
func datasetBytes(o *cluster.Observation) float64 {
	if v, ok := infoFloat(o.Info, "used_memory_dataset"); ok {
		return v
	}
	v, _ := infoFloat(o.Info, "used_memory")
	return v
}

// BigKey is one key and its MEMORY USAGE.
type BigKey struct {
	Key   string `json:"key"`
	Bytes int64  `json:"bytes"`
}

// BigKeyScan is what the big-key scan found on one node.
type BigKeyScan struct {
	// Largest are the biggest keys seen, largest first (at most 5).
	Largest []BigKey
	// Scanned is how many keys were measured.
	Scanned int64
	// Complete is false when the time budget ended the scan early.
	Complete bool
	// Err is why the scan failed; "" when it ran.
	Err string
}

// CheckBigKeys reports keys.big per scanned node: warn when the largest
// key is over warn bytes, fail over fail bytes.
func CheckBigKeys(inv *inventory.Inventory, scans map[string]BigKeyScan, warn, fail int64) []report.Check {
	addrs := slices.Sorted(maps.Keys(scans))
	sortByInventory(inv, addrs)
	var out []report.Check
	for _, a := range addrs {
		s := scans[a]
		file, line := lineOf(inv, a)
		if s.Err != "" {
			c := check(IDBigKeys, report.Error, a, "%s: big-key scan failed: %s", label(inv, a), s.Err)
			c.File, c.Line = file, line
			out = append(out, c)
			continue
		}
		scope := fmt.Sprintf("%d keys scanned", s.Scanned)
		if !s.Complete {
			scope += " (time budget reached; partial)"
		}
		var top []string
		var largest int64
		for _, k := range s.Largest {
			top = append(top, fmt.Sprintf("%q %s", k.Key, bytesText(float64(k.Bytes))))
			largest = max(largest, k.Bytes)
		}
		st := report.Pass
		switch {
		case fail > 0 && largest > fail:
			st = report.Fail
		case warn > 0 && largest > warn:
			st = report.Warn
		}
		msg := fmt.Sprintf("%s: %s, no key over %s", label(inv, a), scope, bytesText(float64(warn)))
		if st != report.Pass {
			msg = fmt.Sprintf("%s: %s; largest: %s (warn over %s, fail over %s)", label(inv, a), scope, strings.Join(top, ", "), bytesText(float64(warn)), bytesText(float64(fail)))
		} else if len(top) > 0 {
			msg += "; largest: " + strings.Join(top, ", ")
		}
		c := report.Check{ID: IDBigKeys, Status: st, Node: a, Message: msg, Observed: largest, Threshold: warn, Unit: "bytes", File: file, Line: line}
		if st == report.Fail {
			c.Threshold = fail
			c.Hint = "split the key, or raise rebalance.big_key_bytes knowing that MIGRATE blocks both nodes while it moves"
		}
		out = append(out, c)
	}
	return out
}

// CheckBackup reports backup.recent per reachable replica: the last
// background save succeeded and is younger than maxAge. Persistence being
// off is reported as a skip that says so.
func CheckBackup(inv *inventory.Inventory, l Live, now time.Time, maxAge time.Duration) []report.Check {
	var out []report.Check
	for _, o := range l.Snap.Reachable() {
		if o.Info["role"] != "slave" {
			continue
		}
		a := o.Addr
		var c report.Check
		save, hasSave := o.Config["save"]
		aof := strings.EqualFold(o.Config["appendonly"], "yes")
		rdbOff := hasSave && strings.TrimSpace(strings.Trim(save, `"`)) == ""
		switch {
		case rdbOff && !aof:
			c = check(IDBackup, report.Skip, a, "%s: persistence is disabled (save \"\", appendonly no): no backup to check", label(inv, a))
		case o.Info["rdb_last_bgsave_status"] != "" && o.Info["rdb_last_bgsave_status"] != "ok":
			c = check(IDBackup, report.Fail, a, "%s: last background save failed (rdb_last_bgsave_status:%s)", label(inv, a), o.Info["rdb_last_bgsave_status"])
			c.Hint = "look at the node's log: a failed save often means a full disk or a failed fork"
		case rdbOff:
			st := o.Info["aof_last_write_status"]
			c = check(IDBackup, report.Pass, a, "%s: RDB snapshots off, append-only file on (aof_last_write_status:%s)", label(inv, a), st)
			if st != "" && st != "ok" {
				c.Status = report.Fail
			}
		default:
			t, ok := infoFloat(o.Info, "rdb_last_save_time")
			if !ok {
				c = check(IDBackup, report.Skip, a, "%s: rdb_last_save_time not reported", label(inv, a))
				break
			}
			age := now.Sub(time.Unix(int64(t), 0)).Round(time.Second)
			c = check(IDBackup, report.Pass, a, "%s: last successful save %s ago (max %s)", label(inv, a), age, maxAge)
			if maxAge > 0 && age > maxAge {
				c.Status = report.Warn
				c.Message = fmt.Sprintf("%s: last successful save %s ago, older than validate.backup_max_age %s", label(inv, a), age, maxAge)
				c.Hint = "take a backup (BGSAVE on the replica) before changing the cluster"
			}
			c.Observed, c.Threshold, c.Unit = age.Seconds(), maxAge.Seconds(), "seconds"
		}
		c.File, c.Line = lineOf(inv, a)
		out = append(out, c)
	}
	return out
}

// CheckPlacement reports replication.placement per master of the live
// cluster that owns slots: at least one replica that is not failing runs
// on another server (inventory server names, not IPs).
func CheckPlacement(inv *inventory.Inventory, l Live) []report.Check {
	if !l.Exists {
		return []report.Check{check(IDPlacement, report.Skip, "", notCreated)}
	}
	var out []report.Check
	for _, m := range l.Masters() {
		if m.Slots.Len() == 0 {
			continue
		}
		ms := serverOf(inv, m.Addr)
		var good, same []string
		for _, r := range l.Replicas() {
			if r.MasterID != m.ID || r.Failing() {
				continue
			}
			rs := serverOf(inv, r.Addr)
			if rs == ms {
				same = append(same, r.Addr+" on "+rs)
			} else {
				good = append(good, r.Addr+" on "+rs)
			}
		}
		var c report.Check
		switch {
		case len(good) > 0:
			c = check(IDPlacement, report.Pass, m.Addr, "master %s on %s has a replica on another server: %s", label(inv, m.Addr), ms, strings.Join(good, ", "))
		case len(same) > 0:
			c = check(IDPlacement, report.Fail, m.Addr, "master %s on %s has replicas only on its own server: %s", label(inv, m.Addr), ms, strings.Join(same, ", "))
			c.Hint = "losing that server loses the slots: make a replica on another server follow it (join applies the inventory's replica_of)"
		default:
			c = check(IDPlacement, report.Fail, m.Addr, "master %s on %s has no working replica", label(inv, m.Addr), ms)
			c.Hint = "attach a replica on another server (slotshift join)"
		}
		c.File, c.Line = lineOf(inv, m.Addr)
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
		c := check(IDReplLink, report.Pass, o.Addr, "%s: link to master %s is up", label(inv, o.Addr), master)
		if st != "up" {
			c = check(IDReplLink, report.Fail, o.Addr, "%s: master_link_status:%s (master %s, down %s s)", label(inv, o.Addr), st, master, o.Info["master_link_down_since_seconds"])
			c.Hint = "check masterauth and that the master is reachable from the replica"
		}
		c.Observed, c.Threshold = st, "up"
		c.File, c.Line = lineOf(inv, o.Addr)
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
			c = check(IDReplLag, report.Error, a, "%s: lag not measured: %s", label(inv, a), x.Err)
		} else {
			v := round1(x.MS)
			c = check(IDReplLag, gateStatus(v, g), a, "%s: replication lag %.1f ms (hold %g ms, abort %g ms)", label(inv, a), v, g.Hold, g.Abort)
			c.Observed, c.Threshold, c.Unit = v, g.Hold, "ms"
		}
		c.File, c.Line = lineOf(inv, a)
		out = append(out, c)
	}
	return out
}

// Latency is one master's PING latency.
type Latency struct {
	AvgMS, P99MS float64
	Samples      int
	Err          string
}

// CheckLatency reports gate.latency_avg and gate.latency_p99 per master.
func CheckLatency(inv *inventory.Inventory, lat map[string]Latency, g inventory.Gates) []report.Check {
	addrs := slices.Sorted(maps.Keys(lat))
	sortByInventory(inv, addrs)
	var out []report.Check
	for _, a := range addrs {
		x := lat[a]
		file, line := lineOf(inv, a)
		if x.Err != "" {
			for _, id := range []string{IDLatencyAvg, IDLatencyP99} {
				c := check(id, report.Error, a, "%s: latency probe failed: %s", label(inv, a), x.Err)
				c.File, c.Line = file, line
				out = append(out, c)
			}
			continue
		}
		avg, p99 := round3(x.AvgMS), round3(x.P99MS)
		ca := check(IDLatencyAvg, gateStatus(avg, g.LatencyAvgMS), a, "%s: average PING latency %.3f ms over %d samples (hold %g ms, abort %g ms)", label(inv, a), avg, x.Samples, g.LatencyAvgMS.Hold, g.LatencyAvgMS.Abort)
		ca.Observed, ca.Threshold, ca.Unit, ca.File, ca.Line = avg, g.LatencyAvgMS.Hold, "ms", file, line
		cp := check(IDLatencyP99, gateStatus(p99, g.LatencyP99MS), a, "%s: p99 PING latency %.3f ms over %d samples (hold %g ms, abort %g ms)", label(inv, a), p99, x.Samples, g.LatencyP99MS.Hold, g.LatencyP99MS.Abort)
		cp.Observed, cp.Threshold, cp.Unit, cp.File, cp.Line = p99, g.LatencyP99MS.Hold, "ms", file, line
		out = append(out, ca, cp)
	}
	return out
}

// CheckInventoryMatch reports inventory.match: every inventory node is a
// member with its declared role and master, and the cluster has no node the
// inventory lacks. One check per node.
func CheckInventoryMatch(inv *inventory.Inventory, l Live) []report.Check {
	if !l.Exists {
		return []report.Check{check(IDInventoryMatch, report.Skip, "", notCreated)}
	}
	var out []report.Check
	for _, r := range inv.Nodes() {
		a := r.Addr()
		n, ok := l.node(a)
		var c report.Check
		switch {
		case !ok || !l.Members[a]:
			c = check(IDInventoryMatch, report.Fail, a, "%s is in the inventory but not in the cluster", label(inv, a))
			c.Hint = "run slotshift join to add it, or remove it from the inventory"
		case r.Role == inventory.RoleMaster && !n.IsMaster():
			c = check(IDInventoryMatch, report.Fail, a, "%s is declared master but is a replica of %s", label(inv, a), peer(l, n.MasterID))
			c.Hint = "a failover may have swapped roles: CLUSTER FAILOVER on the declared master restores them"
		case r.Role == inventory.RoleReplica && !n.IsReplica():
			c = check(IDInventoryMatch, report.Fail, a, "%s is declared replica but is a master with %d slots", label(inv, a), n.Slots.Len())
		case r.Role == inventory.RoleReplica && r.ReplicaOf != "":
			m, known := inv.NodeByName(r.ReplicaOf)
			live := peer(l, n.MasterID)
			if known && live == m.Addr() {
				c = check(IDInventoryMatch, report.Pass, a, "%s is a replica of %s as declared", label(inv, a), label(inv, live))
			} else {
				c = check(IDInventoryMatch, report.Fail, a, "%s follows %s, the inventory says replica_of %s", label(inv, a), label(inv, live), r.ReplicaOf)
				c.Hint = "run slotshift join to re-point replicas as declared"
			}
		default:
			c = check(IDInventoryMatch, report.Pass, a, "%s is a %s as declared", label(inv, a), r.Role)
		}
		c.File, c.Line = r.File, r.Line
		out = append(out, c)
	}
	for _, a := range l.memberAddrs() {
		if _, ok := inv.NodeByAddr(a); ok {
			continue
		}
		n, _ := l.node(a)
		c := check(IDInventoryMatch, report.Fail, a, "%s (id %s) is in the cluster but not in the inventory", a, n.ID)
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
		return []report.Check{check(IDDistribution, report.Skip, "", notCreated)}
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
		c := check(IDDistribution, st, t.Addr, "%s owns %d slots, target %d (%.1f%% off; threshold %g%%)", label(inv, t.Addr), t.Current, t.Target, dev, thresholdPct)
		if st == report.Fail {
			c.Hint = "run slotshift rebalance"
		}
		c.Observed, c.Threshold, c.Unit = t.Current, t.Target, "slots"
		c.File, c.Line = lineOf(inv, t.Addr)
		out = append(out, c)
	}
	return out
}

// CanaryResult is what the canary write/read did on one master.
type CanaryResult struct {
	Key string
	Err string
	// Duration is SET + GET + DEL wall time.
	Duration time.Duration
}

// CheckCanary reports canary.write_read per master.
func CheckCanary(inv *inventory.Inventory, res map[string]CanaryResult) []report.Check {
	addrs := slices.Sorted(maps.Keys(res))
	sortByInventory(inv, addrs)
	var out []report.Check
	for _, a := range addrs {
		r := res[a]
		c := check(IDCanary, report.Pass, a, "%s: wrote, read back and deleted %q (slot %d) through the cluster client in %s", label(inv, a), r.Key, cluster.KeySlot(r.Key), r.Duration.Round(time.Microsecond))
		if r.Err != "" {
			c = check(IDCanary, report.Fail, a, "%s: canary %q (slot %d): %s", label(inv, a), r.Key, cluster.KeySlot(r.Key), r.Err)
		}
		c.Duration = report.SecondsOf(r.Duration)
		c.File, c.Line = lineOf(inv, a)
		out = append(out, c)
	}
	return out
}

func sortedInts(m map[int]string) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// bytesText formats a byte count for people (binary units).
func bytesText(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	}
	return fmt.Sprintf("%.0f B", b)
}
