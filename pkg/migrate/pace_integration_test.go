package migrate

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/plan"
)

// burnScript keeps the node's event loop busy for ARGV[1] microseconds, as
// a slow command or a CPU-starved node would.
const burnScript = `local t = redis.call('TIME')
local start = t[1] * 1000000 + t[2]
repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - start >= tonumber(ARGV[1])
return 1`

// monitorSource reads a gate monitor for a pacer, as the rebalance stage does.
type monitorSource struct{ mon *gate.Monitor }

func (m monitorSource) Latency(addr string) (time.Duration, time.Duration, time.Time, bool) {
	r := m.mon.Readings()
	l, ok := r.Latency[addr]
	return time.Duration(l.P99MS * float64(time.Millisecond)), time.Duration(l.AvgMS * float64(time.Millisecond)), r.Taken, ok && l.Samples > 0
}

// TestPacerSlowSource moves slots out of a node that is made slow on
// purpose for a while, with a pacer fed by the gate monitor's real PING
// probe: the pacer must slow down while the node is slow and speed up again
// after, and the move must still bring every key across with no slot left
// open.
func TestPacerSlowSource(t *testing.T) {
	tc := startWithEmptyMaster(t, 2, 0)
	src, dst := tc.Addrs()[0], tc.newAddr
	snap := tc.observe(t)
	r := cluster.Range{Start: 0, End: 15}
	requireOwned(t, snap, src, r)
	const perSlot = 3000
	loadSlots(t, tc, src, r, perSlot)
	before := tc.dbsizeSum(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mon := gate.NewMonitor(tc.pool, []string{src}, nil, gate.MonitorOptions{Window: 500 * time.Millisecond})
	mon.Start(ctx)
	defer mon.Close()
	const budget = 20 * time.Millisecond
	// MaxRest 32, not the default 128: on a busy machine the burn may keep
	// the source over budget for many windows, and at the deepest rest the
	// 48,000 keys would outlast the test's two minutes. The test is about
	// the direction of the pace, not its floor.
	pacer := NewPacer(monitorSource{mon}, PacerOptions{BudgetP99: budget, Window: 100 * time.Millisecond, Settle: 500 * time.Millisecond, MaxRest: 32})

	// Slow the source: 40ms of every 60ms busy, until told to stop (at most 30s).
	stopBurn := make(chan struct{})
	burnDone := make(chan struct{})
	var burnErr error
	go func() {
		defer close(burnDone)
		until := time.After(30 * time.Second)
		for {
			select {
			case <-stopBurn:
				return
			case <-until:
				return
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
			if err := tc.pool.Client(src).Eval(ctx, burnScript, nil, 40_000).Err(); err != nil {
				burnErr = err
				return
			}
		}
	}()
	waitSlow(t, mon, src, budget)

	l := NewLegacy(tc.pool, tc.all(), LegacyOptions{Pacer: pacer})
	defer l.Close()
	m := plan.Move{From: snap.Nodes[src].ID, To: tc.newID, FromAddr: src, ToAddr: dst, Range: r}
	moved := make(chan error, 1)
	var st Stats
	go func() {
		var err error
		st, err = l.Move(ctx, m, Control{})
		moved <- err
	}()
	waitFor(t, 20*time.Second, "the pacer to slow down", func() bool { return slowedTo(pacer.History(src), 1) })
	time.Sleep(500 * time.Millisecond) // the node stays slow for a while
	close(stopBurn)
	<-burnDone
	if burnErr != nil {
		t.Fatalf("slowing the source: %v", burnErr)
	}
	burnEnd := time.Now()
	t.Logf("the source is fast again from %s", burnEnd.Format("15:04:05.000"))

	if err := <-moved; err != nil {
		t.Fatalf("move: %v", err)
	}
	h := pacer.History(src)
	var slowBefore, fasterAfter bool
	for _, pc := range h {
		t.Logf("%s %-6s keys %4d depth %d rest %4.2f used %.2f exhausted=%v %.0f keys/s",
			pc.At.Format("15:04:05.000"), pc.Verdict, pc.Keys, pc.Depth, pc.Rest, pc.BudgetUsed, pc.Exhausted, pc.KeysPerSec)
		if pc.Verdict == VerdictSlower && pc.At.Before(burnEnd) && (pc.Keys < 100 || pc.Rest > 0) {
			slowBefore = true
		}
		if pc.Verdict == VerdictFaster && pc.At.After(burnEnd) {
			fasterAfter = true
		}
	}
	if !slowBefore {
		t.Error("the pacer did not slow down while the source was slow")
	}
	if !fasterAfter {
		t.Error("the pacer did not speed up once the source was fast again")
	}
	if want := int64(perSlot * r.Len()); st.Keys != want {
		t.Errorf("moved %d keys, want %d", st.Keys, want)
	}
	if st.Slots != r.Len() {
		t.Errorf("closed %d slots, want %d", st.Slots, r.Len())
	}
	if after := tc.dbsizeSum(t); after != before {
		t.Errorf("DBSIZE summed over the masters: %d before, %d after", before, after)
	}
	for s := r.Start; s <= r.End; s++ {
		n, err := tc.pool.Client(dst).ClusterCountKeysInSlot(ctx, s).Result()
		if err != nil || n != perSlot {
			t.Errorf("slot %d on the target: %d keys (%v), want %d", s, n, err, perSlot)
		}
	}
	tc.assertNoOpenSlots(t)
}

// TestPacerSlowTarget: a MIGRATE blocks its target too. With the source
// fast and the target made slow on purpose, the pacer, fed by the real
// PING probe of both, must slow the source down on the target's reading,
// and the move must still bring every key across with no slot left open.
func TestPacerSlowTarget(t *testing.T) {
	tc := startWithEmptyMaster(t, 2, 0)
	src, dst := tc.Addrs()[0], tc.newAddr
	snap := tc.observe(t)
	r := cluster.Range{Start: 0, End: 7}
	// Enough keys that the move outlasts several of the pacer's windows even
	// when the burner leaves the target room (with 1,000 it sometimes ended
	// before the first decision).
	const perSlot = 3000
	loadSlots(t, tc, src, r, perSlot)
	before := tc.dbsizeSum(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mon := gate.NewMonitor(tc.pool, []string{src, dst}, nil, gate.MonitorOptions{Window: 500 * time.Millisecond})
	mon.Start(ctx)
	defer mon.Close()
	// The source waits on the slow target inside each MIGRATE, so its
	// own p99 rises too; its budget is out of reach so that only the
	// target's reading can slow it.
	const budget = 20 * time.Millisecond
	// MaxRest 4: the test is about whose reading cuts, and a deep rest
	// only makes the move (and the test) longer.
	pacer := NewPacer(monitorSource{mon}, PacerOptions{BudgetP99: budget, Window: 100 * time.Millisecond, Settle: 500 * time.Millisecond, MaxRest: 4,
		BudgetFor: func(a string) (time.Duration, time.Duration, bool) {
			if a == src {
				return time.Hour, 0, true
			}
			return budget, 0, true
		}})

	// Slow the target: 40ms of every 60ms busy, for at most 30s.
	burnCtx, stopBurn := context.WithTimeout(ctx, 30*time.Second)
	defer stopBurn()
	burnDone := make(chan error, 1)
	go func() {
		for burnCtx.Err() == nil {
			if err := tc.pool.Client(dst).Eval(burnCtx, burnScript, nil, 40_000).Err(); err != nil && burnCtx.Err() == nil {
				burnDone <- err
				return
			}
			_ = sleep(burnCtx, 20*time.Millisecond)
		}
		burnDone <- nil
	}()
	waitSlow(t, mon, dst, budget)

	l := NewLegacy(tc.pool, tc.all(), LegacyOptions{Pacer: pacer})
	defer l.Close()
	m := plan.Move{From: snap.Nodes[src].ID, To: tc.newID, FromAddr: src, ToAddr: dst, Range: r}
	moved := make(chan struct{})
	var st Stats
	var err error
	go func() {
		defer close(moved)
		st, err = l.Move(ctx, m, Control{})
	}()
	// The target stays slow until the pacer has cut on its reading (or the
	// move ends), so the move does not crawl through the whole burn.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-moved:
		default:
			if !slices.ContainsFunc(pacer.History(src), func(pc Pace) bool { return pc.Verdict == VerdictSlower && pc.Node == dst }) {
				continue
			}
		}
		break
	}
	stopBurn()
	<-moved
	if berr := <-burnDone; berr != nil {
		t.Fatalf("slowing the target: %v", berr)
	}
	if err != nil {
		t.Fatalf("move: %v", err)
	}
	var onTarget bool
	for _, pc := range pacer.History(src) {
		t.Logf("%s %-6s on %s keys %4d depth %d rest %4.2f used %.2f", pc.At.Format("15:04:05.000"), pc.Verdict, pc.Node, pc.Keys, pc.Depth, pc.Rest, pc.BudgetUsed)
		switch {
		case pc.Verdict == VerdictSlower && pc.Node == dst:
			onTarget = true
		case pc.Verdict == VerdictSlower:
			t.Errorf("slowed down on %s, whose budget is out of reach", pc.Node)
		}
	}
	if !onTarget {
		t.Error("the pacer never slowed the source down on its slow target's reading")
	}
	if want := int64(perSlot * r.Len()); st.Keys != want || st.Slots != r.Len() {
		t.Errorf("moved %d keys and closed %d slots, want %d and %d", st.Keys, st.Slots, want, r.Len())
	}
	if after := tc.dbsizeSum(t); after != before {
		t.Errorf("DBSIZE summed over the masters: %d before, %d after", before, after)
	}
	tc.assertNoOpenSlots(t)
}

// waitSlow waits until mon reads addr's p99 over budget.
func waitSlow(t *testing.T, mon *gate.Monitor, addr string, budget time.Duration) {
	t.Helper()
	waitFor(t, 10*time.Second, "the probe to see "+addr+" slow", func() bool {
		p99, _, _, ok := monitorSource{mon}.Latency(addr)
		return ok && p99 > budget
	})
}

// slowedTo reports whether h went down to a rest of at least rest.
func slowedTo(h []Pace, rest float64) bool {
	for _, pc := range h {
		if pc.Verdict == VerdictSlower && pc.Rest >= rest {
			return true
		}
	}
	return false
}

// loadSlots writes perSlot keys into each slot of r on addr, with hash tags.
func loadSlots(t *testing.T, tc *testCluster, addr string, r cluster.Range, perSlot int) {
	t.Helper()
	ctx := context.Background()
	tags := slotTags(r)
	for s := r.Start; s <= r.End; s++ {
		for start := 0; start < perSlot; start += 500 {
			var kv []any
			for i := start; i < min(start+500, perSlot); i++ {
				kv = append(kv, fmt.Sprintf("{%s}:%d", tags[s], i), i)
			}
			if err := tc.pool.Client(addr).MSet(ctx, kv...).Err(); err != nil {
				t.Fatalf("loading slot %d: %v", s, err)
			}
		}
	}
}

// dbsizeSum sums DBSIZE over every master, the new one included.
func (tc *testCluster) dbsizeSum(t *testing.T) int64 {
	t.Helper()
	var sum int64
	for _, a := range tc.all() {
		n, err := tc.pool.Client(a).DBSize(context.Background()).Result()
		if err != nil {
			t.Fatalf("DBSIZE %s: %v", a, err)
		}
		sum += n
	}
	return sum
}

// waitFor polls cond every 20ms until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
