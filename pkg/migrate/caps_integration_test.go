package migrate

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/plan"
)

// overBudget reads every node far over any budget, always fresh: a pacer
// fed by it stays at its slowest pace.
type overBudget struct{}

func (overBudget) Latency(string) (time.Duration, time.Duration, time.Time, bool) {
	return time.Second, time.Second, time.Now(), true
}

// TestPacerCapsBytes moves slots of large values at the slowest pace of a
// gentle pacer: each MIGRATE must carry at most the pace's bytes (here one
// value), not its ten keys. Every key must arrive and no slot stay open.
func TestPacerCapsBytes(t *testing.T) {
	tc := startWithEmptyMaster(t, 2, 0)
	src, dst := tc.Addrs()[0], tc.newAddr
	snap := tc.observe(t)
	r := cluster.Range{Start: 0, End: 11}
	requireOwned(t, snap, src, r)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Three values of 30 KB per slot: two of them pass the slowest pace's
	// byte cap (4 MiB × 10/1000 keys ≈ 41 KB), ten keys would not be cut.
	const perSlot, valueBytes = 3, 30_000
	value := strings.Repeat("v", valueBytes)
	tags := slotTags(r)
	for s := r.Start; s <= r.End; s++ {
		for i := range perSlot {
			if err := tc.pool.Client(src).Set(ctx, "{"+tags[s]+"}:"+strconv.Itoa(i), value, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tc.pool.Client(src).ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	pacer := NewPacer(overBudget{}, PacerOptions{BudgetP99: 10 * time.Millisecond, Gentle: true, Window: 20 * time.Millisecond})
	o := pacer.Options()
	first := pacer.Current(src)
	if first.Keys != o.MinKeys || first.Depth != 1 || first.Rest != o.GentleRest {
		t.Fatalf("a gentle pacer started at %+v, want MinKeys, one MIGRATE, rest GentleRest", first)
	}
	l := NewLegacy(tc.pool, tc.all(), LegacyOptions{Pacer: pacer})
	defer l.Close()
	m := plan.Move{From: snap.Nodes[src].ID, To: tc.newID, FromAddr: src, ToAddr: dst, Range: r}
	st, err := l.Move(ctx, m, Control{})
	if err != nil {
		t.Fatalf("move: %v", err)
	}
	if want := int64(perSlot * r.Len()); st.Keys != want {
		t.Errorf("moved %d keys, want %d", st.Keys, want)
	}

	info, err := tc.pool.Client(src).Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	mig := regexp.MustCompile(`cmdstat_migrate:calls=(\d+)`).FindStringSubmatch(info)
	if mig == nil {
		t.Fatalf("no MIGRATE in the source's commandstats:\n%s", info)
	}
	if calls, _ := strconv.Atoi(mig[1]); calls < perSlot*r.Len() {
		t.Errorf("%d MIGRATE calls for %d values of %d bytes at a byte cap of %d: a MIGRATE carried more than one",
			calls, perSlot*r.Len(), valueBytes, o.Bytes(first))
	}

	for s := r.Start; s <= r.End; s++ {
		if n, err := tc.pool.Client(dst).ClusterCountKeysInSlot(ctx, s).Result(); err != nil || n != perSlot {
			t.Errorf("slot %d on the target: %d keys (%v), want %d", s, n, err, perSlot)
		}
	}
	tc.assertNoOpenSlots(t)
}

// slotTags returns a hash tag for each slot of r.
func slotTags(r cluster.Range) map[int]string {
	tags := map[int]string{}
	for i := 0; len(tags) < r.Len(); i++ {
		tag := "p" + strconv.Itoa(i)
		if s := cluster.KeySlot("{" + tag + "}"); s >= r.Start && s <= r.End && tags[s] == "" {
			tags[s] = tag
		}
	}
	return tags
}

// requireOwned fails t unless addr owns every slot of r in snap.
func requireOwned(t *testing.T, snap *cluster.Snapshot, addr string, r cluster.Range) {
	t.Helper()
	for s := r.Start; s <= r.End; s++ {
		if snap.Owners()[s] != snap.Nodes[addr].ID {
			t.Fatalf("slot %d is not on %s", s, addr)
		}
	}
}
