package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/migrate"
	"github.com/slotshift/slotshift/pkg/plan"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// rbSettings are generous gates and big batches: these tests are about
// moving slots, not throttling.
var rbSettings = sandboxtest.GenerousGates + "rebalance: {batch_slots: 1000, threshold_percent: 2}\n"

const (
	rbKeys      = 10000
	rbValueSize = 64
)

// rbRun runs one stage call with a bounded context, logs its checks and
// fails the test when the stage could not finish.
func rbRun(t *testing.T, what string, f func(ctx context.Context) (Result, error)) Result {
	t.Helper()
	return rbRunFor(t, what, 90*time.Second, f)
}

// rbRunFor is rbRun with its own bound.
func rbRunFor(t *testing.T, what string, bound time.Duration, f func(ctx context.Context) (Result, error)) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	t0 := time.Now()
	res, err := f(ctx)
	t.Logf("TIMING %s: %s", what, time.Since(t0).Round(time.Millisecond))
	for _, ch := range res.Checks {
		t.Logf("%s: check %s %s: %s", what, ch.ID, ch.Status, ch.Message)
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if bad := failures(res.Checks); len(bad) > 0 {
		t.Fatalf("%s: failed checks: %+v", what, bad)
	}
	return res
}

func rbRebalance(t *testing.T, c *sandboxtest.Cluster, inv string, in RebalanceInput, what string) Result {
	t.Helper()
	env := harnessEnv(t, parseInv(t, inv), c.Password)
	if in.Timeout == 0 {
		in.Timeout = 20 * time.Second
	}
	return rbRun(t, what, func(ctx context.Context) (Result, error) { return Rebalance(ctx, env, in) })
}

func rbJoin(t *testing.T, c *sandboxtest.Cluster, inv string) {
	t.Helper()
	env := harnessEnv(t, parseInv(t, inv), c.Password)
	rbRun(t, "join", func(ctx context.Context) (Result, error) { return Join(ctx, env, JoinInput{Timeout: 20 * time.Second}) })
	c.WaitConverged(t)
}

// rbMasters is node i's view of the masters, read straight from CLUSTER NODES.
func rbMasters(t *testing.T, c *sandboxtest.Cluster, i int) []cluster.Node {
	t.Helper()
	text, err := c.Client(i).ClusterNodes(context.Background()).Result()
	if err != nil {
		t.Fatalf("CLUSTER NODES on %s: %v", c.Nodes[i].Addr, err)
	}
	nodes, err := cluster.ParseNodes(text)
	if err != nil {
		t.Fatal(err)
	}
	var out []cluster.Node
	for _, n := range nodes {
		if n.IsMaster() {
			out = append(out, n)
		}
	}
	return out
}

// rbLayout is node i's view of every master's slots (address -> slot set text).
func rbLayout(t *testing.T, c *sandboxtest.Cluster, i int) map[string]string {
	out := map[string]string{}
	for _, n := range rbMasters(t, c, i) {
		out[n.Addr] = n.Slots.String()
	}
	return out
}

// rbCounts is node i's view of every master's slot count.
func rbCounts(t *testing.T, c *sandboxtest.Cluster, i int) map[string]int {
	out := map[string]int{}
	for _, n := range rbMasters(t, c, i) {
		out[n.Addr] = n.Slots.Len()
	}
	return out
}

// rbWantBalanced asserts that exactly the masters in owners own slots, each
// within threshold percent of an even share, and that every other master
// owns none.
func rbWantBalanced(t *testing.T, counts map[string]int, owners []string, thresholdPct float64) {
	t.Helper()
	share := float64(cluster.NumSlots) / float64(len(owners))
	slack := int(math.Ceil(share * thresholdPct / 100))
	total := 0
	for addr, n := range counts {
		total += n
		if !slices.Contains(owners, addr) {
			if n != 0 {
				t.Errorf("master %s owns %d slots, want 0", addr, n)
			}
			continue
		}
		if d := math.Abs(float64(n) - share); d > float64(slack) {
			t.Errorf("master %s owns %d slots, want %.0f ± %d", addr, n, share, slack)
		}
	}
	for _, a := range owners {
		if _, ok := counts[a]; !ok {
			t.Errorf("master %s missing from the cluster", a)
		}
	}
	if total != cluster.NumSlots {
		t.Errorf("masters own %d slots, want %d", total, cluster.NumSlots)
	}
}

