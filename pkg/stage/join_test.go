package stage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/plan"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// joinNodes starts n empty nodes. The first sync of a replica is immediate
// (Redis 7.0 waits repl-diskless-sync-delay, 5 s by default, for more
// replicas to share it); everything else is the harness default, including
// cluster-node-timeout 1000.
func joinNodes(t *testing.T, n int) *sandboxtest.Cluster {
	t.Helper()
	return sandboxtest.Start(t, n, sandboxtest.Options{NodeTimeoutMS: 1000, Extra: map[string]string{"repl-diskless-sync-delay": "0"}})
}

// joinYAML renders servers "name: [master port, replica port, replica_of]"
// on 127.0.0.1; an empty replica_of lets slotshift place the replica.
type joinServer struct {
	name            string
	master, replica int
	replicaOf       string
}

func joinYAML(servers ...joinServer) string {
	var b strings.Builder
	b.WriteString("version: 1\ncluster:\n  name: join-test\n  node_timeout_ms: 1000\nservers:\n")
	for _, s := range servers {
		b.WriteString(sandboxtest.Server(s.name, "", s.master, s.replica, s.replicaOf))
	}
	return b.String()
}

func joinRun(t *testing.T, c *sandboxtest.Cluster, yaml string, in JoinInput) (Result, error, time.Duration) {
	t.Helper()
	inv := parseInv(t, yaml)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if in.Timeout == 0 {
		in.Timeout = 20 * time.Second
	}
	t0 := time.Now()
	res, err := Join(ctx, harnessEnv(t, inv, c.Password), in)
	d := time.Since(t0)
	if res.Join != nil {
		for _, a := range res.Join.Actions {
			t.Logf("action %-16s %-22s %6.3fs %s", a.Action, a.Node, float64(a.Duration), a.Detail)
		}
	}
	for _, ch := range res.Checks {
		t.Logf("check %s %s %.3fs: %s", ch.ID, ch.Status, float64(ch.Duration), ch.Message)
	}
	return res, err, d
}

// joinTopology is node 0's view: addr -> "master" or "replica-of:<addr>",
// with the slot count of each master.
func joinTopology(t *testing.T, c *sandboxtest.Cluster, i int) (map[string]string, map[string]int) {
	t.Helper()
	text, err := c.Client(i).ClusterNodes(context.Background()).Result()
	if err != nil {
		t.Fatalf("CLUSTER NODES on %s: %v", c.Nodes[i].Addr, err)
	}
	nodes, err := cluster.ParseNodes(text)
	if err != nil {
		t.Fatal(err)
	}
	addrOf := map[string]string{}
	for _, n := range nodes {
		addrOf[n.ID] = n.Addr
	}
	roles, slots := map[string]string{}, map[string]int{}
	for _, n := range nodes {
		if n.IsReplica() {
			roles[n.Addr] = "replica-of:" + addrOf[n.MasterID]
		} else {
			roles[n.Addr] = "master"
			slots[n.Addr] = n.Slots.Len()
		}
	}
	return roles, slots
}

// joinStableNodes is every node's CLUSTER NODES without the fields that
// change on their own (ping/pong times, link state), sorted: equal before
// and after means membership, roles, epochs and slots did not change.
func joinStableNodes(t *testing.T, c *sandboxtest.Cluster, which []int) string {
	t.Helper()
	var out []string
	for _, i := range which {
		text, err := c.Client(i).ClusterNodes(context.Background()).Result()
		if err != nil {
			t.Fatalf("CLUSTER NODES on %s: %v", c.Nodes[i].Addr, err)
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
			f := strings.Fields(l)
			if len(f) < 8 {
				continue
			}
			lines = append(lines, strings.Join(append(f[:4:4], append([]string{f[6]}, f[8:]...)...), " "))
		}
		sort.Strings(lines)
		out = append(out, c.Nodes[i].Addr+":\n"+strings.Join(lines, "\n"))
	}
	return strings.Join(out, "\n")
}

