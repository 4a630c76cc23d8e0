package check

import (
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/check/checktest"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/measure"
	"github.com/slotshift/slotshift/pkg/report"
)

var fakePorts = []int{7000, 7002, 7004, 7001, 7003, 7005}

func fakeInv(t *testing.T, extra string) *inventory.Inventory {
	return checktest.ParseInv(t, checktest.CrossYAML(fakePorts, extra))
}

func TestHealthyFakePassesEveryCheck(t *testing.T) {
	inv := fakeInv(t, "")
	l := NewLive(checktest.NewFake(t, inv).Snap(t))
	if !l.Exists || len(l.Members) != 6 {
		t.Fatalf("live: exists %v, %d members", l.Exists, len(l.Members))
	}
	var checks []report.Check
	checks = append(checks, HealthChecks(inv, l)...)
	checks = append(checks, CheckVersion(inv, l))
	checks = append(checks, CheckConfigDrift(inv, l)...)
	checks = append(checks, CheckClusterEnabled(inv, l)...)
	checks = append(checks, CheckPlacement(inv, l)...)
	checks = append(checks, CheckReplLink(inv, l)...)
	checks = append(checks, CheckInventoryMatch(inv, l)...)
	checks = append(checks, CheckNewEmpty(inv, l)...)
	checks = append(checks, CheckMemory(inv, l, inv.Gates.MemoryPercent)...)
	for _, c := range checks {
		if c.Status != report.Pass {
			t.Errorf("%s %s: %s: %s", c.ID, c.Node, c.Status, c.Message)
		}
	}
	// Every per-node check names its node: 6 state, 6 open, 6 failed.
	for _, id := range []string{IDClusterState, IDSlotsOpen, IDNodeFailed, IDConfigDrift, IDInventoryMatch} {
		if n := len(checktest.Find(checks, id, "")); n != 6 {
			t.Errorf("%s: %d checks, want one per node (6)", id, n)
		}
	}
	if n := len(checktest.Find(checks, IDPlacement, "")); n != 3 {
		t.Errorf("placement: %d checks, want one per master (3)", n)
	}
	if len(checktest.Find(checks, IDNewEmpty, "")) != 0 {
		t.Errorf("no node is new, yet node.new_empty ran")
	}
	checktest.Want(t, checks, IDSlotsCoverage, "", report.Pass, "all 16384 slots")
}

// TestProbed: every master is probed, sorted, and every replica is mapped
// to the address of the master whose ID it replicates; a replica whose
// master is not in the view is left out.
func TestProbed(t *testing.T) {
	l := NewLive(checktest.NewFake(t, fakeInv(t, "")).Snap(t))
	masters, replicas := l.Probed()
	if want := []string{"127.0.0.1:7000", "127.0.0.1:7002", "127.0.0.1:7004"}; strings.Join(masters, ",") != strings.Join(want, ",") {
		t.Fatalf("masters %v, want %v", masters, want)
	}
	if len(replicas) != 3 {
		t.Fatalf("replicas %v, want the 3 of the view", replicas)
	}
	for rep, master := range replicas {
		r, _ := l.Node(rep)
		m, _ := l.Node(master)
		if !r.IsReplica() || r.MasterID == "" || r.MasterID != m.ID {
			t.Errorf("replica %s (master id %q) mapped to %s (id %q)", rep, r.MasterID, master, m.ID)
		}
	}
	var gone string
	for i, n := range l.View {
		if n.Addr == "127.0.0.1:7002" {
			gone = n.ID
			l.View = append(l.View[:i:i], l.View[i+1:]...)
			break
		}
	}
	_, replicas = l.Probed()
	for rep := range replicas {
		if r, _ := l.Node(rep); r.MasterID == gone {
			t.Errorf("replica %s of a master not in the view is probed", rep)
		}
	}
	if len(replicas) != 2 {
		t.Errorf("replicas %v, want the 2 whose masters are in the view", replicas)
	}
}

func TestVersionDrift(t *testing.T) {
	inv := fakeInv(t, "")
	s := checktest.NewFake(t, inv).Snap(t)
	s.Nodes["127.0.0.1:7003"].Info["redis_version"] = "7.2.4"
	c := CheckVersion(inv, NewLive(s))
	if c.Status != report.Fail {
		t.Fatalf("status %s: %s", c.Status, c.Message)
	}
	for _, p := range []string{"7.2.4 on 127.0.0.1:7003 (server2:7003)", "7.0.15 on"} {
		if !strings.Contains(c.Message, p) {
			t.Errorf("message %q lacks %q", c.Message, p)
		}
	}
}

