package stage

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

func TestVerify(t *testing.T) {
	c, inv := startCross(t)
	const keys = 2000
	c.Load(t, keys, 50)
	ctx := ctxT(t)
	env := harnessEnv(t, inv, c.Password)
	addrs := c.Addrs()

	t.Run("healthy", func(t *testing.T) {
		start := time.Now()
		endpoints := filepath.Join(t.TempDir(), "reports", EndpointsName)
		res, err := Verify(ctx, env, VerifyInput{EndpointsFile: endpoints})
		wall := time.Since(start)
		t.Logf("verify wall time on a healthy 3+3 cluster: %s, %d checks", wall.Round(time.Millisecond), len(res.Checks))
		if err != nil {
			t.Fatal(err)
		}
		if wall > wallLimit {
			t.Errorf("verify took %s, want well under %s", wall, wallLimit)
		}
		if f := failures(res.Checks); len(f) > 0 {
			t.Fatalf("healthy cluster has failures: %+v", f)
		}
		for _, a := range addrs[:3] {
			want(t, res.Checks, check.IDCanary, a, report.Pass, "wrote, read back and deleted")
			want(t, res.Checks, check.IDPlacement, a, report.Pass, "has a replica on another server")
			want(t, res.Checks, check.IDDistribution, a, report.Pass)
			for _, id := range []string{check.IDLatencyAvg, check.IDLatencyP99} {
				ck := want(t, res.Checks, id, a, report.Pass, "200 samples")
				if ck.Unit != "ms" || ck.Threshold == nil {
					t.Errorf("%s: unit %q threshold %v", id, ck.Unit, ck.Threshold)
				}
			}
		}
		for _, a := range addrs[3:] {
			want(t, res.Checks, check.IDReplLink, a, report.Pass, "is up")
			want(t, res.Checks, check.IDReplLag, a, report.Pass, "replication lag")
		}
		for _, a := range addrs {
			want(t, res.Checks, check.IDInventoryMatch, a, report.Pass, "as declared")
			want(t, res.Checks, check.IDClusterState, a, report.Pass)
		}
		if res.Masters != 3 || res.Replicas != 3 || res.Fingerprint == "" {
			t.Errorf("masters %d replicas %d fingerprint %q", res.Masters, res.Replicas, res.Fingerprint)
		}
		// The canaries were deleted: only the loaded keys remain.
		total := int64(0)
		for i := range 3 {
			n, err := c.Client(i).DBSize(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
		if total != keys {
			t.Errorf("%d keys after verify, want %d: canaries left behind?", total, keys)
		}
		// redis-cli agrees that the cluster is fine.
		c.RedisCLICheck(t)
		checkEndpoints(t, c, res, endpoints, start, 3, 3)
	})

	t.Run("no canary", func(t *testing.T) {
		res, err := Verify(ctx, env, VerifyInput{NoCanary: true})
		if err != nil {
			t.Fatal(err)
		}
		want(t, res.Checks, check.IDCanary, "", report.Skip, "--no-canary")
	})

	t.Run("replica on its master's server", func(t *testing.T) {
		// The inventory names servers so that each live replica shares a
		// server with the master it follows.
		p := ports(c)
		text := "version: 1\ncluster: {name: test, node_timeout_ms: 1000}\nservers:\n"
		for s := range 3 {
			// Master s is followed by replica (s+2)%3 (Form: replica j follows master (j+1)%3).
			text += fmt.Sprintf("  - name: server%d\n    address: 127.0.0.1\n    nodes: [{port: %d, role: master}, {port: %d, role: replica}]\n", s+1, p[s], p[3+(s+2)%3])
		}
		bad := parseInv(t, text)
		res, err := Verify(ctx, harnessEnv(t, bad, c.Password), VerifyInput{NoCanary: true})
		if err != nil {
			t.Fatal(err)
		}
		for s := range 3 {
			want(t, res.Checks, check.IDPlacement, addrs[s], report.Fail, addrs[s], fmt.Sprintf("server%d", s+1), "only on its own server")
		}
	})

	t.Run("replica_of differs", func(t *testing.T) {
		p := ports(c)
		// Swap what the inventory says replicas 0 and 1 follow.
		text := crossYAML(p, "")
		text = strings.Replace(text, fmt.Sprintf(`replica_of: "server2:%d"`, p[1]), "REPL1", 1)
		text = strings.Replace(text, fmt.Sprintf(`replica_of: "server3:%d"`, p[2]), fmt.Sprintf(`replica_of: "server1:%d"`, p[0]), 1)
		text = strings.Replace(text, "REPL1", fmt.Sprintf(`replica_of: "server3:%d"`, p[2]), 1)
		res, err := Verify(ctx, harnessEnv(t, parseInv(t, text), c.Password), VerifyInput{NoCanary: true})
		if err != nil {
			t.Fatal(err)
		}
		want(t, res.Checks, check.IDInventoryMatch, addrs[3], report.Fail, addrs[3], "follows "+addrs[1], fmt.Sprintf("replica_of server3:%d", p[2]))
	})

	t.Run("open slot", func(t *testing.T) {
		target, err := c.Client(2).ClusterMyID(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Client(2).Do(ctx, "CLUSTER", "SETSLOT", 200, "IMPORTING", mustID(t, c.Client(0).ClusterMyID(ctx).Result)).Err(); err != nil {
			t.Fatal(err)
		}
		defer c.Client(2).Do(ctx, "CLUSTER", "SETSLOT", 200, "STABLE")
		if err := c.Client(0).Do(ctx, "CLUSTER", "SETSLOT", 200, "MIGRATING", target).Err(); err != nil {
			t.Fatal(err)
		}
		defer c.Client(0).Do(ctx, "CLUSTER", "SETSLOT", 200, "STABLE")
		res, err := Verify(ctx, env, VerifyInput{NoCanary: true})
		if err != nil {
			t.Fatal(err)
		}
		want(t, res.Checks, check.IDSlotsOpen, addrs[0], report.Fail, "slot 200 migrating to "+addrs[2])
		want(t, res.Checks, check.IDSlotsOpen, addrs[2], report.Fail, "slot 200 importing from "+addrs[0])
		if res.Outcome() != report.OutcomeFail {
			t.Errorf("outcome %s", res.Outcome())
		}
	})

	t.Run("uncovered slot", func(t *testing.T) {
		// The owner forgets the slot first, so that nobody gossips it back.
		for i := range c.Nodes {
			if err := c.Client(i).Do(ctx, "CLUSTER", "DELSLOTS", 300).Err(); err != nil && i == 0 {
				t.Fatal(err)
			}
		}
		res, err := Verify(ctx, env, VerifyInput{NoCanary: true})
		if err != nil {
			t.Fatal(err)
		}
		ck := want(t, res.Checks, check.IDSlotsCoverage, "", report.Fail, "16383 of 16384", "unowned: 300")
		if ck.Observed != 16383 {
			t.Errorf("observed %v", ck.Observed)
		}
		if err := c.Client(0).ClusterAddSlots(ctx, 300).Err(); err != nil {
			t.Fatal(err)
		}
		c.WaitConverged(t)
	})

	t.Run("node down", func(t *testing.T) {
		stopped := c.Nodes[5]
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := stopped.Stop(sctx); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		endpoints := filepath.Join(t.TempDir(), EndpointsName)
		res, err := Verify(ctx, env, VerifyInput{NoCanary: true, EndpointsFile: endpoints})
		if err != nil {
			t.Fatal(err)
		}
		// The stopped replica is no endpoint; the file is written even
		// though verify fails.
		e := checkEndpoints(t, c, res, endpoints, start, 3, 2)
		for _, ep := range e.Replicas {
			if ep.Address == stopped.Addr {
				t.Errorf("stopped node %s listed as an endpoint", stopped.Addr)
			}
		}
		if d := time.Since(start); d > wallLimit {
			t.Errorf("verify with a node down took %s", d)
		}
		want(t, res.Checks, check.IDReachable, stopped.Addr, report.Fail, stopped.Addr)
		if res.Outcome() != report.OutcomeFail {
			t.Errorf("outcome %s", res.Outcome())
		}
		// Validate says the same, on both ports.
		vres, err := Validate(ctx, env, ValidateInput{})
		if err != nil {
			t.Fatal(err)
		}
		want(t, vres.Checks, check.IDReachable, stopped.Addr, report.Fail, stopped.Addr, "connection refused")
		want(t, vres.Checks, check.IDBusPort, stopped.Addr, report.Fail, stopped.Addr)
	})
}

// checkEndpoints reads the endpoints file verify wrote and checks it
// against what the nodes themselves say: every master's slots (CLUSTER
// SLOTS), every replica's master (INFO replication) and the outputs.
func checkEndpoints(t *testing.T, c *sandboxtest.Cluster, res Result, path string, before time.Time, masters, replicas int) Endpoints {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var e Endpoints
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	if e.FormatVersion != EndpointsFormatVersion || e.Cluster != "test" || e.Fingerprint != res.Fingerprint ||
		e.TakenAt.Before(before.Add(-time.Second)) || time.Since(e.TakenAt) > time.Minute {
		t.Errorf("endpoints header: version %q cluster %q fingerprint %q (report %q) taken %s", e.FormatVersion, e.Cluster, e.Fingerprint, res.Fingerprint, e.TakenAt)
	}
	if len(e.Masters) != masters || len(e.Replicas) != replicas {
		t.Fatalf("%d masters, %d replicas, want %d and %d:\n%s", len(e.Masters), len(e.Replicas), masters, replicas, data)
	}
	ctx := ctxT(t)
	owned := ownedSlots(t, c)
	var all cluster.SlotSet
	var addrs []string
	for _, m := range e.Masters {
		got, want := cluster.NewSlotSet(m.Slots...), owned[m.Address]
		if got.String() != want.String() || m.Master != "" || len(m.ID) != 40 || !strings.HasPrefix(m.Server, "server") {
			t.Errorf("master %+v: slots %s, CLUSTER SLOTS says %s", m, got.String(), want.String())
		}
		all.Union(&got)
		addrs = append(addrs, m.Address)
	}
	if all.Len() != cluster.NumSlots {
		t.Errorf("masters hold %d slots, want all %d", all.Len(), cluster.NumSlots)
	}
	byAddr := map[string]int{}
	for i, n := range c.Nodes {
		byAddr[n.Addr] = i
	}
	for _, r := range e.Replicas {
		info, err := c.Client(byAddr[r.Address]).Info(ctx, "replication").Result()
		if err != nil {
			t.Fatal(err)
		}
		host := regexp.MustCompile(`master_host:(\S+)`).FindStringSubmatch(info)
		port := regexp.MustCompile(`master_port:(\d+)`).FindStringSubmatch(info)
		if host == nil || port == nil || r.Master != host[1]+":"+port[1] {
			t.Errorf("replica %s: master %q, INFO replication says %v:%v", r.Address, r.Master, host, port)
			continue
		}
		got, want := cluster.NewSlotSet(r.Slots...), owned[r.Master]
		if got.String() != want.String() {
			t.Errorf("replica %s lists slots %s, its master owns %s", r.Address, got.String(), want.String())
		}
	}
	if res.Outputs["endpoints-file"] != path || res.Outputs["masters"] != strings.Join(addrs, ",") || strings.Count(res.Outputs["replicas"], ":") != replicas {
		t.Errorf("outputs %v", res.Outputs)
	}
	want(t, res.Checks, IDEndpoints, "", report.Pass, path, fmt.Sprintf("%d masters, %d replicas", masters, replicas))
	return e
}

func mustID(t testing.TB, f func() (string, error)) string {
	t.Helper()
	id, err := f()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestVerifyBeforeJoinFails(t *testing.T) {
	inv := parseInv(t, crossYAML([]int{1, 2, 3, 4, 5, 6}, ""))
	// Nothing listens on ports 1-6: every node is unreachable, quickly.
	res, err := Verify(ctxT(t), harnessEnv(t, inv, "irrelevant-password-123"), VerifyInput{})
	if err != nil {
		t.Fatal(err)
	}
	want(t, res.Checks, check.IDClusterState, "", report.Fail, check.NotCreated)
	want(t, res.Checks, check.IDReachable, "127.0.0.1:1", report.Fail, "127.0.0.1:1")
}

func TestVerifyCancelled(t *testing.T) {
	inv := parseInv(t, crossYAML([]int{1, 2, 3, 4, 5, 6}, ""))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Verify(ctx, harnessEnv(t, inv, "x"), VerifyInput{}); err == nil {
		t.Fatal("verify with a cancelled context must return an error")
	}
	if _, err := Validate(ctx, harnessEnv(t, inv, "x"), ValidateInput{}); err == nil {
		t.Fatal("validate with a cancelled context must return an error")
	}
}
