package stage

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/migrate"
	"github.com/slotshift/slotshift/pkg/report"
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

func TestVariationBudget(t *testing.T) {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	for _, tc := range []struct {
		name             string
		base             gate.Latency
		p99Hold, avgHold time.Duration
		wantP99, wantAvg time.Duration
		wantOK           bool
	}{
		{"no baseline", gate.Latency{}, ms(20), ms(5), 0, 0, false},
		{"above the floor", gate.Latency{P99MS: 4, AvgMS: 2, Samples: 100}, 0, 0, ms(4.4), ms(2.2), true},
		{"loopback: 10% of the floor", gate.Latency{P99MS: 0.2, AvgMS: 0.1, Samples: 100}, 0, 0, ms(0.3), ms(0.2), true},
		{"capped by the absolute holds", gate.Latency{P99MS: 40, AvgMS: 10, Samples: 100}, ms(20), ms(5), ms(20), ms(5), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p99, avg, ok := variationBudget(tc.base, 10, tc.p99Hold, tc.avgHold)
			near := func(a, b time.Duration) bool { return (a - b).Abs() < time.Microsecond }
			if ok != tc.wantOK || !near(p99, tc.wantP99) || !near(avg, tc.wantAvg) {
				t.Errorf("= %v, %v, %v; want %v, %v, %v", p99, avg, ok, tc.wantP99, tc.wantAvg, tc.wantOK)
			}
			// Uncapped, the budget is where the gate starts to hold.
			if ok && tc.p99Hold == 0 {
				for _, c := range []struct{ at, base float64 }{{p99.Seconds() * 1000, tc.base.P99MS}, {avg.Seconds() * 1000, tc.base.AvgMS}} {
					if v := gate.Variation(c.at, c.base); v < 9.99 || v > 10.01 {
						t.Errorf("gate.Variation(%v, %v) = %v, want the hold, 10", c.at, c.base, v)
					}
				}
			}
		})
	}
}

// TestPaceCheck: a run whose sources spent a quarter of their time or more
// exhausted warns, naming the share, the slowest pace, the last reading
// that exhausted it and what to change; a run below that does not.
func TestPaceCheck(t *testing.T) {
	s := migrate.PaceSummary{Sources: 3, Exhausted: 45 * time.Second, Slowest: "10 keys per MIGRATE",
		LastExhausted: "pace exhausted on 10.0.0.1:6379: p99 1.6 ms over budget 1.1 ms at the slowest pace"}
	c, ok := paceCheck(s, 60*time.Second) // 45 s of 3 × 60 s: 25%
	if !ok || c.ID != IDPace || c.Status != report.Warn || c.Observed != 25.0 {
		t.Fatalf("check %+v, ok %v; want a 25%% warning", c, ok)
	}
	for _, want := range []string{"25% of the run", "10 keys per MIGRATE", "p99 1.6 ms over budget 1.1 ms"} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("message %q lacks %q", c.Message, want)
		}
	}
	if !strings.Contains(c.Hint, "latency_variation_percent") {
		t.Errorf("hint %q names no setting to change", c.Hint)
	}
	if c, ok := paceCheck(s, 61*time.Second); ok {
		t.Errorf("24.6%% exhausted warned: %+v", c)
	}
	if _, ok := paceCheck(migrate.PaceSummary{}, time.Minute); ok {
		t.Error("a run without sources warned")
	}
}

// TestPacerGentleOnVariation: with the latency variation gate, whose
// budget sits just above a calm baseline, sources start at the fewest keys
// per MIGRATE, resting; with the absolute gates alone they start fast.
func TestPacerGentleOnVariation(t *testing.T) {
	mon := gate.NewMonitor(nil, []string{"10.0.0.1:6379"}, nil, gate.MonitorOptions{})
	for _, c := range []struct {
		name      string
		variation float64
		gentle    bool
	}{{"absolute gates", 0, false}, {"variation gate", 10, true}} {
		inv := &inventory.Inventory{}
		inv.Gates.LatencyP99MS.Hold = 20
		inv.Gates.LatencyVariationPercent.Hold = c.variation
		r := &rebalancer{observer: &observer{inv: inv}}
		p := r.pacer(mon)
		if p == nil {
			t.Fatalf("%s: no pacer", c.name)
		}
		o := p.Options()
		first := p.Current("10.0.0.1:6379")
		resting := first.Keys == o.MinKeys && first.Depth == 1 && first.Rest == o.GentleRest
		if o.Gentle != c.gentle || resting != c.gentle {
			t.Errorf("%s: gentle %v, first pace %+v; want gentle %v", c.name, o.Gentle, first, c.gentle)
		}
	}
}

// TestHeldText: with a pacer the gates check counts the executor's holds
// (gates and exhausted pace, overlaps once), which the gate monitor
// neither sees nor could add up; without one, the monitor's.
func TestHeldText(t *testing.T) {
	mon := gate.NewMonitor(nil, []string{"10.0.0.1:6379"}, nil, gate.MonitorOptions{})
	if got := heldText(mon, migrate.Result{}); got != "" {
		t.Errorf("no hold: %q", got)
	}
	paced := migrate.Result{Holds: 2, Held: 3500 * time.Millisecond, Pace: &migrate.PaceSummary{}}
	if got, want := heldText(mon, paced), "; held 2 time(s) at a boundary, 3.5s in all"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := heldText(mon, migrate.Result{Holds: 2, Held: time.Second}); got != "" {
		t.Errorf("unpaced run with the monitor's count of 0: %q", got)
	}
}
