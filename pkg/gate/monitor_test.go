package gate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

func TestMonitorOnRealCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	c := sandboxtest.Start(t, 6, sandboxtest.Options{})
	c.Form(t, 3)
	addrs := c.Addrs()
	masters := addrs[:3]
	// Form: replica j follows master (j+1)%3.
	replicas := map[string]string{addrs[3]: addrs[1], addrs[4]: addrs[2], addrs[5]: addrs[0]}
	pool := admin.NewPool(admin.Options{Password: c.Password})
	t.Cleanup(func() { _ = pool.Close() })

	m := NewMonitor(pool, masters, replicas, MonitorOptions{Interval: 20 * time.Millisecond, Window: time.Second, InfoInterval: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m.Start(ctx)
	t.Cleanup(m.Close)

	g := inventory.Gates{
		LatencyAvgMS:     inventory.Threshold{Hold: 50, Abort: 2000},
		LatencyP99MS:     inventory.Threshold{Hold: 200, Abort: 10000},
		ReplicationLagMS: inventory.Threshold{Hold: 500, Abort: 5000},
		CPUPercent:       inventory.Threshold{Hold: 90, Abort: 99.9},
		MemoryPercent:    inventory.Threshold{Hold: 80, Abort: 95},
	}

	t.Run("readings arrive and are green on an idle cluster", func(t *testing.T) {
		d, err := m.Wait(ctx, g, 10*time.Second)
		if err != nil || d.Verdict != Proceed {
			t.Fatalf("Wait = %v, %v; readings %+v", d, err, m.Readings())
		}
		r := m.Readings()
		for _, a := range masters {
			if l := r.Latency[a]; l.Samples == 0 || l.P99MS <= 0 {
				t.Errorf("latency on %s = %+v", a, l)
			}
		}
		for a := range replicas {
			if _, ok := r.ReplLagMS[a]; !ok {
				t.Errorf("no lag reading for replica %s", a)
			}
		}
		for _, a := range addrs {
			if r.ClusterState[a] != "ok" {
				t.Errorf("cluster_state on %s = %q", a, r.ClusterState[a])
			}
			if _, ok := r.CPUPercent[a]; !ok {
				t.Errorf("no cpu reading for %s", a)
			}
			if v, ok := r.MemoryPercent[a]; !ok || v <= 0 || v >= 100 {
				t.Errorf("memory on %s = %v, %v", a, v, ok)
			}
		}
	})

	t.Run("a low threshold holds and the hold times out", func(t *testing.T) {
		low := g
		low.LatencyAvgMS.Hold = 0.001
		start := time.Now()
		d, err := m.Wait(ctx, low, 300*time.Millisecond)
		if !errors.Is(err, ErrHoldTimeout) {
			t.Fatalf("err = %v, want ErrHoldTimeout", err)
		}
		if d.Verdict != Hold || !strings.Contains(d.Reason(), "latency_avg") {
			t.Fatalf("decision = %v", d)
		}
		if el := time.Since(start); el < 300*time.Millisecond || el > 3*time.Second {
			t.Errorf("held for %v, want about 300ms", el)
		}
	})

	t.Run("an abort threshold returns at once", func(t *testing.T) {
		ab := g
		ab.LatencyP99MS.Abort = 0.001
		start := time.Now()
		d, err := m.Wait(ctx, ab, time.Minute)
		if err != nil || d.Verdict != Abort {
			t.Fatalf("Wait = %v, %v; want abort", d, err)
		}
		if time.Since(start) > time.Second {
			t.Errorf("abort took %v", time.Since(start))
		}
	})

	t.Run("CLIENT PAUSE on a master turns latency red", func(t *testing.T) {
		if err := c.Client(0).Do(ctx, "CLIENT", "PAUSE", 3000).Err(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2500 * time.Millisecond)
		var d Decision
		for time.Now().Before(deadline) {
			d = Decide(m.Readings(), g)
			if d.Verdict == Hold && strings.Contains(d.Reason(), masters[0]) && strings.Contains(d.Reason(), "latency") {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if d.Verdict != Hold || !strings.Contains(d.Reason(), "latency") || !strings.Contains(d.Reason(), masters[0]) {
			t.Fatalf("during the pause: %v", d)
		}
		// After the pause the stalled PING lands in the window: still red.
		time.Sleep(700 * time.Millisecond)
		if d := Decide(m.Readings(), g); d.Verdict == Proceed {
			t.Errorf("green right after a 3s stall: %+v", m.Readings().Latency)
		}
	})
}