// joinCommandCalls sums the calls of CLUSTER MEET, REPLICATE, FORGET,
// ADDSLOTSRANGE and SET-CONFIG-EPOCH on the given nodes (INFO
// commandstats), so a test can prove that a run sent none.
func joinCommandCalls(t *testing.T, c *sandboxtest.Cluster, which []int) int {
	t.Helper()
	total := 0
	for _, i := range which {
		text, err := c.Client(i).Info(context.Background(), "commandstats").Result()
		if err != nil {
			t.Fatalf("INFO commandstats on %s: %v", c.Nodes[i].Addr, err)
		}
		for _, l := range strings.Split(text, "\n") {
			for _, cmd := range []string{"meet", "replicate", "forget", "addslotsrange", "set-config-epoch", "reset"} {
				if rest, ok := strings.CutPrefix(l, "cmdstat_cluster|"+cmd+":calls="); ok {
					n, _ := strconv.Atoi(strings.SplitN(rest, ",", 2)[0])
					total += n
				}
			}
		}
	}
	return total
}

func joinActions(res Result, action string) []string {
	var out []string
	if res.Join == nil {
		return nil
	}
	for _, a := range res.Join.Actions {
		if a.Action == action {
			out = append(out, a.Node)
		}
	}
	sort.Strings(out)
	return out
}

func joinCheck(res Result, id string) (report.Check, bool) {
	for _, c := range res.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return report.Check{}, false
}

