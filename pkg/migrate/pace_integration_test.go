package migrate

import (
	"context"
	"fmt"
	"slices"
	"sync"
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sm := newSourceMove(ctx, t)
	const budget = 20 * time.Millisecond
	// MaxRest 32, not the default 512: on a busy machine the burn may keep
	// the source over budget for many windows, and at the deepest rest the
	// 48,000 keys would outlast the test's two minutes. The test is about
	// the direction of the pace, not its floor.
	pacer := NewPacer(monitorSource{sm.mon}, PacerOptions{BudgetP99: budget, Window: 100 * time.Millisecond, Settle: 500 * time.Millisecond, MaxRest: 32})

	// Slow the source until told to stop (at most 30s).
	stopBurn := slowDown(ctx, sm.tc, sm.src, 30*time.Second)
	defer stopBurn()
	waitSlow(t, sm.mon, sm.src, budget)

	moved := sm.start(ctx, t, pacer)
	waitFor(t, 20*time.Second, "the pacer to slow down", func() bool { return slowedTo(pacer.History(sm.src), 1) })
	time.Sleep(500 * time.Millisecond) // the node stays slow for a while
	if err := stopBurn(); err != nil {
		t.Fatalf("slowing the source: %v", err)
	}
	burnEnd := time.Now()
	t.Logf("the source is fast again from %s", burnEnd.Format("15:04:05.000"))

	st, err := moved()
	if err != nil {
		t.Fatalf("move: %v", err)
	}
	h := pacer.History(sm.src)
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
	sm.assertMovedAll(t, st)
}

// TestPacerDipsOnSlowSource: with its steady floor below its slowest
// pace, a pacer fed by the real PING probe of a source made slow on purpose
// must dip below the floor rather than stop there, and once the source is
// fast again end the dip on readings within budget, halving its rest back
// to the floor rather than climbing off it a step at a time; it must count
// the time dipped, and stop counting once the dip is over.
func TestPacerDipsOnSlowSource(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sm := newSourceMove(ctx, t)
	const budget = 20 * time.Millisecond
	// A floor of 1 and a slowest pace of 8, not the defaults' 128 and
	// 512: the same rules at rests a two-minute test can move through.
	const floor, slowest = 1, 8
	pacer := NewPacer(monitorSource{sm.mon}, PacerOptions{BudgetP99: budget, Window: 100 * time.Millisecond, Settle: 500 * time.Millisecond,
		SteadyRest: floor, MaxRest: slowest})

	stopBurn := slowDown(ctx, sm.tc, sm.src, 30*time.Second)
	defer stopBurn()
	waitSlow(t, sm.mon, sm.src, budget)

	moved := sm.start(ctx, t, pacer)
	// The source stays slow until the pacer has cut past the floor down
	// to the slowest pace, so that the dip ends in more than one step.
	waitFor(t, 25*time.Second, "the pacer to dip to its slowest pace", func() bool { return slowedTo(pacer.History(sm.src), slowest) })
	if err := stopBurn(); err != nil {
		t.Fatalf("slowing the source: %v", err)
	}
	burnEnd := time.Now()
	dippedAtEnd := pacer.Summary().Dipped
	st, err := moved()
	if err != nil {
		t.Fatalf("move: %v", err)
	}

	h := pacer.History(sm.src)
	var ended bool
	for i, pc := range h {
		t.Logf("%s %-6s keys %4d rest %4.2f used %.2f exhausted=%v", pc.At.Format("15:04:05.000"), pc.Verdict, pc.Keys, pc.Rest, pc.BudgetUsed, pc.Exhausted)
		if i == 0 || h[i-1].Rest <= floor || pc.Verdict != VerdictFaster {
			continue
		}
		// A raise from a dip: half the rest, down to the floor at most.
		if want := max(floor, h[i-1].Rest/2); pc.Rest != want {
			t.Errorf("%s: raised from rest %g to %g, want %g", pc.At.Format("15:04:05.000"), h[i-1].Rest, pc.Rest, want)
		}
		if pc.At.After(burnEnd) && pc.Rest == floor {
			ended = true
		}
	}
	if !ended {
		t.Errorf("the dip did not end at the floor once the source was fast again (from %s)", burnEnd.Format("15:04:05.000"))
	}
	if last := h[len(h)-1]; last.Rest > floor {
		t.Errorf("the move ended below the floor, resting %g (floor %d)", last.Rest, floor)
	}
	sum := pacer.Summary()
	if sum.Dipped < dippedAtEnd || dippedAtEnd <= 0 {
		t.Errorf("time below the floor: %v when the source was fast again, %v at the end; want more than 0 and not less", dippedAtEnd, sum.Dipped)
	}
	time.Sleep(100 * time.Millisecond)
	if again := pacer.Summary().Dipped; again != sum.Dipped {
		t.Errorf("time below the floor grew from %v to %v after the move had ended", sum.Dipped, again)
	}
	t.Logf("below the floor %v, exhausted %v", sum.Dipped, sum.Exhausted)
	sm.assertMovedAll(t, st)
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

	// Slow the target, for at most 30s.
	stopBurn := slowDown(ctx, tc, dst, 30*time.Second)
	defer stopBurn()
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
	berr := stopBurn()
	<-moved
	if berr != nil {
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
	assertMovedAll(t, tc, st, r, perSlot, before, dst)
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

// slowDown keeps addr's event loop busy 40ms of every 60ms, as a slow
// command or a CPU-starved node would, until the returned stop is called,
// ctx ends or limit passes. stop waits for the last burn to return and
// returns the error that ended the slowing, if any; it may be called more
// than once.
func slowDown(ctx context.Context, tc *testCluster, addr string, limit time.Duration) (stop func() error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	done := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := tc.pool.Client(addr).Eval(ctx, burnScript, nil, 40_000).Err(); err != nil && ctx.Err() == nil {
				done <- err
				return
			}
			_ = sleep(ctx, 20*time.Millisecond)
		}
		done <- nil
	}()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
}

