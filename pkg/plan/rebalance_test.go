package plan

import (
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/cluster"
)

func rangesOf(t *testing.T, masters []Master, p Rebalance) map[string]int {
	t.Helper()
	final, err := Apply(masters, p.Moves)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, m := range final {
		out[m.ID] = len(m.Slots.Ranges())
	}
	return out
}

func TestPlanRebalance(t *testing.T) {
	frag := func() []Master {
		// Two fragmented givers (every other block of 512) and a new master.
		ms := []Master{{ID: id(0), Addr: addr(0), Weight: 1}, {ID: id(1), Addr: addr(1), Weight: 1}, {ID: id(2), Addr: addr(2), Weight: 1}}
		for b := 0; b < 32; b++ {
			ms[b%2].Slots.AddRange(cluster.Range{Start: b * 512, End: b*512 + 511})
		}
		return ms
	}
	tests := []struct {
		name    string
		masters func() []Master
		opts    Options
		targets []int // in id order
		moved   int
		moves   int // number of moves, -1 to skip
		// maxRanges bounds every master's range count after the plan.
		maxRanges int
	}{
		{name: "3 to 4 even", masters: func() []Master { return created(t, 3, 1) },
			targets: []int{4096, 4096, 4096, 4096}, moved: 4096, moves: 3, maxRanges: 2},
		{name: "3 to 5", masters: func() []Master { return created(t, 3, 2) },
			targets: []int{3277, 3277, 3277, 3277, 3276}, moved: 3277 + 3276, moves: -1, maxRanges: 3},
		{name: "4 to 6", masters: func() []Master { return created(t, 4, 2) },
			targets: []int{2731, 2731, 2731, 2731, 2730, 2730}, moved: 2730 * 2, moves: -1, maxRanges: 3},
		{name: "drain one", masters: func() []Master {
			ms := created(t, 4, 0)
			ms[1].Weight = 0
			return ms
			// Masters 0 and 2 grow into the drained neighbour; master 3 is not
			// next to it and gets a second range.
		}, targets: []int{5462, 0, 5461, 5461}, moved: 4096, moves: 3, maxRanges: 2},
		{name: "weighted 2:1:1", masters: func() []Master {
			ms := created(t, 3, 0)
			ms[0].Weight = 2
			return ms
		}, targets: []int{8192, 4096, 4096}, moved: 8192 - 5461, moves: 2, maxRanges: 2},
		{name: "balanced within threshold", masters: func() []Master { return created(t, 3, 0) },
			targets: []int{5462, 5461, 5461}, moved: 0, moves: 0, maxRanges: 1},
		{name: "no threshold moves the rounding slot", masters: func() []Master { return created(t, 3, 0) },
			opts:    Options{ThresholdPercent: -1},
			targets: []int{5462, 5461, 5461}, moved: 1, moves: 1, maxRanges: 1},
		{name: "fragmented givers", masters: frag,
			targets: []int{5462, 5461, 5461}, moved: 5461, moves: -1, maxRanges: 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := tt.masters()
			p, err := PlanRebalance(ms, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			opts, _ := tt.opts.withDefaults()
			checkPlan(t, ms, p, opts.BatchSlots)
			byID := map[string]Target{}
			for _, tg := range p.Targets {
				byID[tg.ID] = tg
			}
			for i, want := range tt.targets {
				if got := byID[id(i)].Target; got != want {
					t.Errorf("target of master %d = %d, want %d", i, got, want)
				}
			}
			if got := p.Slots(); got != tt.moved {
				t.Errorf("moved %d slots, want %d", got, tt.moved)
			}
			if tt.moves >= 0 && len(p.Moves) != tt.moves {
				t.Errorf("%d moves, want %d: %v", len(p.Moves), tt.moves, p.Moves)
			}
			if p.WithinThreshold != (tt.moved == 0) {
				t.Errorf("WithinThreshold = %v", p.WithinThreshold)
			}
			for i, n := range rangesOf(t, ms, p) {
				if n > tt.maxRanges {
					t.Errorf("%s ends with %d ranges, want at most %d", i, n, tt.maxRanges)
				}
			}
		})
	}
}

