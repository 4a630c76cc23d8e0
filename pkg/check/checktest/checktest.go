// Package checktest fabricates inventories and cluster snapshots for the
// table tests of checks, and asserts on the checks they produce; it does
// no I/O.
package checktest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/plan"
	"github.com/slotshift/slotshift/pkg/report"
)

// CrossYAML renders an inventory of len(ports)/2 servers named server1…,
// all on 127.0.0.1. Server s runs master ports[s] and replica ports[m+s],
// which follows the master of server (s+1)%m: exactly what
// sandboxtest.Form builds (replica j follows master (j+1)%m), with each
// replica on another server than its master. extra is appended verbatim.
func CrossYAML(ports []int, extra string) string {
	m := len(ports) / 2
	var b strings.Builder
	b.WriteString("version: 1\ncluster:\n  name: test\n  node_timeout_ms: 1000\nservers:\n")
	for s := range m {
		fmt.Fprintf(&b, "  - name: server%d\n    address: 127.0.0.1\n    nodes:\n", s+1)
		fmt.Fprintf(&b, "      - {port: %d, role: master}\n", ports[s])
		fmt.Fprintf(&b, "      - {port: %d, role: replica, replica_of: \"server%d:%d\"}\n", ports[m+s], (s+1)%m+1, ports[(s+1)%m])
	}
	b.WriteString(extra)
	return b.String()
}

// ParseInv parses inventory text, failing the test on error.
func ParseInv(t testing.TB, text string) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Parse("inventory.yml", []byte(text))
	if err != nil {
		t.Fatalf("parse inventory: %v\n%s", err, text)
	}
	return inv
}

// Find returns the checks with id (and node, when node != "").
func Find(checks []report.Check, id, node string) []report.Check {
	var out []report.Check
	for _, c := range checks {
		if c.ID == id && (node == "" || c.Node == node) {
			out = append(out, c)
		}
	}
	return out
}

// Want asserts that exactly one check has id and node, with status st and
// a message containing every part; it returns the check.
func Want(t testing.TB, checks []report.Check, id, node string, st report.Status, parts ...string) report.Check {
	t.Helper()
	got := Find(checks, id, node)
	if len(got) != 1 {
		t.Fatalf("want one %s check for node %q, got %d: %+v", id, node, len(got), got)
	}
	c := got[0]
	if c.Status != st {
		t.Errorf("%s %s: status %s, want %s: %s", id, node, c.Status, st, c.Message)
	}
	for _, p := range parts {
		if !strings.Contains(c.Message, p) {
			t.Errorf("%s %s: message %q lacks %q", id, node, c.Message, p)
		}
	}
	return c
}

// Node is one line of a fabricated CLUSTER NODES.
type Node struct {
	ID, Addr, Flags, Master, Slots string
}

// Fake fabricates snapshots of a healthy cluster laid out as an inventory
// says: masters in inventory order with redis-cli's even split, replicas
// following their replica_of. Tests edit Nodes, then call Snap and edit
// the observations.
type Fake struct {
	Inv   *inventory.Inventory
	Nodes []Node
}

// ID is the node id the fake gives the i-th inventory node.
func ID(i int) string { return fmt.Sprintf("%040x", i+1) }

// NewFake lays out inv as a healthy cluster.
func NewFake(t testing.TB, inv *inventory.Inventory) *Fake {
	t.Helper()
	f := &Fake{Inv: inv}
	refs := inv.Nodes()
	idOf := map[string]string{}
	for i, r := range refs {
		idOf[r.Name()] = ID(i)
	}
	var masterIDs []string
	for _, r := range inv.Masters() {
		masterIDs = append(masterIDs, idOf[r.Name()])
	}
	ranges, err := plan.Create(masterIDs)
	if err != nil {
		t.Fatal(err)
	}
	mi := 0
	for i, r := range refs {
		n := Node{ID: ID(i), Addr: r.Addr()}
		if r.Role == inventory.RoleMaster {
			n.Flags, n.Master, n.Slots = "master", "-", ranges[mi].String()
			mi++
		} else {
			n.Flags, n.Master = "slave", idOf[r.ReplicaOf]
		}
		f.Nodes = append(f.Nodes, n)
	}
	return f
}

// Idx is the index of the node at addr.
func (f *Fake) Idx(addr string) int {
	for i, n := range f.Nodes {
		if n.Addr == addr {
			return i
		}
	}
	panic("fake: no node " + addr)
}

// Text renders the CLUSTER NODES that node self prints.
func (f *Fake) Text(self int) string {
	var b strings.Builder
	for i, n := range f.Nodes {
		flags := n.Flags
		if i == self {
			flags = "myself," + flags
		}
		_, port, _ := strings.Cut(n.Addr, ":")
		p, _ := strconv.Atoi(port)
		fmt.Fprintf(&b, "%s %s@%d %s %s 0 0 %d connected %s\n", n.ID, n.Addr, p+10000, flags, n.Master, i+1, n.Slots)
	}
	return b.String()
}

// Snap builds the snapshot: every node sees the same lines, reports Redis
// 7.0.15, cluster_state ok and the inventory's node timeout.
func (f *Fake) Snap(t testing.TB) *cluster.Snapshot {
	t.Helper()
	s := &cluster.Snapshot{Taken: time.Unix(1_700_000_000, 0), Nodes: map[string]*cluster.Observation{}}
	for i, n := range f.Nodes {
		nodes, err := cluster.ParseNodes(f.Text(i))
		if err != nil {
			t.Fatalf("fake CLUSTER NODES: %v", err)
		}
		role := "master"
		if strings.Contains(n.Flags, "slave") {
			role = "slave"
		}
		s.Nodes[n.Addr] = &cluster.Observation{
			Addr: n.Addr, ID: n.ID, Nodes: nodes,
			ClusterInfo: map[string]string{"cluster_state": "ok", "cluster_known_nodes": strconv.Itoa(len(f.Nodes)), "cluster_slots_ok": "16384"},
			Info: map[string]string{
				"redis_version": "7.0.15", "cluster_enabled": "1", "role": role,
				"used_memory": "2000000", "used_memory_dataset": "1000000", "maxmemory": "0",
				"total_system_memory": "8000000000", "master_link_status": "up",
				"rdb_last_bgsave_status": "ok", "rdb_last_save_time": "1699999000",
			},
			Config: map[string]string{
				"cluster-node-timeout": strconv.Itoa(f.Inv.Cluster.NodeTimeoutMS), "maxmemory": "0",
				"maxmemory-policy": "noeviction", "appendonly": "no", "save": "",
			},
		}
	}
	return s
}

// EmptySnap fabricates nodes that were never joined: each knows only itself.
func EmptySnap(t testing.TB, inv *inventory.Inventory) *cluster.Snapshot {
	f := NewFake(t, inv)
	s := &cluster.Snapshot{Nodes: map[string]*cluster.Observation{}}
	for i, n := range f.Nodes {
		line := fmt.Sprintf("%s %s@1 myself,master - 0 0 0 connected\n", n.ID, n.Addr)
		nodes, err := cluster.ParseNodes(line)
		if err != nil {
			t.Fatal(err)
		}
		s.Nodes[n.Addr] = &cluster.Observation{
			Addr: n.Addr, ID: ID(i), Nodes: nodes,
			ClusterInfo: map[string]string{"cluster_state": "fail", "cluster_known_nodes": "1"},
			Info:        map[string]string{"redis_version": "7.0.15", "cluster_enabled": "1", "role": "master"},
			Config:      map[string]string{},
		}
	}
	return s
}
