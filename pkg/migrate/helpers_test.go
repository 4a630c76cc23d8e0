package migrate

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/plan"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// testCluster is a formed cluster plus one empty master that joined it.
type testCluster struct {
	*sandboxtest.Cluster
	extra   *sandboxtest.Cluster
	pool    *admin.Pool
	newAddr string
	newID   string
}

// all returns every node address, the new master last.
func (tc *testCluster) all() []string { return append(tc.Addrs(), tc.newAddr) }

// startWithEmptyMaster forms masters(+replicas) and adds one empty master,
// waiting until every node knows it and it reports cluster_state:ok.
func startWithEmptyMaster(t *testing.T, masters, replicas int) *testCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	c := sandboxtest.Start(t, masters+replicas, sandboxtest.Options{})
	c.Form(t, masters)
	extra := sandboxtest.Start(t, 1, sandboxtest.Options{Password: c.Password})
	tc := &testCluster{Cluster: c, extra: extra, newAddr: extra.Addrs()[0]}
	tc.pool = admin.NewPool(admin.Options{Password: c.Password})
	t.Cleanup(func() { _ = tc.pool.Close() })
	ctx := context.Background()
	if err := extra.Client(0).ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(c.Nodes[0].Port)).Err(); err != nil {
		t.Fatalf("MEET: %v", err)
	}
	id, err := extra.Client(0).ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	tc.newID = id
	tc.waitAgreed(t)
	return tc
}

// waitAgreed waits until every node knows every node, agrees on the slot
// map and reports cluster_state:ok.
func (tc *testCluster) waitAgreed(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		why := sandboxtest.Divergence(ctx, tc.pool, tc.all())
		if len(why) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("cluster did not converge: %v", why)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// observe observes every node of the test cluster.
func (tc *testCluster) observe(t *testing.T) *cluster.Snapshot {
	t.Helper()
	snap, err := tc.pool.Observe(context.Background(), tc.all())
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// assertNoOpenSlots fails when any node reports a migrating/importing slot.
func (tc *testCluster) assertNoOpenSlots(t *testing.T) {
	t.Helper()
	if open := FindOpen(tc.observe(t)); len(open) > 0 {
		t.Fatalf("open slots left: %+v", open)
	}
}

// owner returns the id of the node that owns slot, per node 0's own view.
func (tc *testCluster) ownerOf(t *testing.T, slot int) string {
	t.Helper()
	return tc.observe(t).Owners()[slot]
}

// handPlan moves n slots to the new master: the highest slots of each old
// master, in batches of batchSlots (no batch spans two moves' ranges).
func (tc *testCluster) handPlan(t *testing.T, n, batchSlots int) plan.Rebalance {
	t.Helper()
	snap := tc.observe(t)
	view := snap.View()
	var olds []cluster.Node
	for _, nd := range view {
		if nd.IsMaster() && nd.Slots.Len() > 0 {
			olds = append(olds, nd)
		}
	}
	p := plan.Rebalance{Fingerprint: cluster.Fingerprint(view)}
	for i, nd := range olds {
		take := n / len(olds)
		if i < n%len(olds) {
			take++
		}
		rs := nd.Slots.Ranges()
		last := rs[len(rs)-1]
		r := cluster.Range{Start: last.End - take + 1, End: last.End}
		if r.Start < last.Start {
			t.Fatalf("master %s has too few contiguous slots", nd.Addr)
		}
		p.Moves = append(p.Moves, plan.Move{From: nd.ID, To: tc.newID, FromAddr: nd.Addr, ToAddr: tc.newAddr, Range: r})
	}
	// Batches take batchSlots from every move in turn, as a planner would.
	cursor := make([]int, len(p.Moves))
	for i, m := range p.Moves {
		cursor[i] = m.Range.Start
	}
	for more := true; more; {
		more = false
		b := plan.Batch{Number: len(p.Batches) + 1}
		for i, m := range p.Moves {
			if cursor[i] > m.Range.End {
				continue
			}
			end := min(cursor[i]+batchSlots-1, m.Range.End)
			mm := m
			mm.Range = cluster.Range{Start: cursor[i], End: end}
			b.Moves = append(b.Moves, mm)
			cursor[i] = end + 1
			more = true
		}
		if len(b.Moves) > 0 {
			p.Batches = append(p.Batches, b)
		}
	}
	return p
}

// slotsOwnedBy counts the slots id owns in node 0's view.
func (tc *testCluster) slotsOwnedBy(t *testing.T, id string) int {
	t.Helper()
	n := 0
	for _, o := range tc.observe(t).Owners() {
		if o == id {
			n++
		}
	}
	return n
}

// fakeGate is a Gater whose answers a test sets.
type fakeGate struct {
	mu      sync.Mutex
	waitErr error
	waitD   gate.Decision
	cur     gate.Decision
	waits   int
}

func (f *fakeGate) Wait(ctx context.Context) (gate.Decision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits++
	return f.waitD, f.waitErr
}

func (f *fakeGate) Current() gate.Decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

func (f *fakeGate) setCurrent(d gate.Decision) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cur = d
}

// rangePlan moves r from node i (a formed master) to the new master, in
// batches of batchSlots.
func (tc *testCluster) rangePlan(t *testing.T, i int, r cluster.Range, batchSlots int) plan.Rebalance {
	t.Helper()
	snap := tc.observe(t)
	src := snap.Nodes[tc.Addrs()[i]].ID
	p := plan.Rebalance{Fingerprint: cluster.Fingerprint(snap.View())}
	m := plan.Move{From: src, To: tc.newID, FromAddr: tc.Addrs()[i], ToAddr: tc.newAddr, Range: r}
	p.Moves = []plan.Move{m}
	for s := r.Start; s <= r.End; s += batchSlots {
		mm := m
		mm.Range = cluster.Range{Start: s, End: min(s+batchSlots-1, r.End)}
		p.Batches = append(p.Batches, plan.Batch{Number: len(p.Batches) + 1, Moves: []plan.Move{mm}})
	}
	return p
}

// keysIn counts the keys key:0..n-1 whose slot is in r.
func keysIn(n int, rs ...cluster.Range) int64 {
	set := cluster.NewSlotSet(rs...)
	var c int64
	for i := range n {
		if set.Has(cluster.KeySlot(sandboxtest.Key(i))) {
			c++
		}
	}
	return c
}

func describe(p plan.Rebalance) string {
	var b strings.Builder
	for _, m := range p.Moves {
		fmt.Fprintf(&b, "%s->%s %s; ", m.FromAddr, m.ToAddr, m.Range)
	}
	return b.String()
}

// span is the n slots from first on.
func span(first, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = first + i
	}
	return s
}