func joinAll(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// joinWantRoles compares node i's view with want: address -> address of
// its master, or "" for a master.
func joinWantRoles(t *testing.T, c *sandboxtest.Cluster, i int, want map[string]string) {
	t.Helper()
	roles, _ := joinTopology(t, c, i)
	for addr, m := range want {
		exp := "master"
		if m != "" {
			exp = "replica-of:" + m
		}
		if got := roles[addr]; got != exp {
			t.Errorf("%s seen by %s: %q, want %q", addr, c.Nodes[i].Addr, got, exp)
		}
	}
}

// TestJoinCreateThenNoop creates a 3+3 cluster from empty nodes, with
// replicas placed by slotshift, then re-runs join and expects no change.
// It also times the harness forming the same cluster on other nodes: the
// time the servers need.
func TestJoinCreateThenNoop(t *testing.T) {
	c := joinNodes(t, 6)
	p := ports(c)
	// Servers 1-3 each run a master and a replica; placement makes the
	// cycle server1's replica -> server3's master and so on.
	yaml := joinYAML(
		joinServer{name: "server1", master: p[0], replica: p[3]},
		joinServer{name: "server2", master: p[1], replica: p[4]},
		joinServer{name: "server3", master: p[2], replica: p[5]},
	)
	res, err, created := joinRun(t, c, yaml, JoinInput{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Logf("TIMING create 3+3: %s", created.Round(time.Millisecond))
	if res.Join.Mode != plan.JoinCreate {
		t.Errorf("mode %q, want create", res.Join.Mode)
	}
	if got := strings.Join(joinActions(res, ActionSlotsAssigned), " "); got != "server1:"+strconv.Itoa(p[0])+" server2:"+strconv.Itoa(p[1])+" server3:"+strconv.Itoa(p[2]) {
		t.Errorf("slots-assigned on %q", got)
	}
	if got := len(joinActions(res, ActionMet)); got != 5 {
		t.Errorf("%d met actions, want 5", got)
	}
	if res.Outputs["nodes-added"] != "6" || res.Outputs["replicas-attached"] != "3" || res.Outputs["nodes-removed"] != "0" {
		t.Errorf("outputs %v", res.Outputs)
	}
	if res.Masters != 3 || res.Replicas != 3 || res.Fingerprint == "" {
		t.Errorf("masters %d replicas %d fingerprint %q", res.Masters, res.Replicas, res.Fingerprint)
	}
	if res.Outcome() != report.OutcomePass {
		t.Errorf("outcome %s", res.Outcome())
	}
	_, slots := joinTopology(t, c, 4)
	for i, want := range []int{5461, 5462, 5461} {
		if slots[c.Nodes[i].Addr] != want {
			t.Errorf("master %d owns %d slots, want %d (redis-cli's split)", i, slots[c.Nodes[i].Addr], want)
		}
	}
	a := c.Addrs()
	joinWantRoles(t, c, 5, map[string]string{a[0]: "", a[1]: "", a[2]: "", a[3]: a[2], a[4]: a[0], a[5]: a[1]})
	for _, i := range []int{3, 4, 5} {
		info, err := c.Client(i).Info(context.Background(), "replication").Result()
		if err != nil || !strings.Contains(info, "master_link_status:up") {
			t.Errorf("replica %s: link not up when join returned: %v\n%s", c.Nodes[i].Addr, err, info)
		}
	}
	out := c.RedisCLICheck(t)
	if !strings.Contains(out, "[OK] All nodes agree about slots configuration.") {
		t.Errorf("redis-cli check:\n%s", out)
	}
	c.Load(t, 500, 16)
	c.CheckKeys(t, 500, 16)

	before := joinStableNodes(t, c, joinAll(6))
	calls := joinCommandCalls(t, c, joinAll(6))
	res, err, took := joinRun(t, c, yaml, JoinInput{Prune: true})
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	t.Logf("TIMING noop re-run: %s", took.Round(time.Millisecond))
	if res.Join.Mode != plan.JoinNoop || len(joinActions(res, ActionUnchanged)) != 6 || len(res.Join.Actions) != 6 {
		t.Errorf("re-run: mode %q actions %+v, want noop with 6 unchanged", res.Join.Mode, res.Join.Actions)
	}
	if got := joinCommandCalls(t, c, joinAll(6)); got != calls {
		t.Errorf("re-run sent %d membership commands, want 0", got-calls)
	}
	if after := joinStableNodes(t, c, joinAll(6)); after != before {
		t.Errorf("re-run changed CLUSTER NODES:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if res.Outputs["nodes-added"] != "0" || !strings.Contains(strings.Join(res.Summary, "\n"), "no change") {
		t.Errorf("re-run outputs %v summary %q", res.Outputs, res.Summary)
	}

	// The servers' own time: the harness forms the same cluster (slots,
	// epochs, MEET, REPLICATE, poll every 50 ms until converged and every
	// link up) on fresh nodes.
	base := joinNodes(t, 6)
	t0 := time.Now()
	base.Form(t, 3)
	formed := time.Since(t0)
	t.Logf("TIMING baseline (harness Form 3+3): %s; join create took %s more", formed.Round(time.Millisecond), (created - formed).Round(time.Millisecond))
	if created-formed > 2*time.Second {
		t.Errorf("join create took %s, %s more than the servers need (harness Form %s); want within 2s", created, created-formed, formed)
	}
}

// TestJoinExtendByPairThenPrune adds server4 and server5 (a master and a
// replica each, replicas placed crosswise as in the seed) to a loaded 3+3
// cluster, then removes the pair again with Prune (they own no slots).
func TestJoinExtendByPairThenPrune(t *testing.T) {
	c := joinNodes(t, 6)
	c.Form(t, 3)
	n := joinNodes(t, 4) // server4: n0 master, n1 replica; server5: n2, n3
	const keys = 2000
	c.Load(t, keys, 32)
	// A function library on every master: join copies it to new masters.
	const lib = "#!lua name=joinlib\nredis.register_function('joinfn', function() return 42 end)"
	for i := range 3 {
		if err := c.Client(i).FunctionLoad(context.Background(), lib).Err(); err != nil {
			t.Fatalf("FUNCTION LOAD on %s: %v", c.Nodes[i].Addr, err)
		}
	}
	p, q := ports(c), ports(n)
	a, na := c.Addrs(), n.Addrs()
	base := []joinServer{
		{name: "server1", master: p[0], replica: p[3]},
		{name: "server2", master: p[1], replica: p[4]},
		{name: "server3", master: p[2], replica: p[5]},
	}
	pair := []joinServer{
		{name: "server4", master: q[0], replica: q[1]},
		{name: "server5", master: q[2], replica: q[3]},
	}
	res, err, took := joinRun(t, c, joinYAML(append(base, pair...)...), JoinInput{})
	if err != nil {
		t.Fatalf("extend: %v", err)
	}
	t.Logf("TIMING extend by a pair (2 masters + 2 replicas): %s", took.Round(time.Millisecond))
	if res.Join.Mode != plan.JoinExtend || res.Outputs["nodes-added"] != "4" || res.Outputs["replicas-attached"] != "2" {
		t.Errorf("mode %q outputs %v", res.Join.Mode, res.Outputs)
	}
	if got := len(joinActions(res, ActionUnchanged)); got != 6 {
		t.Errorf("%d unchanged, want 6", got)
	}
	if got := joinActions(res, ActionSlotsAssigned); len(got) != 0 {
		t.Errorf("extend assigned slots on %v", got)
	}
	// Seen from an old node and from a new one: server4's replica follows
	// server5's master and server5's follows server4's.
	want := map[string]string{a[0]: "", a[3]: a[1], na[0]: "", na[1]: na[2], na[2]: "", na[3]: na[0]}
	joinWantRoles(t, c, 0, want)
	joinWantRoles(t, n, 3, want)
	roles, slots := joinTopology(t, n, 1)
	if len(roles) != 10 || slots[na[0]] != 0 || slots[na[2]] != 0 {
		t.Errorf("new replica knows %d nodes (want 10); new masters own %d and %d slots (want 0: join moves no slot)", len(roles), slots[na[0]], slots[na[2]])
	}
	if got := joinActions(res, ActionFunctionsCopied); len(got) != 2 {
		t.Errorf("functions copied to %v, want the 2 new masters", got)
	}
	for _, i := range []int{0, 2} {
		if v, err := n.Client(i).FCall(context.Background(), "joinfn", nil).Int(); err != nil || v != 42 {
			t.Errorf("FCALL joinfn on new master %s: %d, %v", na[i], v, err)
		}
	}
	c.RedisCLICheck(t)
	c.CheckKeys(t, keys, 32)

	// A placed replica that drifts onto a master that already has one
	// (failovers and Redis's replica migration move replicas) goes back:
	// join must not call the layout matching while server5's master has
	// no replica.
	id0, err := c.Client(0).ClusterMyID(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Client(1).ClusterReplicate(context.Background(), id0).Err(); err != nil {
		t.Fatalf("CLUSTER REPLICATE on %s: %v", na[1], err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r0, _ := joinTopology(t, c, 0)
		r1, _ := joinTopology(t, n, 2)
		if r0[na[1]] == "replica-of:"+a[0] && r1[na[1]] == "replica-of:"+a[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not follow %s after CLUSTER REPLICATE: %q, %q", na[1], a[0], r0[na[1]], r1[na[1]])
		}
	}
	res, err, _ = joinRun(t, c, joinYAML(append(base, pair...)...), JoinInput{})
	if err != nil {
		t.Fatalf("join after the drift: %v", err)
	}
	if got, drifted := joinActions(res, ActionReplicated), fmt.Sprintf("server4:%d", q[1]); len(got) != 1 || got[0] != drifted {
		t.Errorf("replicated %v, want only %s re-pointed", got, drifted)
	}
	joinWantRoles(t, c, 0, want)
	joinWantRoles(t, n, 3, want)

	// Without Prune: the pair (dropped from the inventory) is only listed.
	before := joinStableNodes(t, c, joinAll(6))
	res, err, _ = joinRun(t, c, joinYAML(base...), JoinInput{})
	if err != nil {
		t.Fatalf("without prune: %v", err)
	}
	if ch, ok := joinCheck(res, IDJoinExtra); !ok || ch.Status != report.Warn || !strings.Contains(ch.Message, "4 cluster nodes are not in the inventory") {
		t.Errorf("extra check %+v", ch)
	}
	if res.Join.Mode != plan.JoinNoop || !strings.Contains(strings.Join(res.Summary, "\n"), "--prune") {
		t.Errorf("mode %q summary %q", res.Join.Mode, res.Summary)
	}
	if after := joinStableNodes(t, c, joinAll(6)); after != before {
		t.Errorf("join without prune changed the cluster")
	}

	// With Prune: the drained pair is removed, replicas first.
	ids := make([]string, 4)
	for i := range ids {
		if ids[i], err = n.Client(i).ClusterMyID(context.Background()).Result(); err != nil {
			t.Fatal(err)
		}
	}
	res, err, took = joinRun(t, c, joinYAML(base...), JoinInput{Prune: true})
	if err != nil {
		t.Fatalf("prune: %v", err)
	}
	t.Logf("TIMING prune 4 nodes: %s", took.Round(time.Millisecond))
	if res.Outputs["nodes-removed"] != "4" || len(joinActions(res, ActionForgotten)) != 4 || len(joinActions(res, ActionReset)) != 4 {
		t.Errorf("outputs %v actions %+v", res.Outputs, res.Join.Actions)
	}
	var order []string
	for _, ac := range res.Join.Actions {
		if ac.Action == ActionForgotten {
			order = append(order, ac.Node)
		}
	}
	isReplica := func(addr string) bool { return addr == na[1] || addr == na[3] }
	if len(order) != 4 || !isReplica(order[0]) || !isReplica(order[1]) || isReplica(order[2]) || isReplica(order[3]) {
		t.Errorf("removal order %v: want the replicas (%s, %s) first", order, na[1], na[3])
	}
	for i := range 6 {
		roles, _ := joinTopology(t, c, i)
		if len(roles) != 6 {
			t.Errorf("%s still knows %d nodes after prune: %v", a[i], len(roles), roles)
		}
	}
	for i := range 4 {
		roles, _ := joinTopology(t, n, i)
		if len(roles) != 1 {
			t.Errorf("removed node %s still knows %d nodes", na[i], len(roles))
		}
	}
	c.RedisCLICheck(t)
	c.CheckKeys(t, keys, 32)

	// The pruned pair comes back at once: every node bans a forgotten id
	// for 60 s, so each removed node must have left with a new one.
	for i := range 4 {
		if id, err := n.Client(i).ClusterMyID(context.Background()).Result(); err != nil || id == ids[i] {
			t.Errorf("removed node %s kept its id %s (%v): the cluster refuses it for a minute", na[i], id, err)
		}
	}
	if _, err, took = joinRun(t, c, joinYAML(append(base, pair...)...), JoinInput{Timeout: 20 * time.Second}); err != nil {
		t.Fatalf("extend again right after the prune: %v", err)
	}
	t.Logf("TIMING extend again right after the prune: %s", took.Round(time.Millisecond))
	c.RedisCLICheck(t)
}

// TestJoinExtendToFourByFour grows 3m3s to 4m4s with one new server: the
// inventory re-points server3's replica to the new master (a replica
// moves, no data does) and the new replica follows server1's master.
func TestJoinExtendToFourByFour(t *testing.T) {
	t.Parallel()
	c := joinNodes(t, 6)
	c.Form(t, 3)
	n := joinNodes(t, 2)
	p, q := ports(c), ports(n)
	a, na := c.Addrs(), n.Addrs()
	s := func(i int) string { return fmt.Sprintf("server%d:%d", i+1, p[i]) }
	// Form: replica 3+j follows master (j+1)%3; server3's replica (a[5])
	// follows server1's master (a[0]) until the inventory says server4.
	yaml := joinYAML(
		joinServer{name: "server1", master: p[0], replica: p[3], replicaOf: s(1)},
		joinServer{name: "server2", master: p[1], replica: p[4], replicaOf: s(2)},
		joinServer{name: "server3", master: p[2], replica: p[5], replicaOf: "server4:" + strconv.Itoa(q[0])},
		joinServer{name: "server4", master: q[0], replica: q[1], replicaOf: "server1:" + strconv.Itoa(p[0])},
	)
	res, err, took := joinRun(t, c, yaml, JoinInput{})
	if err != nil {
		t.Fatalf("extend: %v", err)
	}
	t.Logf("TIMING extend 3m3s -> 4m4s: %s", took.Round(time.Millisecond))
	var fixed string
	for _, ac := range res.Join.Actions {
		if ac.Action == ActionReplicated && ac.Node == "server3:"+strconv.Itoa(p[5]) {
			fixed = ac.Detail
		}
	}
	if !strings.Contains(fixed, "follows server4") || !strings.Contains(fixed, "was replica of server1") {
		t.Errorf("re-pointed replica detail %q", fixed)
	}
	want := map[string]string{a[0]: "", a[1]: "", a[2]: "", na[0]: "", a[3]: a[1], a[4]: a[2], a[5]: na[0], na[1]: a[0]}
	joinWantRoles(t, c, 0, want)
	joinWantRoles(t, n, 1, want)
	c.RedisCLICheck(t)
	res, err, _ = joinRun(t, c, yaml, JoinInput{})
	if err != nil || res.Join.Mode != plan.JoinNoop {
		t.Errorf("re-run: mode %q err %v", res.Join.Mode, err)
	}
}

// TestJoinRefuses checks every refusal leaves the cluster as it was and
// returns a *UsageError naming the node and its inventory line.
func TestJoinRefuses(t *testing.T) {
	t.Parallel()
	c := joinNodes(t, 6)
	c.Form(t, 3)
	// x: 0 = a new node with keys, 1+2 = another cluster, 3 = killed
	// (unreachable), 4 = an empty node.
	x := sandboxtest.Start(t, 5, sandboxtest.Options{NodeTimeoutMS: 1000, Extra: map[string]string{"enable-debug-command": "yes"}})
	ctx := context.Background()
	p, q := ports(c), ports(x)

	// A new node with a key (DEBUG POPULATE writes it without the slot
	// ownership a SET would need).
	if err := x.Client(0).Do(ctx, "DEBUG", "POPULATE", 1).Err(); err != nil {
		t.Fatalf("DEBUG POPULATE on %s: %v", x.Nodes[0].Addr, err)
	}
	// Another cluster: x1 owns every slot and has met x2. Distinct epochs,
	// so that no epoch collision changes their views during the test.
	for i, cmd := range [][]any{{"CLUSTER", "ADDSLOTSRANGE", 0, 16383}, {"CLUSTER", "SET-CONFIG-EPOCH", 1}, {"CLUSTER", "MEET", "127.0.0.1", q[2]}} {
		if err := x.Client(1).Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("step %d %v on %s: %v", i, cmd, x.Nodes[1].Addr, err)
		}
	}
	settled := func() bool {
		for _, i := range []int{1, 2} {
			text, err := x.Client(i).ClusterNodes(ctx).Result()
			if err != nil || strings.Contains(text, "handshake") || strings.Count(text, "\n") != 2 || !strings.Contains(text, "0-16383") {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(10 * time.Second); !settled(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the other cluster's nodes never met")
		}
	}
	if err := x.Nodes[3].Kill(); err != nil {
		t.Fatal(err)
	}

	base := []joinServer{
		{name: "server1", master: p[0], replica: p[3]},
		{name: "server2", master: p[1], replica: p[4]},
		{name: "server3", master: p[2], replica: p[5]},
	}
	with := func(port int) []joinServer {
		return append(base[:3:3], joinServer{name: "server4", master: port}, joinServer{name: "server5", master: q[4]})
	}
	// server1's master declared replica, its replica declared master.
	swapped := []joinServer{
		{name: "server1", master: p[3], replica: p[0], replicaOf: fmt.Sprintf("server2:%d", p[1])},
		{name: "server2", master: p[1], replica: p[4], replicaOf: fmt.Sprintf("server3:%d", p[2])},
		{name: "server3", master: p[2], replica: p[5], replicaOf: fmt.Sprintf("server1:%d", p[3])},
	}
	type want struct {
		port   int
		reason string
	}
	cases := []struct {
		name    string
		servers []joinServer
		want    []want
	}{
		{"new node with keys", with(q[0]), []want{{q[0], "holds 1 keys"}}},
		{"node of another cluster", with(q[2]), []want{{q[2], "belongs to another cluster"}}},
		{"node owning slots alone", with(q[1]), []want{{q[1], "belongs to another cluster"}}},
		{"unreachable node", with(q[3]), []want{{q[3], "unreachable"}}},
		{"role contradiction", swapped, []want{
			{p[0], "the inventory says replica but it is a master owning 5461 slots"},
			{p[3], fmt.Sprintf("the inventory says master but it is a replica of server2:%d", p[1])},
		}},
	}
	type watch struct {
		c     *sandboxtest.Cluster
		nodes []int
	}
	watched := []watch{{c, joinAll(6)}, {x, []int{0, 1, 2, 4}}}
	state := func() (string, int) {
		var s string
		n := 0
		for _, w := range watched {
			s += joinStableNodes(t, w.c, w.nodes) + "\n"
			n += joinCommandCalls(t, w.c, w.nodes)
		}
		return s, n
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			yaml := joinYAML(tc.servers...)
			inv := parseInv(t, yaml)
			before, calls := state()
			res, err, _ := joinRun(t, c, yaml, JoinInput{})
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("err %v (%T), want *UsageError", err, err)
			}
			if ue.Hint == "" {
				t.Errorf("usage error without a hint: %v", ue)
			}
			for _, w := range tc.want {
				addr := "127.0.0.1:" + strconv.Itoa(w.port)
				ref, ok := inv.NodeByAddr(addr)
				if !ok {
					t.Fatalf("%s not in the inventory", addr)
				}
				msg := fmt.Sprintf("%s (%s, inventory.yml:%d): %s", ref.Name(), addr, ref.Line, w.reason)
				if !strings.Contains(err.Error(), msg) {
					t.Errorf("error %q\nwant it to contain %q", err, msg)
				}
				found := false
				for _, ch := range res.Checks {
					if ch.ID == IDJoinRefused && ch.Node == addr {
						found = ch.Status == report.Fail && ch.File == "inventory.yml" && ch.Line == ref.Line && ch.Hint != ""
					}
				}
				if !found {
					t.Errorf("no failed %s check for %s at inventory.yml:%d with a hint: %+v", IDJoinRefused, addr, ref.Line, res.Checks)
				}
			}
			after, calls2 := state()
			if calls2 != calls {
				t.Errorf("a refused run sent %d membership commands", calls2-calls)
			}
			if after != before {
				t.Errorf("a refused run changed CLUSTER NODES:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	c.RedisCLICheck(t)
}

// TestJoinTimeoutThenResume gives create a timeout shorter than the servers
// need: join must fail (not a usage error) naming what has not converged
// on which node; a second run finds the work done and waits it out.
func TestJoinTimeoutThenResume(t *testing.T) {
	t.Parallel()
	c := joinNodes(t, 3)
	p := ports(c)
	yaml := joinYAML(
		joinServer{name: "server1", master: p[0]},
		joinServer{name: "server2", master: p[1]},
		joinServer{name: "server3", master: p[2]},
	)
	res, err, _ := joinRun(t, c, yaml, JoinInput{Timeout: 100 * time.Millisecond})
	var ue *UsageError
	if err == nil || errors.As(err, &ue) {
		t.Fatalf("err %v, want a convergence error", err)
	}
	var nce *admin.NotConvergedError
	if !errors.As(err, &nce) || len(nce.Reasons) == 0 {
		t.Errorf("err %v: want *admin.NotConvergedError with reasons", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:") || !strings.Contains(err.Error(), "not converged") {
		t.Errorf("err %q does not name a node", err)
	}
	if ch, ok := joinCheck(res, IDJoinConverged); !ok || ch.Status != report.Error {
		t.Errorf("converged check %+v, want error", ch)
	}
	res, err, _ = joinRun(t, c, yaml, JoinInput{})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	// Depending on how far the handshakes got, the resume sees a cluster
	// (noop, or extend re-sending a MEET) or still lone nodes (create
	// re-sending MEETs); never are slots assigned twice.
	if got := joinActions(res, ActionSlotsAssigned); len(got) != 0 {
		t.Errorf("resume (mode %s) assigned slots again on %v", res.Join.Mode, got)
	}
	if ch, ok := joinCheck(res, IDJoinConverged); !ok || ch.Status != report.Pass {
		t.Errorf("resume converged check %+v", ch)
	}
	c.RedisCLICheck(t)
}

func TestResolveIP(t *testing.T) {
	ctx := context.Background()
	if ip, err := resolveIP(ctx, "127.0.0.1:7000"); err != nil || ip != "127.0.0.1" {
		t.Errorf("resolveIP(127.0.0.1:7000) = %q, %v", ip, err)
	}
	if ip, err := resolveIP(ctx, "localhost:7000"); err != nil || (ip != "127.0.0.1" && ip != "::1") {
		t.Errorf("resolveIP(localhost:7000) = %q, %v", ip, err)
	}
	if _, err := resolveIP(ctx, "no-port"); err == nil {
		t.Error("resolveIP(no-port): want an error")
	}
}

// TestClassifyReplicas: a replica whose link is not up is reported as not
// attached and never as gossip lag; an attached replica is reported per
// node that does not yet show it under its master.
func TestClassifyReplicas(t *testing.T) {
	m1 := plan.JoinNode{Name: "server1:7000", Addr: "127.0.0.1:7000", ID: "m1"}
	m2 := plan.JoinNode{Name: "server2:7002", Addr: "127.0.0.1:7002", ID: "m2"}
	r1 := plan.JoinNode{Name: "server2:7003", Addr: "127.0.0.1:7003", ID: "r1"}
	r2 := plan.JoinNode{Name: "server1:7001", Addr: "127.0.0.1:7001", ID: "r2"}
	steps := []plan.ReplicateStep{{Node: r1, Master: m1}, {Node: r2, Master: m2}}
	up := admin.Replication{Role: "slave", MasterLinkStatus: "up"}
	syncing := admin.Replication{Role: "slave", MasterLinkStatus: "down", MasterSyncInProgress: true}
	full := []cluster.Node{
		{ID: "m1", Flags: []string{"master"}}, {ID: "m2", Flags: []string{"master"}},
		{ID: "r1", Flags: []string{"slave"}, MasterID: "m1"}, {ID: "r2", Flags: []string{"slave"}, MasterID: "m2"},
	}
	stale := []cluster.Node{ // r1 still shown as a master
		{ID: "m1", Flags: []string{"master"}}, {ID: "m2", Flags: []string{"master"}},
		{ID: "r1", Flags: []string{"master"}}, {ID: "r2", Flags: []string{"master"}},
	}

	w := classifyReplicas(steps,
		map[string]replicaLink{r1.Addr: {info: up}, r2.Addr: {info: syncing}},
		map[string]nodeView{m1.Addr: {nodes: full}, m2.Addr: {nodes: stale}, "127.0.0.1:7004": {err: errors.New("connection refused")}})
	if w.done() {
		t.Fatal("done while a replica is syncing")
	}
	if len(w.Unattached) != 1 || !strings.Contains(w.Unattached[0], "server1:7001") || !strings.Contains(w.Unattached[0], "master_link_status:down") {
		t.Errorf("unattached = %q, want server1:7001 with its link status", w.Unattached)
	}
	if len(w.Unseen) != 1 || !strings.Contains(w.Unseen[0], "127.0.0.1:7002 does not yet see server2:7003") {
		t.Errorf("unseen = %q, want only the attached server2:7003, on 127.0.0.1:7002", w.Unseen)
	}
	if len(w.Unobserved) != 1 || !strings.Contains(w.Unobserved[0], "127.0.0.1:7004") {
		t.Errorf("unobserved = %q", w.Unobserved)
	}
	if s := w.String(); !strings.Contains(s, "not attached: ") || !strings.Contains(s, "attached, not yet seen: ") {
		t.Errorf("String() = %q does not tell the kinds apart", s)
	}

	w = classifyReplicas(steps,
		map[string]replicaLink{r1.Addr: {info: up}, r2.Addr: {info: up}},
		map[string]nodeView{m1.Addr: {nodes: full}, m2.Addr: {nodes: full}})
	if !w.done() {
		t.Errorf("not done with every link up and every view current: %s", w)
	}
}

// TestJoinUsesGivenPool: join talks to the nodes through the pool it is
// given, with that pool's credentials, and leaves it open for its owner.
func TestJoinUsesGivenPool(t *testing.T) {
	t.Parallel()
	c := joinNodes(t, 3)
	p := ports(c)
	yaml := joinYAML(joinServer{name: "server1", master: p[0]}, joinServer{name: "server2", master: p[1]}, joinServer{name: "server3", master: p[2]})

	wrong := admin.NewPool(admin.Options{Password: "not-the-password-0123456789"})
	defer wrong.Close()
	if _, err, _ := joinRun(t, c, yaml, JoinInput{Pool: wrong}); err == nil {
		t.Fatal("join with a pool holding the wrong password succeeded")
	}

	pool := admin.NewPool(admin.Options{Password: c.Password})
	defer pool.Close()
	res, err, _ := joinRun(t, c, yaml, JoinInput{Pool: pool})
	if err != nil || res.Outcome() != report.OutcomePass {
		t.Fatalf("join: %v, outcome %s", err, res.Outcome())
	}
	nodes, err := pool.ClusterNodes(context.Background(), c.Nodes[0].Addr)
	if err != nil || len(nodes) != 3 {
		t.Errorf("given pool after join: %d nodes, %v; want it open and 3 nodes", len(nodes), err)
	}
}