func rbSnapshot(t *testing.T, c *sandboxtest.Cluster, inv, path string) plan.Layout {
	t.Helper()
	env := harnessEnv(t, parseInv(t, inv), c.Password)
	rbRun(t, "snapshot", func(ctx context.Context) (Result, error) {
		return Snapshot(ctx, env, SnapshotInput{Output: path})
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var l plan.Layout
	if err := json.Unmarshal(data, &l); err != nil {
		t.Fatalf("layout %s: %v", path, err)
	}
	return l
}

// rbLayoutMap turns a saved layout into address -> slot set text.
func rbLayoutMap(l plan.Layout) map[string]string {
	out := map[string]string{}
	for _, m := range l.Masters {
		var s cluster.SlotSet
		for _, r := range m.Ranges {
			for x := r.Start; x <= r.End; x++ {
				s.Add(x)
			}
		}
		out[m.Addr] = s.String()
	}
	return out
}

// rbSameLayout compares two layouts master by master. A master without
// slots counts as absent: Redis may turn a master that gave away its last
// slot into a replica.
func rbSameLayout(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	addrs := map[string]bool{}
	for addr := range got {
		addrs[addr] = true
	}
	for addr := range want {
		addrs[addr] = true
	}
	for addr := range addrs {
		if g, w := got[addr], want[addr]; g != w {
			t.Errorf("%s: master %s owns %q, want %q", what, addr, g, w)
		}
	}
}

// TestRebalanceThreeToFour grows 3 masters to 4 with keys: one batch with
// MaxBatches 1 (saved as a layout), then the rest; then rolls back to the
// one-batch layout and to the original one. Each rollback must give every
// master exactly the slots the saved layout names.
func TestRebalanceThreeToFour(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 6, sandboxtest.Options{NodeTimeoutMS: 1000})
	c.Form(t, 3)
	c.Load(t, rbKeys, rbValueSize)
	c.AddNodes(t, 1)
	p, a := ports(c), c.Addrs()
	old, newMaster := a[:3], a[6]
	// server4 has no replica: master_has_replica is a validate failure, not
	// an inventory error, so join and rebalance still act on it.
	inv4 := crossYAML(p[:6], sandboxtest.Server("server4", "", p[6], 0, "")+rbSettings)
	rbJoin(t, c, inv4)
	dir := t.TempDir()

	before := rbLayout(t, c, 0)
	saved := rbSnapshot(t, c, inv4, filepath.Join(dir, "before.json"))
	rbSameLayout(t, "saved layout", rbLayoutMap(saved), before)
	if before[newMaster] != "" {
		t.Fatalf("new master owns %q before the rebalance", before[newMaster])
	}

	// One batch only.
	res := rbRebalance(t, c, inv4, RebalanceInput{MaxBatches: 1}, "rebalance --max-batches 1")
	sec := res.Rebalance
	if sec == nil {
		t.Fatal("no rebalance section")
	}
	total := sec.Plan.Batches
	if total < 2 {
		t.Fatalf("plan has %d batches; the test needs at least 2", total)
	}
	if len(sec.Batches) != 1 || sec.BatchesRemaining != total-1 || sec.Done || res.Outputs["done"] != "false" {
		t.Errorf("after one batch: %d batches run, %d remaining of %d, done %v, output done=%q",
			len(sec.Batches), sec.BatchesRemaining, total, sec.Done, res.Outputs["done"])
	}
	if res.Outputs["batches-remaining"] != fmt.Sprint(total-1) {
		t.Errorf("output batches-remaining %q, want %d", res.Outputs["batches-remaining"], total-1)
	}
	batch1 := 0
	for _, m := range sec.Plan.Moves {
		if m.Batch == 1 {
			batch1 += m.End - m.Start + 1
		}
	}
	if got := rbCounts(t, c, 0)[newMaster]; got != batch1 || sec.SlotsMoved != batch1 || batch1 == 0 {
		t.Errorf("after one batch the new master owns %d slots, report says %d moved; batch 1 has %d", got, sec.SlotsMoved, batch1)
	}
	if open := c.OpenSlots(t); len(open) > 0 {
		t.Errorf("open slots after one batch: %v", open)
	}
	c.WaitConverged(t)
	partial := rbLayout(t, c, 0)
	savedPartial := rbSnapshot(t, c, inv4, filepath.Join(dir, "partial.json"))

	// The rest.
	res = rbRebalance(t, c, inv4, RebalanceInput{}, "rebalance 3 -> 4")
	if !res.Rebalance.Done || res.Outputs["done"] != "true" || res.Rebalance.BatchesRemaining != 0 || len(res.Rebalance.Batches) != total-1 {
		t.Errorf("rebalance not done: %d batches run, want %d; %+v outputs %v", len(res.Rebalance.Batches), total-1, res.Rebalance, res.Outputs)
	}
	want(t, res.Checks, IDBalanced, "", report.Pass)
	// The old masters have replicas: their keys were listed there.
	want(t, res.Checks, IDKeysListed, "", report.Pass, "listed and sized on replicas", a[3], a[4], a[5])
	if res.Rebalance.KeysMoved == 0 {
		t.Errorf("no key moved")
	}
	c.Healthy(t, rbKeys, rbValueSize)
	rbWantBalanced(t, rbCounts(t, c, 0), append(slices.Clone(old), newMaster), 2)
	again := rbRebalance(t, c, inv4, RebalanceInput{DryRun: true}, "plan after 3 -> 4")
	if again.Rebalance.Plan.SlotsToMove != 0 {
		t.Errorf("balanced cluster still has %d slots to move", again.Rebalance.Plan.SlotsToMove)
	}

	// Roll back to the layout saved after one batch, then to the original.
	res = rbRebalance(t, c, inv4, RebalanceInput{TargetLayout: &savedPartial}, "rollback to the one-batch layout")
	want(t, res.Checks, IDBalanced, "", report.Pass)
	if res.Rebalance.SlotsMoved != cluster.NumSlots/4-batch1 {
		t.Errorf("rollback moved %d slots, want %d", res.Rebalance.SlotsMoved, cluster.NumSlots/4-batch1)
	}
	c.Healthy(t, rbKeys, rbValueSize)
	rbSameLayout(t, "after rollback to the one-batch layout", rbLayout(t, c, 0), partial)

	res = rbRebalance(t, c, inv4, RebalanceInput{TargetLayout: &saved}, "rollback to the original layout")
	want(t, res.Checks, IDBalanced, "", report.Pass)
	if res.Rebalance.SlotsMoved != batch1 {
		t.Errorf("rollback moved %d slots, want %d", res.Rebalance.SlotsMoved, batch1)
	}
	c.Healthy(t, rbKeys, rbValueSize)
	for i := range c.Nodes[:3] {
		rbSameLayout(t, fmt.Sprintf("after rollback, seen by %s", a[i]), rbLayout(t, c, i), before)
	}
	role, _ := c.Client(6).Do(context.Background(), "ROLE").Slice()
	t.Logf("emptied master %s now reports ROLE %v", newMaster, role)
	// Again: the layout is reached and nothing moves, although the saved
	// layout names the emptied master, which Redis may have turned into a
	// replica of a master that took its last slot.
	res = rbRebalance(t, c, inv4, RebalanceInput{TargetLayout: &saved}, "rollback again")
	if res.Rebalance.Plan.SlotsToMove != 0 || len(res.Rebalance.Batches) != 0 {
		t.Errorf("second rollback planned %d slots in %d batches, want none", res.Rebalance.Plan.SlotsToMove, len(res.Rebalance.Batches))
	}
}

// TestRebalanceThreeToFivePair adds server4 and server5 as a pair (each a
// master and a replica of the other's master, as in the seed), balances 5
// masters, drains server5 with weight 0, then drains both new servers by
// removing them from the inventory.
func TestRebalanceThreeToFivePair(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 6, sandboxtest.Options{NodeTimeoutMS: 1000})
	c.Form(t, 3)
	c.Load(t, rbKeys, rbValueSize)
	c.AddNodes(t, 4) // server4: 6 master, 7 replica; server5: 8 master, 9 replica
	p, a := ports(c), c.Addrs()
	old := a[:3]
	pair := func(w5 string) string {
		return crossYAML(p[:6],
			sandboxtest.Server("server4", "", p[6], p[7], fmt.Sprintf("server5:%d", p[8]))+
				sandboxtest.Server("server5", w5, p[8], p[9], fmt.Sprintf("server4:%d", p[6]))+
				rbSettings)
	}
	rbJoin(t, c, pair(""))
	joinWantRoles(t, c, 0, map[string]string{a[6]: "", a[8]: "", a[7]: a[8], a[9]: a[6]})

	res := rbRebalance(t, c, pair(""), RebalanceInput{}, "rebalance 3 -> 5")
	if !res.Rebalance.Done || len(res.Rebalance.Batches) != res.Rebalance.Plan.Batches {
		t.Errorf("ran %d of %d batches, done %v", len(res.Rebalance.Batches), res.Rebalance.Plan.Batches, res.Rebalance.Done)
	}
	want(t, res.Checks, IDBalanced, "", report.Pass)
	c.Healthy(t, rbKeys, rbValueSize)
	rbWantBalanced(t, rbCounts(t, c, 0), []string{a[0], a[1], a[2], a[6], a[8]}, 2)
	// The new masters' replicas hold their masters' keys.
	for _, r := range []int{7, 9} {
		n, err := c.Client(r).DBSize(context.Background()).Result()
		if err != nil || n == 0 {
			t.Errorf("replica %s of a new master holds %d keys (%v)", a[r], n, err)
		}
	}

	// weight: 0 on server5 drains its master.
	res = rbRebalance(t, c, pair("0"), RebalanceInput{}, "drain server5 (weight 0)")
	want(t, res.Checks, IDBalanced, "", report.Pass)
	c.Healthy(t, rbKeys, rbValueSize)
	rbWantBalanced(t, rbCounts(t, c, 0), []string{a[0], a[1], a[2], a[6]}, 2)

	// Servers missing from the inventory have weight 0: both drain.
	res = rbRebalance(t, c, crossYAML(p[:6], rbSettings), RebalanceInput{}, "drain server4 and server5 (removed)")
	want(t, res.Checks, IDBalanced, "", report.Pass)
	c.Healthy(t, rbKeys, rbValueSize)
	counts := rbCounts(t, c, 0)
	rbWantBalanced(t, counts, old, 2)
	if counts[a[6]] != 0 || counts[a[8]] != 0 {
		t.Errorf("removed servers' masters own %d and %d slots", counts[a[6]], counts[a[8]])
	}
}

