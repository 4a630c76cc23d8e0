package plan

import (
	"fmt"
	"slices"
	"testing"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// The expected splits for 4, 5 and 7 masters were printed by a real
// redis-cli 7.0 --cluster create ("Master[i] -> Slots a - b").
func TestCreate(t *testing.T) {
	tests := []struct {
		n    int
		want []cluster.Range
	}{
		{1, []cluster.Range{{Start: 0, End: 16383}}},
		{3, []cluster.Range{{Start: 0, End: 5460}, {Start: 5461, End: 10922}, {Start: 10923, End: 16383}}},
		{4, []cluster.Range{{Start: 0, End: 4095}, {Start: 4096, End: 8191}, {Start: 8192, End: 12287}, {Start: 12288, End: 16383}}},
		{5, []cluster.Range{{Start: 0, End: 3276}, {Start: 3277, End: 6553}, {Start: 6554, End: 9829}, {Start: 9830, End: 13106}, {Start: 13107, End: 16383}}},
		{7, []cluster.Range{{Start: 0, End: 2340}, {Start: 2341, End: 4680}, {Start: 4681, End: 7021}, {Start: 7022, End: 9361},
			{Start: 9362, End: 11702}, {Start: 11703, End: 14042}, {Start: 14043, End: 16383}}},
	}
	for _, tt := range tests {
		got, err := Create(make([]string, tt.n))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Create(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestCreateCoversEverySlot(t *testing.T) {
	for _, n := range []int{2, 6, 9, 10, 33, 100, 999, 1000, 4097, 10000, 16383, 16384} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			rs, err := Create(make([]string, n))
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != n {
				t.Fatalf("%d ranges", len(rs))
			}
			next := 0
			lo, hi := cluster.NumSlots, 0
			for i, r := range rs {
				if r.Start != next || r.End < r.Start {
					t.Fatalf("range %d = %v, want it to start at %d", i, r, next)
				}
				next = r.End + 1
				lo, hi = min(lo, r.Len()), max(hi, r.Len())
			}
			if next != cluster.NumSlots {
				t.Fatalf("ranges end at %d", next-1)
			}
			if hi-lo > 1 {
				t.Errorf("uneven split: sizes %d..%d", lo, hi)
			}
		})
	}
	for _, n := range []int{0, cluster.NumSlots + 1} {
		if _, err := Create(make([]string, n)); err == nil {
			t.Errorf("Create(%d masters) succeeded", n)
		}
	}
}
