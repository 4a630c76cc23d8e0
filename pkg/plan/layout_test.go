package plan

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/cluster"
)

func TestLayoutRoundTrip(t *testing.T) {
	before := created(t, 3, 1)
	saved := FromMasters(before, "prod-cache", "fp-before")
	if saved.FormatVersion != "1.0" || saved.Cluster != "prod-cache" || len(saved.Masters) != 4 {
		t.Fatalf("layout %+v", saved)
	}
	if r := saved.Masters[3].Ranges; r == nil || len(r) != 0 {
		t.Errorf("empty master ranges = %#v, want []", r)
	}
	b, err := json.Marshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	var loaded Layout
	if err := json.Unmarshal(b, &loaded); err != nil {
		t.Fatal(err)
	}

	fwd, err := PlanRebalance(before, Options{})
	if err != nil {
		t.Fatal(err)
	}
	after, err := Apply(before, fwd.Moves)
	if err != nil {
		t.Fatal(err)
	}
	back, err := PlanToLayout(after, loaded, Options{BatchSlots: 50, Fingerprint: "fp-after"})
	if err != nil {
		t.Fatal(err)
	}
	if back.Fingerprint != "fp-after" || back.Slots() != fwd.Slots() {
		t.Errorf("rollback moves %d slots (fingerprint %q), forward moved %d", back.Slots(), back.Fingerprint, fwd.Slots())
	}
	for _, b := range back.Batches {
		if b.Slots() > 50 {
			t.Fatalf("batch %d moves %d", b.Number, b.Slots())
		}
	}
	restored, err := Apply(after, back.Moves)
	if err != nil {
		t.Fatal(err)
	}
	for i := range before {
		if restored[i].Slots != before[i].Slots {
			t.Errorf("%s: restored %s, saved %s", before[i].Addr, restored[i].Slots.String(), before[i].Slots.String())
		}
	}
	// Planning toward the current layout moves nothing.
	same, err := PlanToLayout(before, loaded, Options{})
	if err != nil || len(same.Moves) != 0 || len(same.Batches) != 0 {
		t.Errorf("no-op rollback: %d moves, %v", len(same.Moves), err)
	}
}

func TestPlanToLayoutMatching(t *testing.T) {
	ms := created(t, 3, 0)
	layout := FromMasters(ms, "c", "")
	// A node replaced at the same address (new id) still matches by address.
	replaced := created(t, 3, 0)
	replaced[1].ID = strings.Repeat("f", 40)
	if _, err := PlanToLayout(replaced, layout, Options{}); err != nil {
		t.Errorf("replaced node: %v", err)
	}
	// A node that moved address matches by id.
	moved := created(t, 3, 0)
	moved[2].Addr = "10.9.9.9:7000"
	if _, err := PlanToLayout(moved, layout, Options{}); err != nil {
		t.Errorf("moved node: %v", err)
	}
	// Moves go back to the layout's owners.
	shuffled := created(t, 3, 0)
	moveSlots(shuffled, 0, 2, 0, 9)
	moveSlots(shuffled, 1, 2, 6000, 6009)
	p, err := PlanToLayout(shuffled, layout, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Move{
		{From: id(2), To: id(0), FromAddr: addr(2), ToAddr: addr(0), Range: cluster.Range{Start: 0, End: 9}},
		{From: id(2), To: id(1), FromAddr: addr(2), ToAddr: addr(1), Range: cluster.Range{Start: 6000, End: 6009}},
	}
	if len(p.Moves) != 2 || p.Moves[0] != want[0] || p.Moves[1] != want[1] {
		t.Errorf("moves %v, want %v", p.Moves, want)
	}
	if len(p.Batches) != 1 || len(p.Batches[0].Moves) != 2 {
		t.Errorf("batches %+v", p.Batches)
	}

	tests := []struct {
		name   string
		mutate func(*Layout)
		want   string
	}{
		{"unknown master", func(l *Layout) { l.Masters[1].Addr, l.Masters[1].ID = "10.7.7.7:7000", "zz" }, "layout master 10.7.7.7:7000 (id zz) is not a current master"},
		{"uncovered slot", func(l *Layout) { l.Masters[0].Ranges = []cluster.Range{{Start: 1, End: 5460}} }, "slot 0 to no master"},
		{"overlap", func(l *Layout) { l.Masters[0].Ranges = []cluster.Range{{Start: 0, End: 5461}} }, "slot 5461 to both"},
		{"bad range", func(l *Layout) { l.Masters[0].Ranges = []cluster.Range{{Start: 0, End: 16384}} }, "out of bounds"},
		{"same master twice", func(l *Layout) { l.Masters[1].Addr, l.Masters[1].ID = l.Masters[0].Addr, "" }, "are both master"},
		{"format", func(l *Layout) { l.FormatVersion = "2.0" }, "format_version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := FromMasters(ms, "c", "")
			tt.mutate(&l)
			_, err := PlanToLayout(ms, l, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
