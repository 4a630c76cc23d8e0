package admin_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

func newPool(t *testing.T, password string) *admin.Pool {
	t.Helper()
	p := admin.NewPool(admin.Options{Password: password, PasswordEnv: "SLOTSHIFT_PASSWORD", DialTimeout: time.Second})
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestObserveFormedCluster(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 6, sandboxtest.Options{})
	c.Form(t, 3)
	c.Load(t, 1000, 8)
	ctx := context.Background()
	p := newPool(t, c.Password)

	t0 := time.Now()
	snap, err := p.Observe(ctx, c.Addrs()[:1]) // one seed: the rest is discovered
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("observe 6 nodes from 1 seed: %s", time.Since(t0))
	if len(snap.Nodes) != 6 {
		t.Fatalf("observed %d nodes (%v), want 6", len(snap.Nodes), snap.Addrs())
	}
	if !snap.Agreed() {
		t.Errorf("formed cluster does not agree: %v", snap.Signatures())
	}
	if r := admin.Divergence(snap); len(r) != 0 {
		t.Errorf("divergence on a formed cluster: %v", r)
	}
	var keys int
	for _, addr := range c.Addrs() {
		o := snap.Nodes[addr]
		if o == nil || !o.OK() {
			t.Fatalf("%s: %+v", addr, o)
		}
		if len(o.ID) != 40 || len(o.Nodes) != 6 {
			t.Errorf("%s: id %q, %d nodes", addr, o.ID, len(o.Nodes))
		}
		if o.ClusterInfo["cluster_state"] != "ok" || o.ClusterInfo["cluster_known_nodes"] != "6" {
			t.Errorf("%s cluster info %v", addr, o.ClusterInfo)
		}
		for _, k := range []string{"redis_version", "connected_clients", "used_memory", "rdb_last_bgsave_status", "total_commands_processed", "role", "used_cpu_sys", "cluster_enabled"} {
			if o.Info[k] == "" {
				t.Errorf("%s INFO lacks %s", addr, k)
			}
		}
		if len(o.Config) != len(admin.ConfigKeys) {
			t.Errorf("%s config %v, want every key of %v", addr, o.Config, admin.ConfigKeys)
		}
		if o.Config["cluster-node-timeout"] != "1000" || o.Config["appendonly"] != "no" {
			t.Errorf("%s config %v", addr, o.Config)
		}
		if o.Info["role"] == "master" {
			if db := o.Info["db0"]; strings.HasPrefix(db, "keys=") {
				n, _ := strconv.Atoi(strings.TrimPrefix(strings.Split(db, ",")[0], "keys="))
				keys += n
			}
		}
	}
	if keys != 1000 {
		t.Errorf("masters' keyspace sums to %d keys, want 1000", keys)
	}

	// A stopped node is reported unreachable; the rest is still observed.
	stopped := c.Nodes[5].Addr
	if err := c.Nodes[5].Kill(); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	snap, err = p.Observe(ctx, c.Addrs()[:1])
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("observe with a dead node took %s", d)
	}
	o := snap.Nodes[stopped]
	if o == nil || o.OK() || !strings.Contains(o.Err, "node "+stopped+" unreachable") {
		t.Fatalf("stopped node: %+v", o)
	}
	if len(snap.Reachable()) != 5 {
		t.Errorf("%d reachable, want 5", len(snap.Reachable()))
	}
	_, err = p.DBSize(ctx, stopped)
	if !admin.IsUnreachable(err) || !strings.Contains(err.Error(), stopped) {
		t.Errorf("DBSIZE on a stopped node: %v (unreachable=%v)", err, admin.IsUnreachable(err))
	}
	_, err = p.WaitConverged(ctx, c.Addrs()[:1], 200*time.Millisecond, 50*time.Millisecond)
	var nc *admin.NotConvergedError
	if !errors.As(err, &nc) || !strings.Contains(err.Error(), stopped+" unreachable") {
		t.Errorf("WaitConverged with a dead node: %v", err)
	}
}