// TestVersionValkey: Valkey 8+ reports redis_version:7.2.4 whatever its own
// version, so two Valkey versions with the same redis_version differ, one
// Valkey version everywhere passes, and Redis 7.2.4 is not Valkey.
func TestVersionValkey(t *testing.T) {
	inv := fakeInv(t, "")
	s := checktest.NewFake(t, inv).Snap(t)
	for _, o := range s.Nodes {
		o.Info["redis_version"], o.Info["server_name"], o.Info["valkey_version"] = "7.2.4", "valkey", "9.1.0"
	}
	c := CheckVersion(inv, NewLive(s))
	if c.Status != report.Pass || c.Message != "every node runs Valkey 9.1.0" || c.Observed != "Valkey 9.1.0" {
		t.Errorf("same Valkey everywhere: %s %q observed %v", c.Status, c.Message, c.Observed)
	}
	s.Nodes["127.0.0.1:7003"].Info["valkey_version"] = "9.0.4"
	c = CheckVersion(inv, NewLive(s))
	if c.Status != report.Fail || !strings.Contains(c.Message, "Valkey 9.0.4 on 127.0.0.1:7003") {
		t.Errorf("Valkey 9.0.4 among 9.1.0: %s %q", c.Status, c.Message)
	}
	s.Nodes["127.0.0.1:7003"].Info["valkey_version"] = "9.1.0"
	delete(s.Nodes["127.0.0.1:7003"].Info, "server_name")
	delete(s.Nodes["127.0.0.1:7003"].Info, "valkey_version")
	c = CheckVersion(inv, NewLive(s))
	if c.Status != report.Fail || !strings.Contains(c.Message, "7.2.4 on 127.0.0.1:7003") || !strings.Contains(c.Message, "server versions differ") {
		t.Errorf("Redis 7.2.4 among Valkey 9.1.0: %s %q", c.Status, c.Message)
	}
}

func TestConfigDriftAgainstPeersAndInventory(t *testing.T) {
	inv := checktest.ParseInv(t, strings.Replace(checktest.CrossYAML(fakePorts, ""), "  node_timeout_ms: 1000\n", "  node_timeout_ms: 1000\n  redis_config: {maxmemory: 4gb, maxmemory-policy: allkeys-lru}\n", 1))
	s := checktest.NewFake(t, inv).Snap(t)
	for _, o := range s.Nodes {
		o.Config["maxmemory"] = "4294967296" // 4gb as CONFIG GET prints it
		o.Config["maxmemory-policy"] = "allkeys-lru"
	}
	s.Nodes["127.0.0.1:7002"].Config["maxmemory"] = "1073741824"
	s.Nodes["127.0.0.1:7005"].Config["cluster-node-timeout"] = "5000"
	checks := CheckConfigDrift(inv, NewLive(s))
	checktest.Want(t, checks, IDConfigDrift, "127.0.0.1:7002", report.Fail, "maxmemory", "1073741824", "4gb")
	checktest.Want(t, checks, IDConfigDrift, "127.0.0.1:7005", report.Fail, "cluster-node-timeout", "5000", "1000")
	checktest.Want(t, checks, IDConfigDrift, "127.0.0.1:7000", report.Pass)
}

func TestNormConfig(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"4gb", "4294967296"}, {"1g", "1000000000"}, {"100mb", "104857600"}, {"YES", "yes"}, {`"3600 1"`, "3600 1"},
	} {
		if normConfig(tc.a) != normConfig(tc.b) {
			t.Errorf("normConfig(%q)=%q != normConfig(%q)=%q", tc.a, normConfig(tc.a), tc.b, normConfig(tc.b))
		}
	}
	if normConfig("4gb") == normConfig("4g") {
		t.Error("4gb and 4g must differ (1024³ vs 10⁹)")
	}
}

