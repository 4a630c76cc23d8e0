package gate

import (
	"context"
	"errors"
	"log/slog"
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

	t.Run("an abort threshold returns after its second look", func(t *testing.T) {
		ab := g
		ab.LatencyP99MS.Abort = 0.001
		ab.AbortRecheck = inventory.Duration{Duration: 500 * time.Millisecond}
		start := time.Now()
		d, err := m.Wait(ctx, ab, time.Minute)
		if err != nil || d.Verdict != Abort {
			t.Fatalf("Wait = %v, %v; want abort", d, err)
		}
		if el := time.Since(start); el < 500*time.Millisecond || el > 2*time.Second {
			t.Errorf("abort took %v, want the 500ms second look", el)
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

// A hold caused by a latency spike clears once the cluster has been calm for
// CalmPeriod, not when the spike leaves the (much longer) window; a stall
// that is still going on keeps it.
func TestHoldClearsAfterCalmPeriod(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	c := sandboxtest.Start(t, 3, sandboxtest.Options{})
	c.Form(t, 3)
	masters := c.Addrs()
	pool := admin.NewPool(admin.Options{Password: c.Password})
	t.Cleanup(func() { _ = pool.Close() })
	// Thresholds sit far above scheduler noise: under go test -race with
	// other packages running, an idle loopback PING's p99 reaches 30ms+.
	const window = 8 * time.Second
	var logs sandboxtest.Output
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m := NewMonitor(pool, masters, nil, MonitorOptions{Interval: 20 * time.Millisecond, Window: window, InfoInterval: 200 * time.Millisecond, CalmPeriod: 300 * time.Millisecond, Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m.Start(ctx)
	t.Cleanup(m.Close)
	g := inventory.Gates{
		LatencyP99MS:     inventory.Threshold{Hold: 150, Abort: 10000},
		ReplicationLagMS: inventory.Threshold{Hold: 500, Abort: 5000},
		MemoryPercent:    inventory.Threshold{Hold: 80, Abort: 95},
		// latency avg and CPU unset: a loaded test machine must not hold.
	}
	if d, err := m.Wait(ctx, g, 10*time.Second); err != nil || d.Verdict != Proceed {
		t.Fatalf("idle cluster: %v, %v", d, err)
	}
	// Waiting for the first readings is not a hold worth logging.
	if strings.Contains(logs.String(), "gates hold") {
		t.Errorf("the wait for the first readings was logged as a hold:\n%s", logs.String())
	}
	if n, held := m.Held(); n != 0 || held != 0 {
		t.Errorf("Held() = %d, %v after the wait for first readings, want none", n, held)
	}
	p99 := func(d Decision) (float64, bool) {
		for _, r := range d.Readings {
			if r.Gate == "latency_p99_ms" && r.Node == masters[0] {
				return r.Value, true
			}
		}
		return 0, false
	}

	// Ten 250ms stalls of one master: ~10 slow PINGs among at most ~400 in
	// the window, so its p99 stays over 150ms for the whole window.
	for range 10 {
		if err := c.Client(0).Do(ctx, "CLIENT", "PAUSE", 250).Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(280 * time.Millisecond)
	}
	stallsEnded := time.Now()
	if d := Decide(m.Readings(), g); d.Verdict != Hold || !strings.Contains(d.Reason(), masters[0]) {
		t.Fatalf("after the stalls the window should hold on %s: %v", masters[0], d)
	}
	d, err := m.Wait(ctx, g, 10*time.Second)
	held := time.Since(stallsEnded)
	t.Logf("held %v after the stalls", held)
	if err != nil || d.Verdict != Proceed {
		t.Fatalf("Wait = %v, %v", d, err)
	}
	if held >= window/2 {
		t.Errorf("the hold lasted %v, most of the %v window: the calm period did not count", held, window)
	}
	if v, ok := p99(d); !ok || v >= 150 {
		t.Errorf("proceeded on p99 %.1fms (found %v) of %s", v, ok, masters[0])
	}
	if l := logs.String(); !strings.Contains(l, `msg="gates hold" reason="latency_p99`) || !strings.Contains(l, "gates no longer hold") {
		t.Errorf("the hold was not logged with its reason and end:\n%s", l)
	}
	if n, h := m.Held(); n != 1 || h <= 0 || h > held {
		t.Errorf("Held() = %d, %v; want 1 hold of at most %v", n, h, held)
	}
	// Outside a hold the window still holds the spike.
	if d := Decide(m.Readings(), g); d.Verdict != Hold {
		t.Errorf("the window forgot the stalls after %v: %v", time.Since(stallsEnded), d)
	}

	// A stall still in progress is not calm: Wait keeps holding.
	if err := c.Client(1).Do(ctx, "CLIENT", "PAUSE", 1500).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	d, err = m.Wait(ctx, g, 10*time.Second)
	if err != nil {
		t.Fatalf("Wait = %v, %v", d, err)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("proceeded %v into a 1.5s stall: %v", el, d)
	}
	if n, h := m.Held(); n != 2 || h < time.Second {
		t.Errorf("Held() = %d, %v after the second hold; want 2 holds, over 1s in all", n, h)
	}
}
