package migrate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// asmCluster is 3 masters with keys on a server with atomic migration;
// node 0's first range is what the tests move to node 1.
type asmCluster struct {
	*sandboxtest.Cluster
	pool  *admin.Pool
	proto Protocol
	ids   []string
	task  Task
}

const asmKeys = 3000

func startASM(t *testing.T, server, what string, proto Protocol) *asmCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts server processes")
	}
	bin := sandboxtest.ServerBin(t, server, what)
	c := sandboxtest.Start(t, 3, sandboxtest.Options{Bin: bin, Extra: map[string]string{"enable-debug-command": "yes"}})
	c.Form(t, 3)
	c.Load(t, asmKeys, 16)
	pool := admin.NewPool(admin.Options{Password: c.Password})
	t.Cleanup(func() { _ = pool.Close() })
	ac := &asmCluster{Cluster: c, pool: pool, proto: proto}
	for i := range 3 {
		id, err := c.Client(i).ClusterMyID(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		ac.ids = append(ac.ids, id)
	}
	a := c.Addrs()
	ac.task = Task{From: ac.ids[0], To: ac.ids[1], FromAddr: a[0], ToAddr: a[1], Ranges: []cluster.Range{{Start: 0, End: 999}}}
	return ac
}

// stall blocks the node that does not receive the start command for d, so
// that a task started now stays running: Redis' source, Valkey's target.
func (ac *asmCluster) stall(t *testing.T, d time.Duration) {
	t.Helper()
	addr := ac.task.FromAddr
	if ac.proto == ProtocolValkeyASM {
		addr = ac.task.ToAddr
	}
	go func() { _ = ac.pool.Client(addr).Do(context.Background(), "DEBUG", "SLEEP", d.Seconds()).Err() }()
	time.Sleep(100 * time.Millisecond)
}

// wantWhole fails unless one node owns all of the task's slots (in node
// 2's view, once the nodes agree) and every key reads back; it returns the
// owner's id.
func (ac *asmCluster) wantWhole(t *testing.T) string {
	t.Helper()
	ac.WaitConverged(t)
	nodes, err := ac.pool.ClusterNodes(context.Background(), ac.Addrs()[2])
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]int{}
	for _, n := range nodes {
		for _, s := range n.Slots.Slots() {
			if s <= 999 {
				owners[n.ID]++
			}
		}
	}
	if len(owners) != 1 {
		t.Fatalf("slots 0-999 split between owners: %v", owners)
	}
	if open := ac.OpenSlots(t); len(open) > 0 {
		t.Errorf("open slots: %v", open)
	}
	ac.CheckKeys(t, asmKeys, 16)
	for id := range owners {
		return id
	}
	return ""
}

func testAtomicMover(t *testing.T, server, what string, proto Protocol) {
	ac := startASM(t, server, what, proto)
	ctx := context.Background()
	a, err := NewAtomic(ac.pool, AtomicOptions{Protocol: proto})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	// A killed run's task: found on the next run, and cancelled whole.
	ac.stall(t, time.Second)
	if _, err := a.proto.start(ctx, ac.task); err != nil {
		t.Fatalf("start a task by hand: %v", err)
	}
	pending, err := PendingTasks(ctx, ac.pool, proto, ac.Addrs())
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending tasks %v (%v), want the one started", pending, err)
	}
	what2, err := SettlePending(ctx, ac.pool, pending, time.Minute, true)
	t.Logf("settle: %s (%v)", what2, err)
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := PendingTasks(ctx, ac.pool, proto, ac.Addrs()); len(left) > 0 {
		t.Errorf("still pending after settling: %v", left)
	}
	// Cancelled, or finished before the cancel arrived: whole either way.
	// The next steps move the range away from wherever it is.
	if owner := ac.wantWhole(t); owner == ac.ids[1] {
		a := ac.Addrs()
		ac.task = Task{From: ac.ids[1], To: ac.ids[0], FromAddr: a[1], ToAddr: a[0], Ranges: ac.task.Ranges}
		ac.ids[0], ac.ids[1] = ac.ids[1], ac.ids[0]
	}

	// An abort while the task runs cancels it: the source keeps the range.
	ac.stall(t, time.Second)
	errStop := errors.New("abort file appeared")
	polls := 0
	_, err = a.MoveTasks(ctx, []Task{ac.task}, TaskControl{Stop: func() error {
		if polls++; polls > 1 {
			return errStop
		}
		return nil
	}})
	if !errors.Is(err, errStop) {
		t.Fatalf("MoveTasks stopped: %v, want the stop reason", err)
	}
	if owner := ac.wantWhole(t); owner != ac.ids[0] {
		t.Errorf("after the cancel, slots 0-999 belong to %s, want the source %s", owner, ac.ids[0])
	}

	// A clean run moves the range whole and counts its keys.
	var progress Stats
	st, err := a.MoveTasks(ctx, []Task{ac.task}, TaskControl{Progress: func(d Stats) { progress.Add(d) }})
	if err != nil {
		t.Fatal(err)
	}
	if owner := ac.wantWhole(t); owner != ac.ids[1] {
		t.Errorf("after the move, slots 0-999 belong to %s, want the target %s", owner, ac.ids[1])
	}
	if want := keysIn(asmKeys, ac.task.Ranges...); st.Slots != 1000 || st.Keys != want || progress != st {
		t.Errorf("stats %+v (progress %+v), want 1000 slots and %d keys", st, progress, want)
	}
}

func TestAtomicMoverValkey(t *testing.T) {
	t.Parallel()
	testAtomicMover(t, "valkey", "Valkey >= 9.0", ProtocolValkeyASM)
}

func TestAtomicMoverRedis84(t *testing.T) {
	t.Parallel()
	testAtomicMover(t, "redis84", "Redis >= 8.4", ProtocolRedisASM)
}