func TestNotCreatedSkipsHealthAndAcceptsEmptyNodes(t *testing.T) {
	inv := fakeInv(t, "")
	s := checktest.EmptySnap(t, inv)
	l := NewLive(s)
	if l.Exists {
		t.Fatal("six lone empty nodes must read as a cluster not created yet")
	}
	for _, c := range HealthChecks(inv, l) {
		if c.Status != report.Skip || c.Message != NotCreated {
			t.Errorf("%s: %s %q, want skip %q", c.ID, c.Status, c.Message, NotCreated)
		}
	}
	checks := CheckNewEmpty(inv, l)
	if len(checks) != 6 {
		t.Fatalf("%d node.new_empty checks, want 6", len(checks))
	}
	for _, c := range checks {
		if c.Status != report.Pass || c.Line == 0 {
			t.Errorf("%s: %s %q line %d", c.Node, c.Status, c.Message, c.Line)
		}
	}
	// A node with keys or that knows another cluster is not empty.
	s.Nodes["127.0.0.1:7004"].Info["db0"] = "keys=12,expires=0,avg_ttl=0"
	s.Nodes["127.0.0.1:7001"].ClusterInfo["cluster_known_nodes"] = "1"
	s.Nodes["127.0.0.1:7003"].ClusterInfo["cluster_known_nodes"] = "4"
	checks = CheckNewEmpty(inv, NewLive(s))
	checktest.Want(t, checks, IDNewEmpty, "127.0.0.1:7004", report.Fail, "127.0.0.1:7004", "12 keys")
	checktest.Want(t, checks, IDNewEmpty, "127.0.0.1:7003", report.Fail, "knows 4 nodes")
	checktest.Want(t, checks, IDNewEmpty, "127.0.0.1:7001", report.Pass)
}

func TestOpenSlotsFailedNodesAndCoverage(t *testing.T) {
	inv := fakeInv(t, "")
	f := checktest.NewFake(t, inv)
	m0, m1, m2 := f.Idx("127.0.0.1:7000"), f.Idx("127.0.0.1:7002"), f.Idx("127.0.0.1:7004")
	f.Nodes[m0].Slots += " [42->-" + f.Nodes[m1].ID + "]"
	f.Nodes[m1].Slots += " [42-<-" + f.Nodes[m0].ID + "]"
	f.Nodes[f.Idx("127.0.0.1:7003")].Flags = "slave,fail?"
	f.Nodes[m2].Slots = "10923-16382" // slot 16383 unowned
	l := NewLive(f.Snap(t))
	checks := HealthChecks(inv, l)
	checktest.Want(t, checks, IDSlotsOpen, "127.0.0.1:7000", report.Fail, "slot 42 migrating to 127.0.0.1:7002")
	checktest.Want(t, checks, IDSlotsOpen, "127.0.0.1:7002", report.Fail, "slot 42 importing from 127.0.0.1:7000")
	checktest.Want(t, checks, IDSlotsOpen, "127.0.0.1:7004", report.Pass)
	checktest.Want(t, checks, IDNodeFailed, "127.0.0.1:7003", report.Fail, "fail? by 127.0.0.1:7000")
	c := checktest.Want(t, checks, IDSlotsCoverage, "", report.Fail, "16383 of 16384", "unowned: 16383")
	if c.Observed != 16383 {
		t.Errorf("observed %v, want 16383", c.Observed)
	}
}

func TestAgreement(t *testing.T) {
	inv := fakeInv(t, "")
	f := checktest.NewFake(t, inv)
	s := f.Snap(t)
	f.Nodes[f.Idx("127.0.0.1:7000")].Slots, f.Nodes[f.Idx("127.0.0.1:7002")].Slots = "0-5459", "5460-10922"
	other, _ := cluster.ParseNodes(f.Text(f.Idx("127.0.0.1:7005")))
	s.Nodes["127.0.0.1:7005"].Nodes = other
	c := CheckAgreement(inv, NewLive(s))
	if c.Status != report.Fail || !strings.Contains(c.Message, "127.0.0.1:7005 (server3:7005)") {
		t.Errorf("agreement: %s %q", c.Status, c.Message)
	}
}

func TestPlacementByServerName(t *testing.T) {
	// Same live cluster, but the inventory puts every replica on the server
	// of the master it follows (server2 holds 7002 and its replica 7001 …).
	text := `version: 1
cluster: {name: test, node_timeout_ms: 1000}
servers:
  - name: server1
    address: 127.0.0.1
    nodes: [{port: 7000, role: master}, {port: 7005, role: replica}]
  - name: server2
    address: 127.0.0.1
    nodes: [{port: 7002, role: master}, {port: 7001, role: replica}]
  - name: server3
    address: 127.0.0.1
    nodes: [{port: 7004, role: master}, {port: 7003, role: replica}]
`
	bad := checktest.ParseInv(t, text)
	live := NewLive(checktest.NewFake(t, fakeInv(t, "")).Snap(t))
	checks := CheckPlacement(bad, live)
	checktest.Want(t, checks, IDPlacement, "127.0.0.1:7002", report.Fail, "server2", "127.0.0.1:7001 on server2")
	// The inventory declares replicas without replica_of; roles match.
	for _, c := range CheckInventoryMatch(bad, live) {
		if c.Status != report.Pass {
			t.Errorf("inventory.match %s: %s", c.Node, c.Message)
		}
	}
}

