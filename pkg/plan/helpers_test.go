package plan

import (
	"fmt"
	"testing"

	"github.com/slotshift/slotshift/pkg/cluster"
)

func id(i int) string { return fmt.Sprintf("%040x", 0xa0000+i) }

func addr(i int) string { return fmt.Sprintf("10.0.%d.%d:7000", i/250, i%250+1) }

// created returns n masters with redis-cli's create split and weight 1,
// followed by extra empty masters.
func created(t testing.TB, n, extra int) []Master {
	t.Helper()
	rs, err := Create(make([]string, n))
	if err != nil {
		t.Fatal(err)
	}
	ms := make([]Master, 0, n+extra)
	for i, r := range rs {
		ms = append(ms, Master{ID: id(i), Addr: addr(i), Weight: 1, Slots: cluster.NewSlotSet(r)})
	}
	for i := n; i < n+extra; i++ {
		ms = append(ms, Master{ID: id(i), Addr: addr(i), Weight: 1})
	}
	return ms
}

// checkPlan checks a plan against its input independently of Verify: moves
// are taken from their source's slots, no slot moves twice, the amount moved
// is the sum of the receivers' deficits, every master ends on target, givers
// only give and receivers only receive, and batches cover the moves.
func checkPlan(t testing.TB, masters []Master, p Rebalance, batchSlots int) {
	t.Helper()
	owner := map[int]string{}
	byID := map[string]Master{}
	for _, m := range masters {
		byID[m.ID] = m
		for _, s := range m.Slots.Slots() {
			owner[s] = m.ID
		}
	}
	target := map[string]int{}
	deficits := 0
	for _, tg := range p.Targets {
		target[tg.ID] = tg.Target
		m := byID[tg.ID]
		if tg.Current != m.Slots.Len() {
			t.Fatalf("target %s current %d, has %d", tg.Addr, tg.Current, m.Slots.Len())
		}
		if !p.WithinThreshold {
			deficits += max(tg.Target-tg.Current, 0)
		}
	}
	var moved cluster.SlotSet
	gave, got := map[string]int{}, map[string]int{}
	for _, m := range p.Moves {
		for s := m.Range.Start; s <= m.Range.End; s++ {
			if owner[s] != m.From {
				t.Fatalf("move %v: slot %d is not owned by its source", m, s)
			}
			if moved.Has(s) {
				t.Fatalf("slot %d moves twice", s)
			}
			moved.Add(s)
		}
		gave[m.From] += m.Range.Len()
		got[m.To] += m.Range.Len()
		if byID[m.From].Addr != m.FromAddr || byID[m.To].Addr != m.ToAddr {
			t.Fatalf("move %v: addresses do not match the ids", m)
		}
	}
	if moved.Len() != deficits {
		t.Fatalf("moved %d slots, deficits sum to %d (not minimal)", moved.Len(), deficits)
	}
	for idv, n := range gave {
		if got[idv] > 0 {
			t.Fatalf("%s both gives and receives", byID[idv].Addr)
		}
		m := byID[idv]
		if c := m.Slots.Len(); c-n != target[idv] {
			t.Fatalf("%s gives %d of %d, target %d", byID[idv].Addr, n, c, target[idv])
		}
	}
	final, err := Apply(masters, p.Moves)
	if err != nil {
		t.Fatal(err)
	}
	var all cluster.SlotSet
	total := 0
	for _, m := range final {
		if all.Intersects(&m.Slots) {
			t.Fatalf("%s shares a slot after the moves", m.Addr)
		}
		all.Union(&m.Slots)
		total += m.Slots.Len()
		if !p.WithinThreshold && m.Slots.Len() != target[m.ID] {
			t.Fatalf("%s ends with %d slots, target %d", m.Addr, m.Slots.Len(), target[m.ID])
		}
	}
	if all.Len() != cluster.NumSlots || total != cluster.NumSlots {
		t.Fatalf("after the moves %d slots owned (%d with repeats)", all.Len(), total)
	}
	var inBatches cluster.SlotSet
	for i, b := range p.Batches {
		if b.Number != i+1 {
			t.Fatalf("batch %d numbered %d", i+1, b.Number)
		}
		if b.Slots() > batchSlots || b.Slots() == 0 {
			t.Fatalf("batch %d moves %d slots (limit %d)", b.Number, b.Slots(), batchSlots)
		}
		for _, m := range b.Moves {
			for s := m.Range.Start; s <= m.Range.End; s++ {
				if owner[s] != m.From || inBatches.Has(s) || !moved.Has(s) {
					t.Fatalf("batch %d move %v: slot %d wrong", b.Number, m, s)
				}
				inBatches.Add(s)
			}
		}
	}
	if inBatches != moved {
		t.Fatalf("batches move %d slots, moves %d", inBatches.Len(), moved.Len())
	}
	if err := p.Verify(masters); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}
