package migrate

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/cluster"
)

func TestEstimate(t *testing.T) {
	for _, c := range []struct{ in, want []int64 }{
		{[]int64{-1, 5, -1, 3, -1}, []int64{5, 5, 5, 3, 5}},
		{[]int64{7, 2}, []int64{7, 2}},
		{[]int64{-1, -1}, []int64{0, 0}},
		{nil, nil},
	} {
		got := slices.Clone(c.in)
		estimate(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("estimate(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// keysInSlots returns n key names in each of slots.
func keysInSlots(slots []int, n int) map[int][]string {
	out := map[int][]string{}
	for i := 0; ; i++ {
		k := "sz:" + strconv.Itoa(i)
		s := cluster.KeySlot(k)
		if slices.Contains(slots, s) && len(out[s]) < n {
			out[s] = append(out[s], k)
			done := true
			for _, s := range slots {
				done = done && len(out[s]) == n
			}
			if done {
				return out
			}
		}
	}
}

// TestListingSamplesSizesWhileKeysAreSmall: on a node too small to hold a
// big key, listing measures one key in SizeEvery of each slot and gives
// the rest the largest measured size of their slot; once it meets a key
// over its share of the byte cap it lists again measuring every key, and
// goes on measuring every key of that source. A node that could hold a
// big key has every key measured.
func TestListingSamplesSizesWhileKeysAreSmall(t *testing.T) {
	t.Parallel()
	tc := startWithEmptyMaster(t, 2, 0)
	ctx := context.Background()
	src := tc.Addrs()[0] // owns slots 0-8191
	rc := tc.Client(0)
	const perSlot = 20
	keys := keysInSlots([]int{0, 1, 2, 3}, perSlot)
	for _, s := range []int{0, 1, 2} {
		for i, k := range keys[s] {
			if err := rc.Set(ctx, k, strings.Repeat("v", 16+i), 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	large := strings.Repeat("L", 8<<10) // over the default share: 4 MiB / 1000 keys
	for _, k := range keys[3] {
		if err := rc.Set(ctx, k, large, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	list := func(opts LegacyOptions, l *Legacy, slots []int) ([]slotKeys, int64) {
		t.Helper()
		if err := rc.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if l == nil {
			l = NewLegacy(tc.pool, tc.Addrs(), opts)
			defer l.Close()
		}
		got, err := l.list(ctx, src, slots)
		if err != nil {
			t.Fatal(err)
		}
		return got, memoryUsageCalls(t, tc, src)
	}
	exact := func(k string) int64 {
		t.Helper()
		n, err := rc.MemoryUsage(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Small keys, a small node: 3 of each slot's 20 keys measured.
	got, n := list(LegacyOptions{}, nil, []int{0, 1, 2})
	if n != 3*3 {
		t.Errorf("small keys: %d MEMORY USAGE calls for 3 slots of %d keys, want 9 (one in 8)", n, perSlot)
	}
	if len(got) != 3 {
		t.Fatalf("small keys: %d slots listed, want 3", len(got))
	}
	for _, sk := range got {
		if len(sk.keys) != perSlot || len(sk.sizes) != perSlot {
			t.Fatalf("slot %d: %d keys, %d sizes", sk.slot, len(sk.keys), len(sk.sizes))
		}
		var top int64
		for j := 0; j < perSlot; j += 8 {
			if want := exact(sk.keys[j]); sk.sizes[j] != want {
				t.Errorf("slot %d: measured key %s has size %d, MEMORY USAGE says %d", sk.slot, sk.keys[j], sk.sizes[j], want)
			}
			top = max(top, sk.sizes[j])
		}
		for j, size := range sk.sizes {
			if j%8 != 0 && size != top {
				t.Errorf("slot %d: unmeasured key %s has size %d, want the slot's largest measured, %d", sk.slot, sk.keys[j], size, top)
			}
		}
	}

	// SizeEvery 1, or a big-key limit the node's memory could reach:
	// every key measured.
	if _, n := list(LegacyOptions{SizeEvery: 1}, nil, []int{0, 1, 2}); n != 3*perSlot {
		t.Errorf("SizeEvery 1: %d calls, want %d", n, 3*perSlot)
	}
	if _, n := list(LegacyOptions{BigKeyBytes: 1 << 20}, nil, []int{0, 1, 2}); n != 3*perSlot {
		t.Errorf("BigKeyBytes 1 MiB on a node of about a MiB: %d calls, want %d", n, 3*perSlot)
	}

	// A slot of large keys: sampled first (4 slots × 3), then listed again
	// with every key measured, and every key of src measured from then on.
	l := NewLegacy(tc.pool, tc.Addrs(), LegacyOptions{})
	defer l.Close()
	got, n = list(LegacyOptions{}, l, []int{0, 1, 2, 3})
	if n != 4*3+4*perSlot {
		t.Errorf("with large keys: %d calls, want %d (sampled, then all)", n, 4*3+4*perSlot)
	}
	for _, sk := range got {
		for j, k := range sk.keys {
			if want := exact(k); sk.sizes[j] != want {
				t.Errorf("with large keys: slot %d key %s has size %d, MEMORY USAGE says %d", sk.slot, k, sk.sizes[j], want)
			}
		}
	}
	if _, n := list(LegacyOptions{}, l, []int{0, 1, 2}); n != 3*perSlot {
		t.Errorf("after large keys: %d calls for the small slots, want %d (every key)", n, 3*perSlot)
	}
}
