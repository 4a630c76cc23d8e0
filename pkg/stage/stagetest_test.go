package stage

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/plan"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// crossYAML renders the inventory of the cluster sandboxtest.Form builds
// from ports with len(ports)/2 masters; extra is appended verbatim.
func crossYAML(ports []int, extra string) string {
	return sandboxtest.CrossInventory(ports, len(ports)/2, sandboxtest.InventoryOptions{Extra: extra})
}

// parseInv parses inventory text, failing the test on error.
func parseInv(t testing.TB, text string) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Parse("inventory.yml", []byte(text))
	if err != nil {
		t.Fatalf("parse inventory: %v\n%s", err, text)
	}
	return inv
}

// ports returns the harness cluster's ports in node order.
func ports(c *sandboxtest.Cluster) []int { return c.Ports() }

// harnessEnv is an Env for a harness cluster and an inventory.
func harnessEnv(t testing.TB, inv *inventory.Inventory, password string) Env {
	return Env{
		Inventory: inv,
		Secrets:   Secrets{Password: password},
		Log:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startCross starts and forms a 3+3 harness cluster and returns it with its
// inventory.
func startCross(t testing.TB) (*sandboxtest.Cluster, *inventory.Inventory) {
	t.Helper()
	c := sandboxtest.Start(t, 6, sandboxtest.Options{NodeTimeoutMS: 1000})
	c.Form(t, 3)
	return c, parseInv(t, crossYAML(ports(c), ""))
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// find returns the checks with id (and node, when node != "").
func find(checks []report.Check, id, node string) []report.Check {
	var out []report.Check
	for _, c := range checks {
		if c.ID == id && (node == "" || c.Node == node) {
			out = append(out, c)
		}
	}
	return out
}

// want asserts that exactly one check has id and node, with status st and
// a message containing every part; it returns the check.
func want(t testing.TB, checks []report.Check, id, node string, st report.Status, parts ...string) report.Check {
	t.Helper()
	got := find(checks, id, node)
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

// failures lists the fail and error checks.
func failures(checks []report.Check) []report.Check {
	var out []report.Check
	for _, c := range checks {
		if c.Status == report.Fail || c.Status == report.Error {
			out = append(out, c)
		}
	}
	return out
}

// fakeNode is one line of a fabricated CLUSTER NODES.
type fakeNode struct {
	ID, Addr, Flags, Master, Slots string
}

// fake fabricates snapshots of a healthy cluster laid out as an inventory
// says: masters in inventory order with redis-cli's even split, replicas
// following their replica_of. Tests edit nodes, then call snap and edit
// the observations.
type fake struct {
	inv   *inventory.Inventory
	nodes []fakeNode
}

func fakeID(i int) string { return fmt.Sprintf("%040x", i+1) }

func newFake(t testing.TB, inv *inventory.Inventory) *fake {
	t.Helper()
	f := &fake{inv: inv}
	refs := inv.Nodes()
	idOf := map[string]string{}
	for i, r := range refs {
		idOf[r.Name()] = fakeID(i)
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
		n := fakeNode{ID: fakeID(i), Addr: r.Addr()}
		if r.Role == inventory.RoleMaster {
			n.Flags, n.Master, n.Slots = "master", "-", ranges[mi].String()
			mi++
		} else {
			n.Flags, n.Master = "slave", idOf[r.ReplicaOf]
		}
		f.nodes = append(f.nodes, n)
	}
	return f
}

// idx is the index of the node at addr.
func (f *fake) idx(addr string) int {
	for i, n := range f.nodes {
		if n.Addr == addr {
			return i
		}
	}
	panic("fake: no node " + addr)
}

// text renders the CLUSTER NODES that node self prints.
func (f *fake) text(self int) string {
	var b strings.Builder
	for i, n := range f.nodes {
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

// snap builds the snapshot: every node sees the same lines, reports Redis
// 7.0.15, cluster_state ok and the inventory's node timeout.
func (f *fake) snap(t testing.TB) *cluster.Snapshot {
	t.Helper()
	s := &cluster.Snapshot{Taken: time.Unix(1_700_000_000, 0), Nodes: map[string]*cluster.Observation{}}
	for i, n := range f.nodes {
		nodes, err := cluster.ParseNodes(f.text(i))
		if err != nil {
			t.Fatalf("fake CLUSTER NODES: %v", err)
		}
		role := "master"
		if strings.Contains(n.Flags, "slave") {
			role = "slave"
		}
		s.Nodes[n.Addr] = &cluster.Observation{
			Addr: n.Addr, ID: n.ID, Nodes: nodes,
			ClusterInfo: map[string]string{"cluster_state": "ok", "cluster_known_nodes": strconv.Itoa(len(f.nodes)), "cluster_slots_ok": "16384"},
			Info: map[string]string{
				"redis_version": "7.0.15", "cluster_enabled": "1", "role": role,
				"used_memory": "2000000", "used_memory_dataset": "1000000", "maxmemory": "0",
				"total_system_memory": "8000000000", "master_link_status": "up",
				"rdb_last_bgsave_status": "ok", "rdb_last_save_time": "1699999000",
			},
			Config: map[string]string{
				"cluster-node-timeout": strconv.Itoa(f.inv.Cluster.NodeTimeoutMS), "maxmemory": "0",
				"maxmemory-policy": "noeviction", "appendonly": "no", "save": "",
			},
		}
	}
	return s
}

// emptySnap fabricates nodes that were never joined: each knows only itself.
func emptySnap(t testing.TB, inv *inventory.Inventory) *cluster.Snapshot {
	f := newFake(t, inv)
	s := &cluster.Snapshot{Nodes: map[string]*cluster.Observation{}}
	for i, n := range f.nodes {
		line := fmt.Sprintf("%s %s@1 myself,master - 0 0 0 connected\n", n.ID, n.Addr)
		nodes, err := cluster.ParseNodes(line)
		if err != nil {
			t.Fatal(err)
		}
		s.Nodes[n.Addr] = &cluster.Observation{
			Addr: n.Addr, ID: fakeID(i), Nodes: nodes,
			ClusterInfo: map[string]string{"cluster_state": "fail", "cluster_known_nodes": "1"},
			Info:        map[string]string{"redis_version": "7.0.15", "cluster_enabled": "1", "role": "master"},
			Config:      map[string]string{},
		}
	}
	return s
}