// TestRebalanceRefusesUnreachableNode: with a node down, rebalance fails a
// check naming it, and moves nothing; a wrong password fails the same way.
func TestRebalanceRefusesUnreachableNode(t *testing.T) {
	c := sandboxtest.Start(t, 6, sandboxtest.Options{NodeTimeoutMS: 1000})
	c.Form(t, 3)
	inv := crossYAML(ports(c), rbSettings)
	before := rbLayout(t, c, 0)

	env := harnessEnv(t, parseInv(t, inv), "wrong-password-0123456789")
	res, err := Rebalance(ctxT(t), env, RebalanceInput{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("a wrong password must be a failed check, not an error: %v", err)
	}
	want(t, res.Checks, IDMembers, "", report.Fail, "authentication failed", c.Nodes[0].Addr)
	if res.Outcome() != report.OutcomeFail {
		t.Errorf("outcome %s, want fail", res.Outcome())
	}

	down := c.Nodes[5]
	if err := down.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	env = harnessEnv(t, parseInv(t, inv), c.Password)
	res, err = Rebalance(ctxT(t), env, RebalanceInput{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("a node down must be a failed check, not an error: %v", err)
	}
	want(t, res.Checks, IDMembers, "", report.Fail, "unreachable", down.Addr)
	if res.Rebalance.SlotsMoved != 0 {
		t.Errorf("moved %d slots with a node down", res.Rebalance.SlotsMoved)
	}
	rbSameLayout(t, "layout after a refused rebalance", rbLayout(t, c, 0), before)
	if err := down.Restart(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if open := c.OpenSlots(t); len(open) > 0 {
		t.Errorf("open slots after a refused rebalance: %v", open)
	}
}

// TestReportBatch checks how the executor's batch results read in the
// report: status per end state, the reason as the batch's own check, moves,
// times and the gate readings that let the batch in.
func TestReportBatch(t *testing.T) {
	started := time.Date(2026, 3, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	moves := []plan.Move{{From: "a", To: "d", FromAddr: "10.0.0.1:7000", ToAddr: "10.0.0.4:7000", Range: cluster.Range{Start: 0, End: 99}}}
	d := gate.Decide(gate.Readings{Masters: []string{"10.0.0.1:7000"}, Latency: map[string]gate.Latency{"10.0.0.1:7000": {AvgMS: 1, P99MS: 2.5, Samples: 10}}},
		inventory.Gates{LatencyP99MS: inventory.Threshold{Hold: 20, Abort: 200}})
	cases := []struct {
		state migrate.BatchState
		err   error
		want  report.Status
	}{
		{migrate.BatchDone, nil, report.Pass},
		{migrate.BatchHeld, fmt.Errorf("big key: %w", migrate.ErrHeld), report.Hold},
		{migrate.BatchStopped, fmt.Errorf("batch 3 stopped at a slot boundary: %w", migrate.ErrAborted), report.Skip},
		{migrate.BatchFailed, errors.New("MIGRATE slot 7: IOERR"), report.Error},
	}
	for _, c := range cases {
		t.Run(c.state.String(), func(t *testing.T) {
			b := reportBatch(migrate.BatchResult{Number: 3, StartedAt: started, Moves: moves, Stats: migrate.Stats{Slots: 100, Keys: 1000, Bytes: 64000},
				Duration: 1500 * time.Millisecond, Gate: d, State: c.state, Err: c.err})
			if b.Status != c.want || b.Number != 3 || b.Slots != 100 || b.Keys != 1000 || b.Bytes != 64000 || b.Duration != 1.5 || !b.StartedAt.Equal(started) || b.StartedAt.Location() != time.UTC {
				t.Errorf("batch %+v, want status %s", b, c.want)
			}
			want := []report.Move{{From: "10.0.0.1:7000", To: "10.0.0.4:7000", Start: 0, End: 99, Batch: 3}}
			if !slices.Equal(b.Moves, want) {
				t.Errorf("moves %+v, want %+v", b.Moves, want)
			}
			i := slices.IndexFunc(b.Gates, func(g report.GateReading) bool { return g.Gate == gate.GateLatencyP99 })
			if i < 0 || b.Gates[i] != (report.GateReading{Gate: gate.GateLatencyP99, Node: "10.0.0.1:7000", Value: 2.5, Hold: 20, Abort: 200, Decision: "proceed"}) {
				t.Errorf("gate readings %+v", b.Gates)
			}
			switch {
			case c.err == nil && len(b.Checks) != 0:
				t.Errorf("a finished batch has checks %+v", b.Checks)
			case c.err != nil && (len(b.Checks) != 1 || b.Checks[0].ID != IDBatch || b.Checks[0].Status != c.want || b.Checks[0].Message != c.err.Error() || b.Checks[0].Batch != 3):
				t.Errorf("checks %+v, want one %s check with the reason", b.Checks, c.want)
			}
		})
	}
}
