package migrate

import (
	"context"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// TestSetSlotWaitsForSlowReplica: Valkey forwards SETSLOT to the replicas
// and answers NOREPLICAS when they take over 2s; the legacy mover sends it
// again instead of failing the move.
func TestSetSlotWaitsForSlowReplica(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts server processes")
	}
	bin := sandboxtest.ServerBin(t, "valkey", "Valkey >= 8.0")
	c := sandboxtest.Start(t, 2, sandboxtest.Options{Bin: bin, Extra: map[string]string{"enable-debug-command": "yes"}})
	c.Form(t, 1)
	pool := admin.NewPool(admin.Options{Password: c.Password})
	t.Cleanup(func() { _ = pool.Close() })
	l := NewLegacy(pool, c.Addrs()[:1], LegacyOptions{})
	defer l.Close()
	ctx := context.Background()
	id, err := c.Client(0).ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Client(1).Do(ctx, "DEBUG", "SLEEP", 3).Err() }()
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	if err := l.setSlots(ctx, c.Addrs()[0], []int{0, 1}, "NODE", id, nil); err != nil {
		t.Fatalf("SETSLOT NODE with a replica asleep for 3s: %v", err)
	}
	if d := time.Since(t0); d < 2*time.Second {
		t.Errorf("SETSLOT returned after %s: the replica was asleep, so it should have waited (is SETSLOT still forwarded?)", d)
	}
}
