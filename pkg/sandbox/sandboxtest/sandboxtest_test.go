package sandboxtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
)

func TestFormLoadCheck(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	c := Start(t, 6, Options{})
	started := time.Since(t0)
	c.Form(t, 3)
	t.Logf("start 6 nodes: %s, start+form 3+3: %s", started, time.Since(t0))

	ctx := context.Background()
	// Masters own the even split; replica j follows master (j+1)%3.
	ids := make([]string, 6)
	for i := range ids {
		id, err := c.Client(i).ClusterMyID(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	text, err := c.Client(0).ClusterNodes(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := cluster.ParseNodes(text)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]cluster.Node{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	wantSlots := []string{"0-5460", "5461-10921", "10922-16383"}
	for i := range 3 {
		n := byID[ids[i]]
		if !n.IsMaster() || n.Slots.String() != wantSlots[i] {
			t.Errorf("node %d: flags %v slots %q, want master with %s", i, n.Flags, n.Slots.String(), wantSlots[i])
		}
	}
	for j := range 3 {
		n := byID[ids[3+j]]
		if want := ids[(j+1)%3]; !n.IsReplica() || n.MasterID != want {
			t.Errorf("replica %d: flags %v master %s, want replica of node %d (%s)", j, n.Flags, n.MasterID, (j+1)%3, want)
		}
	}
	epochs := map[int64]bool{}
	for _, n := range nodes {
		if n.IsMaster() {
			epochs[n.ConfigEpoch] = true
		}
	}
	if len(epochs) != 3 {
		t.Errorf("master config epochs not distinct: %v", epochs)
	}

	t1 := time.Now()
	if got := c.Load(t, 10000, 64); got != 10000 {
		t.Fatalf("Load returned %d", got)
	}
	t.Logf("load 10000 keys: %s", time.Since(t1))
	var total int64
	for i := range 3 {
		n, err := c.Client(i).DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n < 3000 {
			t.Errorf("master %d holds %d keys; want about a third of 10000", i, n)
		}
		total += n
	}
	if total != 10000 {
		t.Errorf("masters hold %d keys, want 10000", total)
	}
	c.CheckKeys(t, 10000, 64)
	out := c.RedisCLICheck(t)
	if !strings.Contains(out, "[OK] All nodes agree about slots configuration.") || !strings.Contains(out, "10000 keys in 3 masters") || strings.Count(out, "| 1 slaves.") != 3 {
		t.Errorf("redis-cli --cluster check output:\n%s", out)
	}
}

// CheckKeys must notice a missing and a changed key.
func TestCheckKeysDetectsDamage(t *testing.T) {
	t.Parallel()
	c := Start(t, 3, Options{})
	c.Form(t, 3)
	c.Load(t, 100, 16)
	ctx := context.Background()
	cc := c.ClusterClient()
	if err := cc.Del(ctx, Key(7)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cc.Set(ctx, Key(9), "changed", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{TB: t}
	c.CheckKeys(rec, 100, 16)
	msg := strings.Join(rec.errs, "\n")
	if !strings.Contains(msg, "2 of 100 keys bad") || !strings.Contains(msg, "key:7: missing") || !strings.Contains(msg, "key:9: wrong value") {
		t.Errorf("CheckKeys reported %q", msg)
	}
}

func TestValueDeterministic(t *testing.T) {
	a, b := Value(42, 100), Value(42, 100)
	if string(a) != string(b) || len(a) != 100 || !strings.HasPrefix(string(a), "42:") {
		t.Errorf("Value(42,100) = %q / %q", a, b)
	}
	if string(Value(43, 100)) == string(a) {
		t.Error("Value(43) == Value(42)")
	}
	if len(Value(123456, 3)) != 3 {
		t.Error("Value must honour size even below the prefix length")
	}
}

func TestStartTen(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	c := Start(t, 10, Options{})
	c.Form(t, 5)
	d := time.Since(t0)
	t.Logf("start+form 10 nodes (5+5): %s", d)
	if d > 10*time.Second {
		t.Errorf("start+form 10 nodes took %s", d)
	}
	pids := map[int]bool{}
	for _, p := range c.Nodes {
		pids[p.Pid] = true
	}
	if len(pids) != 10 {
		t.Errorf("want 10 distinct processes, got %d", len(pids))
	}
}

// recorder captures Errorf so a test can assert on what the harness reports.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmtS(format, args...))
}

func (r *recorder) Helper() {}

func fmtS(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func TestAddNodesThenWait(t *testing.T) {
	t.Parallel()
	c := Start(t, 3, Options{})
	c.Form(t, 3)
	added := c.AddNodes(t, 1)
	if len(added) != 1 || len(c.Nodes) != 4 || c.Nodes[3] != added[0] {
		t.Fatalf("AddNodes: %d added, %d nodes", len(added), len(c.Nodes))
	}
	ctx := context.Background()
	if err := c.Client(0).ClusterMeet(ctx, "127.0.0.1", fmt.Sprint(added[0].Port)).Err(); err != nil {
		t.Fatal(err)
	}
	c.WaitConverged(t)
	n, err := c.Client(3).ClusterInfo(ctx).Result()
	if err != nil || !strings.Contains(n, "cluster_known_nodes:4") || !strings.Contains(n, "cluster_state:ok") {
		t.Errorf("new node after WaitConverged: %v\n%s", err, n)
	}
}
