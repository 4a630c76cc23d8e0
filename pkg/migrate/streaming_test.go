package migrate

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/plan"
)

// The legacy mover says it is streaming once, when every slot of the move
// is open or closed on the target (nothing left to open), before it
// returns; the executor then opens the next batch's slots.
func TestLegacySaysWhenItStreams(t *testing.T) {
	tc := startWithEmptyMaster(t, 2, 0)
	const nkeys = 20000
	tc.Load(t, nkeys, valueSize)
	src, dst := tc.Addrs()[0], tc.newAddr
	snap := tc.observe(t)
	// Three groups of at most 128 slots, two at a time: the third opens
	// only once one of the first two has finished.
	r := cluster.Range{Start: 0, End: 299}
	requireOwned(t, snap, src, r)
	l := NewLegacy(tc.pool, tc.all(), LegacyOptions{})
	defer l.Close()
	var calls atomic.Int32
	var closed, notOpen int
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := plan.Move{From: snap.Nodes[src].ID, To: tc.newID, FromAddr: src, ToAddr: dst, Range: r}
	st, err := l.Move(ctx, m, Control{Streaming: func() {
		if calls.Add(1) > 1 {
			return
		}
		// The source's own line: a slot it still owns must be migrating.
		nodes, err := tc.pool.ClusterNodes(ctx, src)
		if err != nil {
			t.Errorf("CLUSTER NODES of the source: %v", err)
			return
		}
		me, ok := cluster.Myself(nodes)
		if !ok {
			t.Errorf("CLUSTER NODES of the source has no myself line")
			return
		}
		for s := r.Start; s <= r.End; s++ {
			switch {
			case me.Migrating[s] == tc.newID:
			case !me.Slots.Has(s):
				closed++
			default:
				notOpen++
			}
		}
	}})
	if err != nil {
		t.Fatalf("move: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("Streaming called %d times, want once", n)
	}
	if notOpen > 0 {
		t.Errorf("%d slots were neither migrating nor closed when the move said it was streaming", notOpen)
	}
	if closed == r.Len() {
		t.Errorf("every slot was closed when the move said it was streaming: it said so only at the end")
	}
	if want := keysIn(nkeys, r); st.Slots != r.Len() || st.Keys != want {
		t.Errorf("moved %d slots and %d keys, want %d and %d", st.Slots, st.Keys, r.Len(), want)
	}
	tc.waitAgreed(t)
	tc.assertNoOpenSlots(t)
	tc.CheckKeys(t, nkeys, valueSize)
}
