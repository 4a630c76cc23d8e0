package migrate

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/acl"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
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
	open := func(slots []int) { tc.openSlots(t, l, srcID, src, dst, slots) }
	pongs := func() int { return tc.pongsSent(t, dst.Addr) }
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

// openSlots sets slots IMPORTING on dst and MIGRATING on src.
func (tc *testCluster) openSlots(t *testing.T, l *Legacy, srcID, src string, dst Endpoint, slots []int) {
	t.Helper()
	ctx := context.Background()
	if err := l.setSlots(ctx, dst.Addr, slots, "IMPORTING", srcID, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.setSlots(ctx, src, slots, "MIGRATING", dst.ID, nil); err != nil {
		t.Fatal(err)
	}
}

// pongsSent is addr's cluster_stats_messages_pong_sent.
func (tc *testCluster) pongsSent(t *testing.T, addr string) int {
	t.Helper()
	text, err := tc.pool.Client(addr).ClusterInfo(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(cluster.InfoField(text, "cluster_stats_messages_pong_sent"))
	if err != nil {
		t.Fatalf("cluster_stats_messages_pong_sent: %v", err)
	}
	return n
}

// TestClaimWithoutMulti: a user whose ACL refuses MULTI, or EXEC, still
// publishes a group, one SETSLOT per slot, and the mover's connections
// are not left inside a transaction.
func TestClaimWithoutMulti(t *testing.T) {
	t.Parallel()
	for i, refused := range []string{"-multi", "-exec"} {
		t.Run(refused, func(t *testing.T) {
			t.Parallel()
			claimWith(t, acl.Rule+" "+refused, span(i*100, 30))
		})
	}
}

// claimWith claims slots for a user with rule and expects the per-slot path.
func claimWith(t *testing.T, rule string, slots []int) {
	t.Helper()
	tc := startWithEmptyMaster(t, 2, 0)
	const user, password = "mover", "mover-secret-1"
	tc.SetUser(t, user, password, rule)
	tc.extra.SetUser(t, user, password, rule)
	pool := admin.NewPool(admin.Options{Username: user, Password: password})
	t.Cleanup(func() { _ = pool.Close() })
	ctx := context.Background()
	src := tc.Addrs()[0]
	srcID, err := pool.MyID(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	l := NewLegacy(pool, []string{src, tc.Addrs()[1], tc.newAddr}, LegacyOptions{})
	defer l.Close()
	dst := Endpoint{ID: tc.newID, Addr: tc.newAddr}
	tc.openSlots(t, l, srcID, src, dst, slots)
	before := tc.pongsSent(t, dst.Addr)
	if err := l.claim(ctx, dst, slots); err != nil {
		t.Fatalf("claim: %v", err)
	}
	if n := tc.pongsSent(t, dst.Addr) - before; n < len(slots) {
		t.Errorf("claim sent %d PONGs for %d slots; want the per-slot path", n, len(slots))
	}
	// Every pooled connection of the mover still runs commands at once
	// (one left inside MULTI would answer QUEUED).
	for range 8 {
		if err := l.clients.Client(dst.Addr).Ping(ctx).Err(); err != nil {
			t.Fatalf("PING on the mover's connection after the claim: %v", err)
		}
	}
	if err := l.setSlots(ctx, src, slots, "NODE", dst.ID, nil); err != nil {
		t.Fatal(err)
	}
	tc.assertNoOpenSlots(t)
	for _, s := range slots {
		if owner := tc.ownerOf(t, s); owner != dst.ID {
			t.Fatalf("slot %d owned by %s, want %s", s, owner, dst.ID)
		}
	}
}