func TestInventoryMatch(t *testing.T) {
	inv := fakeInv(t, "")
	f := checktest.NewFake(t, inv)
	f.Nodes[f.Idx("127.0.0.1:7001")].Master = f.Nodes[f.Idx("127.0.0.1:7004")].ID                                        // 7001 follows 7004, inventory says server2:7002
	f.Nodes = append(f.Nodes, checktest.Node{ID: checktest.ID(9), Addr: "127.0.0.1:7010", Flags: "master", Master: "-"}) // unknown
	r5 := f.Idx("127.0.0.1:7005")
	f.Nodes[r5].Flags, f.Nodes[r5].Master, f.Nodes[r5].Slots = "master", "-", "" // declared replica
	checks := CheckInventoryMatch(inv, NewLive(f.Snap(t)))
	checktest.Want(t, checks, IDInventoryMatch, "127.0.0.1:7001", report.Fail, "follows 127.0.0.1:7004", "replica_of server2:7002")
	checktest.Want(t, checks, IDInventoryMatch, "127.0.0.1:7010", report.Fail, "not in the inventory")
	checktest.Want(t, checks, IDInventoryMatch, "127.0.0.1:7005", report.Fail, "declared replica but is a master")
	checktest.Want(t, checks, IDInventoryMatch, "127.0.0.1:7003", report.Pass, "as declared")
}

func TestBackup(t *testing.T) {
	inv := fakeInv(t, "")
	s := checktest.NewFake(t, inv).Snap(t)
	now := time.Unix(1_700_000_000, 0)
	for _, o := range s.Nodes {
		o.Config["save"] = "3600 1"
	}
	s.Nodes["127.0.0.1:7001"].Config["save"] = ""                       // persistence off
	s.Nodes["127.0.0.1:7003"].Info["rdb_last_save_time"] = "1699000000" // ~11.6 days
	s.Nodes["127.0.0.1:7005"].Info["rdb_last_bgsave_status"] = "err"
	checks := CheckBackup(inv, NewLive(s), now, 24*time.Hour)
	if len(checks) != 3 {
		t.Fatalf("%d backup checks, want one per replica", len(checks))
	}
	checktest.Want(t, checks, IDBackup, "127.0.0.1:7001", report.Skip, "persistence is disabled")
	checktest.Want(t, checks, IDBackup, "127.0.0.1:7003", report.Warn, "older than validate.backup_max_age")
	checktest.Want(t, checks, IDBackup, "127.0.0.1:7005", report.Fail, "rdb_last_bgsave_status:err")
	s.Nodes["127.0.0.1:7003"].Info["rdb_last_save_time"] = "1699999000"
	checktest.Want(t, CheckBackup(inv, NewLive(s), now, 24*time.Hour), IDBackup, "127.0.0.1:7003", report.Pass, "16m40s ago")
}

func TestBigKeysThresholds(t *testing.T) {
	inv := fakeInv(t, "")
	scans := map[string]BigKeyScan{
		"127.0.0.1:7000": {Complete: true, Scanned: 10, Largest: []BigKey{{"small", 100}}},
		"127.0.0.1:7002": {Complete: true, Scanned: 10, Largest: []BigKey{{"big", 11 << 20}}},
		"127.0.0.1:7004": {Complete: false, Scanned: 10, Largest: []BigKey{{"huge", 200_000_000}}},
	}
	checks := CheckBigKeys(inv, scans, 10_000_000, 100_000_000)
	checktest.Want(t, checks, IDBigKeys, "127.0.0.1:7000", report.Pass)
	checktest.Want(t, checks, IDBigKeys, "127.0.0.1:7002", report.Warn, `"big" 11.0 MiB`)
	c := checktest.Want(t, checks, IDBigKeys, "127.0.0.1:7004", report.Fail, `"huge"`, "partial")
	if c.Observed != int64(200_000_000) || c.Threshold != int64(100_000_000) {
		t.Errorf("observed %v threshold %v", c.Observed, c.Threshold)
	}
}

func TestBigKeyScanKeepsTheLargest(t *testing.T) {
	var s BigKeyScan
	for i, n := range []int64{5, 1, 9, 3, 7, 2, 8} {
		s.Add(BigKey{Key: string(rune('a' + i)), Bytes: n})
	}
	var got []int64
	for _, k := range s.Largest {
		got = append(got, k.Bytes)
	}
	if len(got) != 5 || got[0] != 9 || got[1] != 8 || got[4] != 3 {
		t.Errorf("top = %v, want [9 8 7 5 3]", got)
	}
	if s.Scanned != 7 {
		t.Errorf("scanned %d, want 7", s.Scanned)
	}
}

