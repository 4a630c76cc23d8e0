package gate

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// TestProbesOnRealNodes runs the one-shot probes the read-only stages use
// against a master and its replica, and against a port nothing listens on.
func TestProbesOnRealNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	c := sandboxtest.Start(t, 6, sandboxtest.Options{})
	c.Form(t, 3)
	addrs := c.Addrs()
	master, replica := addrs[1], addrs[3] // Form: replica j follows master (j+1)%3
	pool := admin.NewPool(admin.Options{Password: c.Password, DialTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { _ = pool.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)

	l, err := ProbeLatency(ctx, pool, master, 50)
	if err != nil || l.Samples != 50 || l.P99MS <= 0 || l.AvgMS <= 0 || l.AvgMS > l.P99MS*1.01 {
		t.Errorf("ProbeLatency = %+v, %v; want 50 samples, 0 < avg <= p99", l, err)
	}
	pct, err := ProbeCPU(ctx, pool, master, 50*time.Millisecond)
	if err != nil || pct < 0 || pct > 400 {
		t.Errorf("ProbeCPU = %g, %v", pct, err)
	}
	// Writes across the slots give the replica an offset to catch up with.
	cc := c.ClusterClient()
	for i := range 30 {
		if err := cc.Set(ctx, fmt.Sprintf("probe:%d", i), strings.Repeat("x", 1<<14), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	lag, err := ProbeLag(ctx, pool, replica, master, 2*time.Second)
	if err != nil || lag < 0 || lag >= 2000 {
		t.Errorf("ProbeLag = %g ms, %v; want a caught-up replica under the bound", lag, err)
	}

	dead := "127.0.0.1:1"
	if _, err := ProbeLatency(ctx, pool, dead, 3); err == nil || !strings.Contains(err.Error(), "PING "+dead) {
		t.Errorf("ProbeLatency on a closed port: %v", err)
	}
	if _, err := ProbeCPU(ctx, pool, dead, time.Millisecond); err == nil {
		t.Error("ProbeCPU on a closed port must fail")
	}
	if _, err := ProbeLag(ctx, pool, replica, dead, time.Second); err == nil || !strings.Contains(err.Error(), "on master "+dead) {
		t.Errorf("ProbeLag with a dead master: %v", err)
	}
}
