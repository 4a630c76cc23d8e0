package stage

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// TestRebalanceBaselineVariation: with the latency variation gate on,
// rebalance measures every master's baseline before the first batch, puts
// it in the report, and grades each batch on its variation; an abort-level
// reading before the first batch holds (exit 75), it does not abort.
func TestRebalanceBaselineVariation(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 6, sandboxtest.Options{NodeTimeoutMS: 1000})
	c.Form(t, 3)
	c.Load(t, rbKeys, rbValueSize)
	c.AddNodes(t, 1)
	p, a := ports(c), c.Addrs()
	// Generous limits: the test is about what is measured and reported; a
	// loaded test machine varies by hundreds of percent.
	variation := "gates:\n  latency_variation_percent: {hold: 100000, abort: 1000000}\n  baseline_window: 1s\n"
	inv := crossYAML(p[:6], sandboxtest.Server("server4", "", p[6], 0, "")+strings.Replace(rbSettings, "gates:\n", variation, 1))
	rbJoin(t, c, inv)

	// Before the first batch an abort-level reading holds until the hold
	// timeout: nothing is in flight that an abort would protect.
	red := crossYAML(p[:6], sandboxtest.Server("server4", "", p[6], 0, "")+strings.Replace(
		strings.Replace(rbSettings, "{hold: 1000, abort: 10000}", "{hold: 0.001, abort: 0.002}", 1), "hold_timeout: 30s", "hold_timeout: 2s", 1))
	env := harnessEnv(t, parseInv(t, red), c.Password)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Rebalance(ctx, env, RebalanceInput{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want(t, res.Checks, IDGates, "", report.Hold, "before the first batch an abort holds", "latency_p99")
	if res.Rebalance.SlotsMoved != 0 {
		t.Errorf("held before the first batch, yet moved %d slots", res.Rebalance.SlotsMoved)
	}

	res = rbRebalance(t, c, inv, RebalanceInput{MaxBatches: 2}, "rebalance with the variation gate")
	sec := res.Rebalance
	want(t, res.Checks, IDBaseline, "", report.Pass, "latency baseline over 1s", "max(baseline, 1ms)")
	masters := []string{a[0], a[1], a[2], a[6]}
	slices.Sort(masters)
	if len(sec.Baseline) != len(masters) {
		t.Fatalf("baseline of %d masters, want %d: %+v", len(sec.Baseline), len(masters), sec.Baseline)
	}
	for i, b := range sec.Baseline {
		// A 1 s window at the 10ms probe interval is ~100 PINGs.
		if b.Node != masters[i] || b.Samples < 20 || b.P99MS <= 0 || b.AvgMS <= 0 || b.AvgMS > b.P99MS*1.01 {
			t.Errorf("baseline %d: %+v (want node %s, ≥20 samples, 0 < avg ≤ p99)", i, b, masters[i])
		}
	}
	// Every master's budget is at least the median of the three loaded
	// masters' (their median as drawn is still the middle one: the one
	// under it was raised to it); server4's master, which owned no slot
	// when its baseline was measured, included.
	var loaded []float64
	var empty report.NodeLatency
	for _, b := range sec.Baseline {
		if b.Node == a[6] {
			empty = b
		} else {
			loaded = append(loaded, b.P99MS)
		}
	}
	slices.Sort(loaded)
	if empty.P99MS < loaded[1] {
		t.Errorf("the empty master's baseline p99 %.3fms is under the loaded masters' median %.3fms (%v)", empty.P99MS, loaded[1], loaded)
	}
	if loaded[0] < loaded[1] {
		t.Errorf("a loaded master's baseline p99 %.3fms is under the loaded masters' median %.3fms (%v)", loaded[0], loaded[1], loaded)
	}
	// Whether a master is raised depends on its own draw; that it owns no
	// slot does not.
	bc := want(t, res.Checks, IDBaseline, "", report.Pass, "at least the median of the masters that own slots", "owns no slot")
	for _, part := range strings.Split(bc.Message, "; ") {
		if marked := strings.Contains(part, "owns no slot"); marked != strings.Contains(part, a[6]+" p99") {
			t.Errorf("marked as owning no slot: %v, in %q (only %s owns none)", marked, part, a[6])
		}
	}
	if len(sec.Batches) == 0 {
		t.Fatal("no batch ran")
	}
	for _, b := range sec.Batches {
		seen := map[string]bool{}
		for _, g := range b.Gates {
			if g.Gate != gate.GateVariationP99 {
				continue
			}
			seen[g.Node] = true
			if math.IsNaN(g.Value) || g.Value < -100 || g.Hold != 100000 || g.Abort != 1000000 || g.Decision != "proceed" {
				t.Errorf("batch %d: %+v", b.Number, g)
			}
		}
		if len(seen) != len(masters) {
			t.Errorf("batch %d has variation readings for %d masters, want %d", b.Number, len(seen), len(masters))
		}
	}
}

// TestBaselineNote: a master that owns no slot is marked so whether or
// not its own draw was raised; a raised one is marked raised.
func TestBaselineNote(t *testing.T) {
	for _, c := range []struct {
		empty, raised bool
		want          string
	}{
		{false, false, ""},
		{false, true, ", raised to the loaded masters' median"},
		{true, false, ", owns no slot"},
		{true, true, ", owns no slot: raised to the loaded masters' median"},
	} {
		if got := baselineNote(c.empty, c.raised); got != c.want {
			t.Errorf("baselineNote(empty %v, raised %v) = %q, want %q", c.empty, c.raised, got, c.want)
		}
	}
}

// TestRemeasuresCheck: no check until the baseline was measured again;
// then a warning that counts the measurements, lists each, and says the
// sources were stopped for it when they still sent.
func TestRemeasuresCheck(t *testing.T) {
	var m remeasures
	if c, ok := m.check(); ok {
		t.Fatalf("a check with nothing measured again: %+v", c)
	}
	m.times = append(m.times, "127.0.0.1:7000 p99 0.27→1.14ms (measured 1.14ms)", "127.0.0.1:7001 p99 0.35→0.39ms (measured 0.39ms)")
	c, ok := m.check()
	if !ok || c.ID != IDBaselineRemeasured || c.Status != report.Warn || c.Observed != 2 {
		t.Fatalf("check %+v, %v; want a warning observing 2", c, ok)
	}
	for _, want := range []string{"measured again 2 time(s)", "sources still sending were stopped for it", "0.27→1.14ms", "; 127.0.0.1:7001", "kept the wider"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("message lacks %q: %s", want, c.Message)
		}
	}
}