func TestGateChecks(t *testing.T) {
	inv := fakeInv(t, "")
	g := inv.Gates
	checks := CheckLatency(inv, map[string]Latency{
		"127.0.0.1:7000": {Latency: measure.Latency{AvgMS: 0.1, P99MS: 0.3, Samples: 200}},
		"127.0.0.1:7002": {Latency: measure.Latency{AvgMS: 6, P99MS: 250, Samples: 200}},
		"127.0.0.1:7004": {Err: "PING: connection refused"},
	}, g)
	checktest.Want(t, checks, IDLatencyAvg, "127.0.0.1:7000", report.Pass)
	checktest.Want(t, checks, IDLatencyAvg, "127.0.0.1:7002", report.Warn, "6.000 ms")
	checktest.Want(t, checks, IDLatencyP99, "127.0.0.1:7002", report.Fail, "250.000 ms")
	checktest.Want(t, checks, IDLatencyP99, "127.0.0.1:7004", report.Error, "latency probe failed: PING: connection refused")
	cpu := CheckCPU(inv, map[string]float64{"127.0.0.1:7004": 96}, g.CPUPercent)
	c := checktest.Want(t, cpu, IDGateCPU, "127.0.0.1:7004", report.Fail, "96.0%")
	if c.Unit != "percent" || c.Threshold != g.CPUPercent.Hold {
		t.Errorf("cpu check %+v", c)
	}
	lag := CheckReplLag(inv, map[string]Lag{"127.0.0.1:7001": {MS: 700}}, g.ReplicationLagMS)
	checktest.Want(t, lag, IDReplLag, "127.0.0.1:7001", report.Warn, "700.0 ms")
}

func TestHeadroom(t *testing.T) {
	inv := fakeInv(t, "")
	s := checktest.NewFake(t, inv).Snap(t)
	for _, o := range s.Nodes {
		o.Info["maxmemory"] = "100000000"
	}
	// Each giver holds 60 MB in 5461 slots; a new master receiving 4096
	// slots gets ~45 MB on top of its 40 MB: 85% > 80%.
	for _, a := range []string{"127.0.0.1:7000", "127.0.0.1:7002", "127.0.0.1:7004"} {
		s.Nodes[a].Info["used_memory_dataset"] = "60000000"
	}
	s.Nodes["127.0.0.1:7001"].Info["used_memory"] = "40000000"
	targets := []Receive{
		{Addr: "127.0.0.1:7000", Current: 5461, Target: 4096},
		{Addr: "127.0.0.1:7002", Current: 5462, Target: 4096},
		{Addr: "127.0.0.1:7004", Current: 5461, Target: 4096},
		{Addr: "127.0.0.1:7001", Current: 0, Target: 4096},
	}
	checks := CheckHeadroom(inv, NewLive(s), targets, inv.Gates.MemoryPercent)
	if len(checks) != 1 {
		t.Fatalf("%d headroom checks, want one per receiver: %+v", len(checks), checks)
	}
	c := checktest.Want(t, checks, IDMemoryHeadroom, "127.0.0.1:7001", report.Fail, "receives 4096 slots")
	if v, _ := c.Observed.(float64); v < 84 || v > 86 {
		t.Errorf("projected %v%%, want about 85%%", c.Observed)
	}
}

func TestCanaryKeyHitsTheMaster(t *testing.T) {
	for _, r := range []cluster.Range{{Start: 0, End: 5460}, {Start: 16383, End: 16383}, {Start: 7000, End: 7001}} {
		s := cluster.NewSlotSet(r)
		k, ok := CanaryKey(&s)
		if !ok || !s.Has(cluster.KeySlot(k)) {
			t.Errorf("CanaryKey(%v) = %q (slot %d), ok %v", r, k, cluster.KeySlot(k), ok)
		}
	}
	var empty cluster.SlotSet
	if _, ok := CanaryKey(&empty); ok {
		t.Error("CanaryKey of no slots must fail")
	}
}

func TestFailed(t *testing.T) {
	var in []report.Check
	for _, st := range []report.Status{report.Pass, report.Fail, report.Warn, report.Error, report.Skip, report.Hold} {
		in = append(in, report.Check{ID: string(st), Status: st})
	}
	got := Failed(in)
	if len(got) != 2 || got[0].Status != report.Fail || got[1].Status != report.Error {
		t.Errorf("Failed = %+v, want the fail and the error check", got)
	}
}