// In 3 -> 4 the new master takes a whole block from the top of a giver and
// grows it into the next giver's lowest slots, so every giver keeps one range.
func TestPlanRebalanceContiguous(t *testing.T) {
	ms := created(t, 3, 1)
	p, err := PlanRebalance(ms, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Move{
		{From: id(0), To: id(3), FromAddr: addr(0), ToAddr: addr(3), Range: cluster.Range{Start: 4096, End: 5460}},
		{From: id(1), To: id(3), FromAddr: addr(1), ToAddr: addr(3), Range: cluster.Range{Start: 9557, End: 10922}},
		{From: id(2), To: id(3), FromAddr: addr(2), ToAddr: addr(3), Range: cluster.Range{Start: 10923, End: 12287}},
	}
	if len(p.Moves) != len(want) {
		t.Fatalf("moves %v, want %v", p.Moves, want)
	}
	for i := range want {
		if p.Moves[i] != want[i] {
			t.Errorf("move %d = %v, want %v", i, p.Moves[i], want[i])
		}
	}
	// A receiver next to a giver grows into it instead of taking the top.
	ms = created(t, 2, 0)
	ms[0].Slots = cluster.NewSlotSet(cluster.Range{Start: 0, End: 999})
	ms[1].Slots = cluster.NewSlotSet(cluster.Range{Start: 1000, End: 16383})
	p, err = PlanRebalance(ms, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Moves) != 1 || p.Moves[0].Range != (cluster.Range{Start: 1000, End: 8191}) {
		t.Errorf("moves %v, want 1000-8191 to the left neighbour", p.Moves)
	}
}

func TestPlanRebalanceBatches(t *testing.T) {
	t.Run("one receiver, sources interleaved", func(t *testing.T) {
		ms := created(t, 3, 1)
		p, err := PlanRebalance(ms, Options{BatchSlots: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Batches) != 41 {
			t.Fatalf("%d batches, want 41 (4096/100)", len(p.Batches))
		}
		for _, b := range p.Batches[:40] {
			if b.Slots() != 100 {
				t.Fatalf("batch %d moves %d slots, want 100", b.Number, b.Slots())
			}
			from := map[string]bool{}
			for _, m := range b.Moves {
				from[m.From] = true
			}
			if len(from) != 3 {
				t.Fatalf("batch %d takes from %d sources, want all 3: %v", b.Number, len(from), b.Moves)
			}
		}
	})
	t.Run("every batch feeds every receiver", func(t *testing.T) {
		ms := created(t, 3, 2)
		p, err := PlanRebalance(ms, Options{BatchSlots: 64})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range p.Batches {
			per := map[string]int{}
			for _, m := range b.Moves {
				per[m.To] += m.Range.Len()
			}
			if len(per) != 2 {
				t.Fatalf("batch %d feeds %d receivers, want 2", b.Number, len(per))
			}
			if b.Number < len(p.Batches) && (per[id(3)] != 32 || per[id(4)] != 32) {
				t.Fatalf("batch %d shares %v, want 32 each", b.Number, per)
			}
		}
	})
	t.Run("batch of one slot", func(t *testing.T) {
		ms := created(t, 3, 1)
		p, err := PlanRebalance(ms, Options{BatchSlots: 1})
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, ms, p, 1)
		if len(p.Batches) != 4096 {
			t.Fatalf("%d batches", len(p.Batches))
		}
	})
}

func TestPlanRebalanceThreshold(t *testing.T) {
	tests := []struct {
		name   string
		mutate func([]Master)
		opts   Options
		within bool
	}{
		{"created split", func([]Master) {}, Options{}, true},
		{"drained master holds slots", func(ms []Master) { ms[2].Weight = 0 }, Options{ThresholdPercent: 100}, false},
		{"1.9% off", func(ms []Master) {
			// 100 slots from master 0 to master 1: 5361 vs target 5462 is 1.85% off.
			moveSlots(ms, 0, 1, 5361, 5460)
		}, Options{}, true},
		{"2.5% off", func(ms []Master) { moveSlots(ms, 0, 1, 5330, 5460) }, Options{}, false},
		{"2.5% off, threshold 3", func(ms []Master) { moveSlots(ms, 0, 1, 5330, 5460) }, Options{ThresholdPercent: 3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := created(t, 3, 0)
			tt.mutate(ms)
			p, err := PlanRebalance(ms, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.WithinThreshold != tt.within || (len(p.Moves) == 0) != tt.within {
				t.Errorf("WithinThreshold %v with %d moves, want within=%v", p.WithinThreshold, len(p.Moves), tt.within)
			}
		})
	}
	// An empty master with weight > 0 is never within threshold.
	ms := created(t, 3, 1)
	p, err := PlanRebalance(ms, Options{ThresholdPercent: 99})
	if err != nil || p.WithinThreshold {
		t.Errorf("empty master within a 99%% threshold: %v %v", p.WithinThreshold, err)
	}
}

func moveSlots(ms []Master, from, to, start, end int) {
	for s := start; s <= end; s++ {
		ms[from].Slots.Remove(s)
		ms[to].Slots.Add(s)
	}
}

func TestPlanRebalanceErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func([]Master) []Master
		opts   Options
		want   string
	}{
		{"no masters", func([]Master) []Master { return nil }, Options{}, "no masters"},
		{"duplicate id", func(ms []Master) []Master { ms[1].ID = ms[0].ID; return ms }, Options{}, "used twice"},
		{"empty id", func(ms []Master) []Master { ms[1].ID = ""; return ms }, Options{}, "empty node id"},
		{"uncovered slot", func(ms []Master) []Master { ms[2].Slots.Remove(16383); return ms }, Options{}, "slot 16383 has no owner"},
		{"shared slot", func(ms []Master) []Master { ms[1].Slots.Add(0); return ms }, Options{}, "slot 0 is owned by both"},
		{"negative weight", func(ms []Master) []Master { ms[1].Weight = -1; return ms }, Options{}, "10.0.0.2:7000: weight -1"},
		{"all drained", func(ms []Master) []Master {
			for i := range ms {
				ms[i].Weight = 0
			}
			return ms
		}, Options{}, "no master has a positive weight"},
		{"negative batch", func(ms []Master) []Master { return ms }, Options{BatchSlots: -1}, "batch slots -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := PlanRebalance(tt.mutate(created(t, 3, 0)), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestVerifyCatchesBrokenPlans(t *testing.T) {
	ms := created(t, 3, 1)
	good, err := PlanRebalance(ms, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		break_ func(p *Rebalance)
		want   string
	}{
		{"slot moved twice", func(p *Rebalance) {
			m := p.Moves[0]
			m.From, m.To, m.FromAddr, m.ToAddr = m.To, m.From, m.ToAddr, m.FromAddr
			p.Moves = append(p.Moves, m)
		}, "already moves"},
		{"wrong source", func(p *Rebalance) { p.Moves[0].From = id(1) }, "not the source"},
		{"target missed", func(p *Rebalance) { p.Moves[0].Range.End-- }, "target"},
		{"batch too big", func(p *Rebalance) { p.BatchSlots = 10 }, "more than 10"},
		{"batch misses slots", func(p *Rebalance) { p.Batches = p.Batches[1:] }, "numbered"},
		{"batches incomplete", func(p *Rebalance) { p.Batches = p.Batches[:len(p.Batches)-1] }, "batches move"},
		{"unknown target", func(p *Rebalance) { p.Moves[0].To = "nope" }, "unknown target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			p.Moves = append([]Move(nil), good.Moves...)
			p.Batches = append([]Batch(nil), good.Batches...)
			tt.break_(&p)
			err := p.Verify(ms)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestApply(t *testing.T) {
	ms := created(t, 3, 0)
	before := ms[0].Slots
	out, err := Apply(ms, []Move{{From: id(0), To: id(1), Range: cluster.Range{Start: 0, End: 9}}})
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Slots != before {
		t.Error("Apply changed its input")
	}
	if out[0].Slots.Len() != 5451 || !out[1].Slots.Has(0) || out[1].Slots.Len() != 5472 {
		t.Errorf("after Apply: %d %d", out[0].Slots.Len(), out[1].Slots.Len())
	}
	for _, bad := range []Move{
		{From: id(1), To: id(0), Range: cluster.Range{Start: 0, End: 0}},
		{From: "x", To: id(0), Range: cluster.Range{Start: 0, End: 0}},
		{From: id(0), To: "x", Range: cluster.Range{Start: 0, End: 0}},
		{From: id(0), To: id(1), Range: cluster.Range{Start: 5, End: 2}},
	} {
		if _, err := Apply(ms, []Move{bad}); err == nil {
			t.Errorf("Apply(%v) succeeded", bad)
		}
	}
}