// sourceMove is the set-up of the tests that slow a source on purpose: a
// move of slots 0-15, loaded with perSlot keys each, from the first of two
// masters to an empty third, with a gate monitor probing the source.
type sourceMove struct {
	tc       *testCluster
	src, dst string
	m        plan.Move
	before   int64 // keys over the masters before the move
	mon      *gate.Monitor
}

// sourcePerSlot keys in each of 16 slots outlast several of the pacer's
// windows even at full pace.
const sourcePerSlot = 3000

// newSourceMove starts the cluster, loads the source and starts its probe,
// which stops with ctx or the test.
func newSourceMove(ctx context.Context, t *testing.T) *sourceMove {
	t.Helper()
	tc := startWithEmptyMaster(t, 2, 0)
	sm := &sourceMove{tc: tc, src: tc.Addrs()[0], dst: tc.newAddr}
	snap := tc.observe(t)
	r := cluster.Range{Start: 0, End: 15}
	requireOwned(t, snap, sm.src, r)
	loadSlots(t, tc, sm.src, r, sourcePerSlot)
	sm.before = tc.dbsizeSum(t)
	sm.m = plan.Move{From: snap.Nodes[sm.src].ID, To: tc.newID, FromAddr: sm.src, ToAddr: sm.dst, Range: r}
	sm.mon = gate.NewMonitor(tc.pool, []string{sm.src}, nil, gate.MonitorOptions{Window: 500 * time.Millisecond})
	sm.mon.Start(ctx)
	t.Cleanup(sm.mon.Close)
	return sm
}

// start runs the move with pacer in the background; the returned wait
// waits for it to end.
func (sm *sourceMove) start(ctx context.Context, t *testing.T, pacer *Pacer) (wait func() (Stats, error)) {
	l := NewLegacy(sm.tc.pool, sm.tc.all(), LegacyOptions{Pacer: pacer})
	t.Cleanup(l.Close)
	done := make(chan struct{})
	var st Stats
	var err error
	go func() {
		defer close(done)
		st, err = l.Move(ctx, sm.m, Control{})
	}()
	return func() (Stats, error) {
		<-done
		return st, err
	}
}

// assertMovedAll checks that the move brought every key to its target and
// closed every slot.
func (sm *sourceMove) assertMovedAll(t *testing.T, st Stats) {
	t.Helper()
	assertMovedAll(t, sm.tc, st, sm.m.Range, sourcePerSlot, sm.before, sm.dst)
}

// assertMovedAll checks that a move of r, loaded with perSlot keys a slot,
// brought every key to dst and closed every slot: st counts them, the
// masters hold as many keys as before, dst as many per slot, and no slot
// is left open.
func assertMovedAll(t *testing.T, tc *testCluster, st Stats, r cluster.Range, perSlot int, before int64, dst string) {
	t.Helper()
	if want := int64(perSlot * r.Len()); st.Keys != want || st.Slots != r.Len() {
		t.Errorf("moved %d keys and closed %d slots, want %d and %d", st.Keys, st.Slots, want, r.Len())
	}
	if after := tc.dbsizeSum(t); after != before {
		t.Errorf("DBSIZE summed over the masters: %d before, %d after", before, after)
	}
	for s := r.Start; s <= r.End; s++ {
		n, err := tc.pool.Client(dst).ClusterCountKeysInSlot(context.Background(), s).Result()
		if err != nil || n != int64(perSlot) {
			t.Errorf("slot %d on the target: %d keys (%v), want %d", s, n, err, perSlot)
		}
	}
	tc.assertNoOpenSlots(t)
}
