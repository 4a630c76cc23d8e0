package stage

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// TestRebalanceWindow runs rebalance 3 -> 4 masters against a real cluster
// at three injected times: outside the window, too near its end for a
// batch, and well inside it.
func TestRebalanceWindow(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 6, sandboxtest.Options{NodeTimeoutMS: 1000})
	c.Form(t, 3)
	c.Load(t, 2000, rbValueSize)
	c.AddNodes(t, 1)
	p, a := ports(c), c.Addrs()
	// The variation gate (never red here) makes the run measure a
	// baseline first, so every reading is in by the first batch: green
	// readings then short-cut the gates' wait, which must still keep the
	// window.
	window := "  window: {start: \"02:00\", end: \"04:00\", timezone: UTC}\n" +
		"  latency_variation_percent: {hold: 100000, abort: 1000000}\n  baseline_window: 1s\n"
	inv := crossYAML(p[:6], sandboxtest.Server("server4", "", p[6], 0, "")+strings.Replace(rbSettings, "  hold_timeout: 30s\n", "  hold_timeout: 30s\n"+window, 1))
	rbJoin(t, c, inv)
	before := rbLayout(t, c, 0)

	run := func(now string, in RebalanceInput) Result {
		t.Helper()
		at, err := time.Parse(time.RFC3339, now)
		if err != nil {
			t.Fatal(err)
		}
		env := harnessEnv(t, parseInv(t, inv), c.Password)
		env.Now = func() time.Time { return at }
		in.Timeout = 20 * time.Second
		return rbRun(t, "rebalance at "+now, func(ctx context.Context) (Result, error) { return Rebalance(ctx, env, in) })
	}
	held := func(res Result, parts ...string) {
		t.Helper()
		if o := res.Outcome(); o != report.OutcomeHeld {
			t.Errorf("outcome %s, want held (exit 75)", o)
		}
		want(t, res.Checks, IDGates, "", report.Hold, parts...)
		if res.Rebalance.SlotsMoved != 0 || len(res.Rebalance.Batches) != 0 {
			t.Errorf("moved %d slots in %d batches while held", res.Rebalance.SlotsMoved, len(res.Rebalance.Batches))
		}
		rbSameLayout(t, "layout after a held run", rbLayout(t, c, 0), before)
	}

	t0 := time.Now()
	res := run("2026-12-03T10:21:00Z", RebalanceInput{})
	held(res, "outside the maintenance window", "opens at 2026-12-04T02:00:00Z")
	// The hold is immediate: the window opens long after hold_timeout.
	if el := time.Since(t0); el > 25*time.Second {
		t.Errorf("the held run took %s", el)
	}

	// 03:58: two minutes left, less than the first batch's 5-minute estimate.
	held(run("2026-12-03T03:58:00Z", RebalanceInput{}), "closes in 2m0s", "opens again at 2026-12-04T02:00:00Z")

	// 03:00: an hour left; one batch moves slots to the new master.
	res = run("2026-12-03T03:00:00Z", RebalanceInput{MaxBatches: 1})
	want(t, res.Checks, IDGates, "", report.Pass)
	if res.Rebalance.SlotsMoved == 0 || rbCounts(t, c, 0)[a[6]] != res.Rebalance.SlotsMoved {
		t.Errorf("inside the window: %d slots moved, the new master owns %d", res.Rebalance.SlotsMoved, rbCounts(t, c, 0)[a[6]])
	}
	if open := c.OpenSlots(t); len(open) > 0 {
		t.Errorf("open slots: %v", open)
	}
}
