package migrate

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// TestClaimAnnouncesOnce: on Redis the target takes a group of slots with
// one PONG broadcast, not one per slot, and the group still reaches a
// master that was told nothing, by gossip. The per-slot SETSLOT of the
// same size in the same cluster is the control: it shows the count
// catches a broadcast per slot.
func TestClaimAnnouncesOnce(t *testing.T) {
	t.Parallel()
	tc := startWithEmptyMaster(t, 2, 0)
	ctx := context.Background()
	src, other := tc.Addrs()[0], tc.Addrs()[1]
	srcID, err := tc.pool.MyID(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	l := NewLegacy(tc.pool, []string{src, other, tc.newAddr}, LegacyOptions{})
	defer l.Close()
	dst := Endpoint{ID: tc.newID, Addr: tc.newAddr}
	open := func(slots []int) {
		t.Helper()
		if err := l.setSlots(ctx, dst.Addr, slots, "IMPORTING", srcID, nil); err != nil {
			t.Fatal(err)
		}
		if err := l.setSlots(ctx, src, slots, "MIGRATING", dst.ID, nil); err != nil {
			t.Fatal(err)
		}
	}
	pongs := func() int {
		t.Helper()
		text, err := tc.pool.Client(dst.Addr).ClusterInfo(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(cluster.InfoField(text, "cluster_stats_messages_pong_sent"))
		if err != nil {
			t.Fatalf("cluster_stats_messages_pong_sent: %v", err)
		}
		return n
	}
	quiet, loud := span(0, 30), span(100, 30) // empty slots of src

	open(quiet)
	before := pongs()
	if err := l.claim(ctx, dst, quiet); err != nil {
		t.Fatal(err)
	}
	quietPongs := pongs() - before

	open(loud)
	before = pongs()
	if err := l.setSlots(ctx, dst.Addr, loud, "NODE", dst.ID, nil); err != nil {
		t.Fatal(err)
	}
	loudPongs := pongs() - before

	// Two peers: a broadcast per slot is 60 PONGs; one broadcast is 2,
	// plus whatever replies to pings fell in between.
	if loudPongs < len(loud) {
		t.Fatalf("control: SETSLOT NODE per slot sent %d PONGs for %d slots; the count does not see broadcasts", loudPongs, len(loud))
	}
	if quietPongs >= len(quiet)/2 {
		t.Errorf("claim sent %d PONGs for %d slots (per slot: %d); want one broadcast", quietPongs, len(quiet), loudPongs)
	}
	t.Logf("PONGs sent: claim %d, per-slot SETSLOT %d (%d slots each, 2 peers)", quietPongs, loudPongs, len(quiet))

	all := append(quiet, loud...)
	if err := l.setSlots(ctx, src, all, "NODE", dst.ID, nil); err != nil {
		t.Fatal(err)
	}
	// other was told nothing: it learns every slot of both groups from
	// the target's announcements (its bumped epoch beats src's).
	deadline := time.Now().Add(15 * time.Second)
	for {
		nodes, err := tc.pool.ClusterNodes(ctx, other)
		if err != nil {
			t.Fatal(err)
		}
		missing := len(all)
		for _, n := range nodes {
			if n.ID != dst.ID {
				continue
			}
			for _, s := range all {
				if n.Slots.Has(s) {
					missing--
				}
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still sees %d of the %d claimed slots elsewhere after 15s", other, missing, len(all))
		}
		time.Sleep(50 * time.Millisecond)
	}
	tc.assertNoOpenSlots(t)
}
