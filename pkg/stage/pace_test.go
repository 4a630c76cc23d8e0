package stage

import (
	"context"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// TestMonitorLatency reads a real gate monitor: no reading before the first
// PING, one once it is answered, none again once the node stops answering.
func TestMonitorLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	c := sandboxtest.Start(t, 1, sandboxtest.Options{})
	addr := c.Addrs()[0]
	pool := admin.NewPool(admin.Options{Password: c.Password, ReadTimeout: 200 * time.Millisecond, DialTimeout: 200 * time.Millisecond})
	defer func() { _ = pool.Close() }()
	mon := gate.NewMonitor(pool, []string{addr}, nil, gate.MonitorOptions{})
	src := monitorLatency{mon}
	if _, _, _, ok := src.Latency(addr); ok {
		t.Fatal("a reading before the monitor started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mon.Start(ctx)
	defer mon.Close()
	waitUntil(t, 10*time.Second, "a latency reading", func() bool {
		p99, avg, at, ok := src.Latency(addr)
		return ok && p99 > 0 && avg > 0 && time.Since(at) < time.Second
	})
	if _, _, _, ok := src.Latency("127.0.0.1:1"); ok {
		t.Error("a reading for a node the monitor does not probe")
	}
	if err := c.Nodes[0].Kill(); err != nil {
		t.Fatal(err)
	}
	// Well within the monitor's 2s window, which still holds the samples:
	// the failing probe, not their age, must end the reading.
	waitUntil(t, time.Second, "the reading to go once the node is down", func() bool {
		_, _, _, ok := src.Latency(addr)
		return !ok
	})
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
