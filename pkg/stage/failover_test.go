package stage

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// fastFailover keeps a shard's run to a second or two on the sandbox.
var fastFailover = FailoverInput{Rate: 400, Settle: 300 * time.Millisecond, Timeout: 20 * time.Second}

// roles returns INFO replication's role of each node.
func roles(t *testing.T, c *sandboxtest.Cluster) []string {
	t.Helper()
	out := make([]string, len(c.Nodes))
	for i := range c.Nodes {
		info, err := c.Client(i).Info(context.Background(), "replication").Result()
		if err != nil {
			out[i] = "unreachable"
			continue
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "role:"); ok {
				out[i] = v
			}
		}
	}
	return out
}

// wantOriginalRoles asserts that nodes 0..2 lead and 3..5 follow, as Form
// built them.
func wantOriginalRoles(t *testing.T, c *sandboxtest.Cluster) {
	t.Helper()
	got := roles(t, c)
	for i, r := range got {
		want := "master"
		if i >= 3 {
			want = "slave"
		}
		if r != want && r != "unreachable" {
			t.Errorf("node %d (%s): role %s, want %s", i, c.Nodes[i].Addr, r, want)
		}
	}
}

func TestFailoverTestAllShards(t *testing.T) {
	c, inv := startCross(t)
	env := harnessEnv(t, inv, c.Password)

	res, err := FailoverTest(ctxT(t), env, fastFailover)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome() != report.OutcomePass || res.Failover == nil || len(res.Failover.Shards) != 3 {
		t.Fatalf("outcome %s, checks %+v", res.Outcome(), res.Checks)
	}
	if res.Failover.MaxWriteOutageMS != 5000 {
		t.Errorf("max write outage %v ms, want the default 5000", res.Failover.MaxWriteOutageMS)
	}
	for i, fs := range res.Failover.Shards {
		want(t, res.Checks, IDFailoverShard, fs.Master, report.Pass, "failed over to", "0 lost")
		t.Logf("MEASURED shard %s -> %s: write outage %.1f ms (failback %.1f ms), promotion %.1f ms, failback %.1f ms, %d acked, %d failed, %d lost",
			fs.Master, fs.Replica, fs.WriteOutageMS, fs.FailbackOutageMS, fs.PromotionMS, fs.FailbackMS, fs.WritesAcked, fs.WritesFailed, fs.WritesLost)
		if !slices.Contains(c.Addrs()[:3], fs.Master) || fs.Duration <= 0 || fs.Replica == "" || fs.KeyTag == "" || !fs.RolesRestored {
			t.Errorf("shard %d: %+v", i, fs)
		}
		if fs.WriteOutageMS <= 0 || fs.WriteOutageMS >= 5000 || fs.FailbackOutageMS <= 0 || fs.FailbackOutageMS >= 5000 {
			t.Errorf("shard %s: outage %.1f / %.1f ms, want measured and under 5000", fs.Master, fs.WriteOutageMS, fs.FailbackOutageMS)
		}
		if fs.PromotionMS <= 0 || fs.FailbackMS <= 0 || fs.WritesAcked == 0 || fs.WritesLost != 0 || fs.WritesStale != 0 {
			t.Errorf("shard %s: %+v", fs.Master, fs)
		}
	}
	if res.Outputs["shards"] != "3" || res.Outputs["shards-failed"] != "0" || res.Outputs["lost"] != "0" {
		t.Errorf("outputs %v", res.Outputs)
	}
	wantOriginalRoles(t, c)
	c.WaitConverged(t)
	for i := range 3 {
		if keys, err := c.Client(i).Keys(context.Background(), FailoverPrefix+"*").Result(); err != nil || len(keys) > 0 {
			t.Errorf("node %d: %d load keys left behind (%v)", i, len(keys), err)
		}
	}

	t.Run("one shard by inventory name", func(t *testing.T) {
		time.Sleep(c.FailoverCooldown()) // the shard failed over just now
		in := fastFailover
		in.Shards = []string{"server2:" + strings.Split(c.Nodes[1].Addr, ":")[1]}
		res, err := FailoverTest(ctxT(t), env, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Checks) != 1 || res.Checks[0].Node != c.Nodes[1].Addr || res.Checks[0].Status != report.Pass {
			t.Fatalf("checks %+v", res.Checks)
		}
		wantOriginalRoles(t, c)
	})

	// A drill straight after another on the same shard gets no votes (a
	// master votes about a master once per twice cluster-node-timeout);
	// Redis abandons the coordinated failover after 5 s and the drill must
	// send it again rather than wait out its whole timeout.
	t.Run("a drill straight after another resends the failover", func(t *testing.T) {
		// A 5 s node timeout makes the cooldown 10 s, so the drill above
		// (seconds ago) surely still blocks the first request.
		setNodeTimeout(t, c, "5000")
		defer setNodeTimeout(t, c, "1000")
		var logs sandboxtest.Output
		again := env
		again.Log = slog.New(slog.NewTextHandler(&logs, nil))
		in := fastFailover
		in.Timeout = 40 * time.Second
		in.Shards = []string{c.Nodes[1].Addr} // failed over just now, above
		res, err := FailoverTest(ctxT(t), again, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Checks) != 1 || !res.Failover.Shards[0].RolesRestored {
			t.Fatalf("checks %+v", res.Checks)
		}
		if !strings.Contains(logs.String(), "sending it again") {
			t.Errorf("the refused failover was not sent again:\n%s", logs.String())
		}
		wantOriginalRoles(t, c)
	})

	t.Run("an unknown shard is a usage error", func(t *testing.T) {
		in := fastFailover
		in.Shards = []string{c.Nodes[4].Addr} // a replica
		_, err := FailoverTest(ctxT(t), env, in)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "is a replica of") {
			t.Fatalf("error %v, want a usage error naming the master", err)
		}
	})

	t.Run("interrupted after the promotion restores the roles", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(ctxT(t))
		stop := errors.New("signal")
		in := fastFailover
		id, err := c.Client(0).ClusterMyID(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		in.Shards = []string{id} // by node id
		in.afterPromotion = func() { cancel(stop) }
		res, err := FailoverTest(ctx, env, in)
		if !errors.Is(err, stop) {
			t.Fatalf("error %v, want the context's cause", err)
		}
		fs := res.Failover.Shards[0]
		if !fs.RolesRestored || fs.PromotionMS <= 0 || !strings.Contains(fs.Problem, "interrupted; roles restored") {
			t.Errorf("shard %+v", fs)
		}
		want(t, res.Checks, IDFailoverShard, c.Nodes[0].Addr, report.Fail, "interrupted; roles restored")
		wantOriginalRoles(t, c)
	})
}