func TestObserveWrongPassword(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 3, sandboxtest.Options{})
	c.Form(t, 3)
	ctx := context.Background()
	const wrong = "definitely-not-the-password-1234"
	for _, pw := range []string{wrong, ""} {
		p := newPool(t, pw)
		t0 := time.Now()
		snap, err := p.Observe(ctx, c.Addrs())
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t0); d > 3*time.Second {
			t.Errorf("password %q: observe took %s", pw, d)
		}
		for _, addr := range c.Addrs() {
			o := snap.Nodes[addr]
			want := "authentication failed on " + addr + ": check the password in $SLOTSHIFT_PASSWORD"
			if o == nil || o.Err != want {
				t.Errorf("password %q, %s: %+v, want Err %q", pw, addr, o, want)
				continue
			}
			if strings.Contains(o.Err, wrong) || strings.Contains(o.Err, c.Password) {
				t.Errorf("error leaks a password: %s", o.Err)
			}
		}
		_, err = p.MyID(ctx, c.Addrs()[0])
		if !admin.IsAuthError(err) {
			t.Errorf("password %q: MYID error %v is not an auth error", pw, err)
		}
	}
}

func TestObserveClusterDisabled(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 1, sandboxtest.Options{Extra: map[string]string{"cluster-enabled": "no"}})
	p := newPool(t, c.Password)
	snap, err := p.Observe(context.Background(), c.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	o := snap.Nodes[c.Addrs()[0]]
	if o == nil || !strings.HasPrefix(o.Err, "cluster support disabled on "+c.Addrs()[0]) {
		t.Fatalf("observation %+v", o)
	}
}