func TestFailoverTestRefusesShardWithoutHealthyReplica(t *testing.T) {
	c, inv := startCross(t)
	env := harnessEnv(t, inv, c.Password)
	epoch := func() string {
		info, err := c.Client(0).ClusterInfo(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(info, "cluster_current_epoch:")
		e, _, _ := strings.Cut(rest, "\r\n")
		return e
	}
	before := epoch()
	// Node 3 replicates node 1 (CrossInventory's layout).
	if err := c.Nodes[3].Kill(); err != nil {
		t.Fatal(err)
	}
	res, err := FailoverTest(ctxT(t), env, fastFailover)
	if err != nil {
		t.Fatal(err)
	}
	c1 := want(t, res.Checks, IDFailoverShard, c.Nodes[1].Addr, report.Fail,
		"shard "+c.Nodes[1].Addr, "refused, nothing done: no healthy replica", c.Nodes[3].Addr)
	if c1.Hint == "" || c1.Line == 0 {
		t.Errorf("refusal without hint or line: %+v", c1)
	}
	for _, i := range []int{0, 2} {
		want(t, res.Checks, IDFailoverShard, c.Nodes[i].Addr, report.Skip, "not run")
	}
	if res.Outcome() != report.OutcomeFail || len(res.Failover.Shards) != 1 || res.Failover.Shards[0].Refused == "" {
		t.Errorf("outcome %s, section %+v", res.Outcome(), res.Failover)
	}
	if after := epoch(); after != before {
		t.Errorf("cluster_current_epoch %s -> %s: something failed over", before, after)
	}
	wantOriginalRoles(t, c)
}

// setNodeTimeout sets cluster-node-timeout on every node of c.
func setNodeTimeout(t *testing.T, c *sandboxtest.Cluster, ms string) {
	t.Helper()
	for i := range c.Nodes {
		if err := c.Client(i).ConfigSet(context.Background(), "cluster-node-timeout", ms).Err(); err != nil {
			t.Fatal(err)
		}
	}
}