// TestCreateAndExtend builds a cluster with the admin commands alone, then
// meets a new node and waits for convergence.
func TestCreateAndExtend(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 4, sandboxtest.Options{})
	ctx := context.Background()
	p := newPool(t, c.Password)
	addrs := c.Addrs()
	for i, addr := range addrs[:3] {
		r := cluster.Range{Start: i * cluster.NumSlots / 3, End: (i+1)*cluster.NumSlots/3 - 1}
		if err := p.AddSlotsRange(ctx, addr, []cluster.Range{r}); err != nil {
			t.Fatal(err)
		}
		if err := p.SetConfigEpoch(ctx, addr, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes[1:3] {
		if err := p.Meet(ctx, addrs[0], "127.0.0.1", n.Port, n.Port+10000); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now()
	snap, err := p.WaitConverged(ctx, addrs[:1], 15*time.Second, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("create 3 masters: converged %s after MEET", time.Since(t0))
	if len(snap.Nodes) != 3 || !snap.Agreed() {
		t.Fatalf("created cluster: %d nodes, agreed %v", len(snap.Nodes), snap.Agreed())
	}
	// SET-CONFIG-EPOCH is refused once a node knows others.
	if err := p.SetConfigEpoch(ctx, addrs[0], 9); err == nil || !strings.Contains(err.Error(), addrs[0]) {
		t.Errorf("SET-CONFIG-EPOCH on a joined node: %v", err)
	}

	// Extend: MEET the fourth node, see it not converged at once, then wait.
	newAddr, newPort := addrs[3], c.Nodes[3].Port
	if err := p.Meet(ctx, addrs[0], "127.0.0.1", newPort, 0); err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	_, err = p.WaitConverged(ctx, addrs[:1], time.Millisecond, time.Millisecond)
	var nc *admin.NotConvergedError
	if !errors.As(err, &nc) || len(nc.Reasons) == 0 {
		t.Fatalf("WaitConverged right after MEET: %v", err)
	}
	t.Logf("right after MEET: %v", err)
	snap, err = p.WaitConverged(ctx, addrs[:1], 15*time.Second, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(t0)
	t.Logf("extend by 1 master: converged %s after MEET", d)
	if d > 5*time.Second {
		t.Errorf("convergence after MEET took %s", d)
	}
	if len(snap.Nodes) != 4 || snap.Nodes[newAddr] == nil || !snap.Nodes[newAddr].OK() {
		t.Fatalf("after extend: %v", snap.Addrs())
	}
	newID, err := p.MyID(ctx, newAddr)
	if err != nil || newID != snap.Nodes[newAddr].ID {
		t.Fatalf("MYID %q, %v; observed %q", newID, err, snap.Nodes[newAddr].ID)
	}

	// Replicate: an unknown id is IsUnknownNode; a real master works.
	err = p.Replicate(ctx, newAddr, strings.Repeat("f", 40))
	if !admin.IsUnknownNode(err) || !strings.Contains(err.Error(), newAddr) {
		t.Errorf("REPLICATE unknown id: %v", err)
	}
	master0 := snap.Nodes[addrs[0]].ID
	if err := p.Replicate(ctx, newAddr, master0); err != nil {
		t.Fatal(err)
	}
	// SETSLOT on a replica is refused with the "only with masters" reply.
	err = p.SetSlot(ctx, newAddr, 0, admin.SlotStable, "")
	if !admin.IsOnlyMasters(err) {
		t.Errorf("SETSLOT on a replica: %v", err)
	}

	// Remove the node again: RESET HARD on it, FORGET everywhere else.
	if err := p.Reset(ctx, newAddr, true); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs[:3] {
		if err := p.Forget(ctx, a, newID); err != nil {
			t.Fatal(err)
		}
	}
	snap, err = p.WaitConverged(ctx, addrs[:1], 15*time.Second, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := snap.Nodes[newAddr]; ok || len(snap.Nodes) != 3 {
		t.Errorf("forgotten node still observed: %v", snap.Addrs())
	}
}

// TestMigrateSlot moves one slot with the legacy protocol and checks the
// redirections and BUSYKEY predicates on real replies.
func TestMigrateSlot(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 3, sandboxtest.Options{})
	c.Form(t, 3)
	c.Load(t, 2000, 16)
	ctx := context.Background()
	p := newPool(t, c.Password)
	snap, err := p.Observe(ctx, c.Addrs())
	if err != nil {
		t.Fatal(err)
	}
	owners := snap.Owners()
	slot := cluster.KeySlot("key:0")
	idAddr := map[string]string{}
	for _, o := range snap.Reachable() {
		idAddr[o.ID] = o.Addr
	}
	src := idAddr[owners[slot]]
	var dst string
	for _, a := range c.Addrs() {
		if a != src {
			dst = a
			break
		}
	}
	srcID, dstID := snap.Nodes[src].ID, snap.Nodes[dst].ID
	dstPort, _ := strconv.Atoi(dst[strings.LastIndexByte(dst, ':')+1:])

	n, err := p.CountKeysInSlot(ctx, src, slot)
	if err != nil || n == 0 {
		t.Fatalf("COUNTKEYSINSLOT %d on %s: %d, %v", slot, src, n, err)
	}
	if err := p.SetSlot(ctx, dst, slot, admin.SlotImporting, srcID); err != nil {
		t.Fatal(err)
	}
	if err := p.SetSlot(ctx, src, slot, admin.SlotMigrating, dstID); err != nil {
		t.Fatal(err)
	}
	// Plant key:0 on the target (ASKING lets the importing node take it):
	// MIGRATE without REPLACE must then fail with BUSYKEY.
	if _, err := p.Client(dst).Pipelined(ctx, func(pl redis.Pipeliner) error {
		pl.Do(ctx, "ASKING")
		pl.Set(ctx, "key:0", "stale", 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err = p.Migrate(ctx, src, "127.0.0.1", dstPort, []string{"key:0"}, admin.MigrateOptions{})
	if !admin.IsBusyKey(err) || !strings.Contains(err.Error(), src) || strings.Contains(err.Error(), c.Password) {
		t.Fatalf("MIGRATE onto an existing key: %v", err)
	}
	var moved int64
	for {
		keys, err := p.GetKeysInSlot(ctx, src, slot, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			break
		}
		ok, err := p.Migrate(ctx, src, "127.0.0.1", dstPort, keys, admin.MigrateOptions{Replace: true})
		if err != nil || !ok {
			t.Fatalf("MIGRATE %d keys: %v, %v", len(keys), ok, err)
		}
		moved += int64(len(keys))
	}
	if moved != n {
		t.Errorf("moved %d keys, slot held %d", moved, n)
	}
	// While the slot is open the source answers ASK for a moved key.
	err = p.Client(src).Get(ctx, "key:0").Err()
	if s, addr, ok := admin.IsAsk(err); !ok || s != slot || addr != dst {
		t.Errorf("GET on the migrating source: %v (ask=%v slot=%d addr=%s)", err, ok, s, addr)
	}
	for _, a := range []string{dst, src} {
		if err := p.SetSlot(ctx, a, slot, admin.SlotNode, dstID); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range c.Addrs() {
		if a != src && a != dst {
			if err := p.SetSlot(ctx, a, slot, admin.SlotNode, dstID); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = p.Client(src).Get(ctx, "key:0").Err()
	if s, addr, ok := admin.IsMoved(err); !ok || s != slot || addr != dst {
		t.Errorf("GET on the old owner: %v", err)
	}
	if got, err := p.CountKeysInSlot(ctx, dst, slot); err != nil || got != n {
		t.Errorf("target holds %d keys of slot %d (%v), want %d", got, slot, err, n)
	}
	if got, err := p.CountKeysInSlots(ctx, dst, []int{slot, slot}); err != nil || len(got) != 2 || got[0] != n || got[1] != n {
		t.Errorf("CountKeysInSlots on the target: %v, %v; want [%d %d]", got, err, n, n)
	}
	if got, err := p.CountKeysInSlots(ctx, src, []int{slot}); err != nil || len(got) != 1 || got[0] != 0 {
		t.Errorf("CountKeysInSlots on the source: %v, %v; want [0]", got, err)
	}
	if _, err := p.WaitConverged(ctx, c.Addrs(), 10*time.Second, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	c.CheckKeys(t, 2000, 16)
	c.RedisCLICheck(t)

	// Functions copy from one node to another.
	lib := "#!lua name=slotshiftlib\nredis.register_function('noop', function() return 1 end)"
	if err := p.Client(src).FunctionLoad(ctx, lib).Err(); err != nil {
		t.Fatal(err)
	}
	dump, err := p.FunctionDump(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.FunctionRestore(ctx, dst, dump, "REPLACE"); err != nil {
		t.Fatal(err)
	}
	libs, err := p.Client(dst).FunctionList(ctx, redis.FunctionListQuery{}).Result()
	if err != nil || len(libs) != 1 || libs[0].Name != "slotshiftlib" {
		t.Errorf("FUNCTION LIST on %s after restore: %v, %v", dst, libs, err)
	}
	if sz, err := p.DBSize(ctx, dst); err != nil || sz == 0 {
		t.Errorf("DBSIZE %d, %v", sz, err)
	}
}

// TestNodeReads: the typed reads of one node (CLUSTER NODES, INFO
// replication, FUNCTION LIST) on a formed cluster.
func TestNodeReads(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 4, sandboxtest.Options{})
	c.Form(t, 3)
	ctx := context.Background()
	p := newPool(t, c.Password)

	nodes, err := p.ClusterNodes(ctx, c.Nodes[0].Addr)
	if err != nil || len(nodes) != 4 {
		t.Fatalf("ClusterNodes: %d nodes, %v; want 4", len(nodes), err)
	}
	var replica string
	for _, n := range nodes {
		if n.IsReplica() {
			replica = n.Addr
		}
	}
	if replica == "" {
		t.Fatalf("no replica in %v", nodes)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := p.ReplicationInfo(ctx, replica)
		if err != nil {
			t.Fatal(err)
		}
		if r.Role != "slave" {
			t.Fatalf("%s: role %q, want slave", replica, r.Role)
		}
		if r.LinkUp() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: link %q after 10s", replica, r.MasterLinkStatus)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r, err := p.ReplicationInfo(ctx, c.Nodes[0].Addr); err != nil || r.Role != "master" || r.LinkUp() {
		t.Errorf("master's replication info %+v, %v", r, err)
	}

	libs, err := p.FunctionList(ctx, c.Nodes[0].Addr)
	if err != nil || len(libs) != 0 {
		t.Fatalf("FunctionList on a fresh node: %v, %v", libs, err)
	}
	code := "#!lua name=nodereads\nredis.register_function('nr_ping', function() return 'pong' end)"
	if err := c.Client(0).FunctionLoad(ctx, code).Err(); err != nil {
		t.Fatal(err)
	}
	if libs, err = p.FunctionList(ctx, c.Nodes[0].Addr); err != nil || len(libs) != 1 || libs[0] != "nodereads" {
		t.Errorf("FunctionList after FUNCTION LOAD: %v, %v; want [nodereads]", libs, err)
	}
}
