package migrate

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// nodesLatency is a LatencySource with a p99 per node, all read at the
// clock's time.
type nodesLatency struct {
	mu  sync.Mutex
	clk *fakeClock
	p99 map[string]time.Duration
}

func (f *nodesLatency) Latency(addr string) (time.Duration, time.Duration, time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.p99[addr]
	return v, 0, f.clk.Now(), ok
}

func (f *nodesLatency) set(addr string, p99 time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.p99[addr] = p99
}

// TestPacerSteersOnTarget: a source is paced on its targets' latency too,
// each against that node's own budget, for as long as it sends to them.
func TestPacerSteersOnTarget(t *testing.T) {
	clk := &fakeClock{now: t0}
	lat := &nodesLatency{clk: clk, p99: map[string]time.Duration{"src": ms(1), "dst": ms(1), "other": ms(1)}}
	budgets := map[string]time.Duration{"src": ms(20), "dst": ms(4), "other": ms(4)}
	p := NewPacer(lat, PacerOptions{BudgetP99: ms(20), Now: clk.Now,
		BudgetFor: func(a string) (time.Duration, time.Duration, bool) { return budgets[a], 0, true }})
	ctx := context.Background()
	if _, err := p.Wait(ctx, "src", "dst"); err != nil {
		t.Fatal(err)
	}
	p.Sent("src", "dst", 100, time.Millisecond)
	if !p.Steers("dst") || !p.Steers("src") || p.Steers("other") {
		t.Errorf("Steers: src %v, dst %v, other %v; want true, true, false", p.Steers("src"), p.Steers("dst"), p.Steers("other"))
	}

	// 6ms is well within the source's 20ms budget but over the target's 4ms.
	lat.set("dst", ms(6))
	clk.advance(250 * time.Millisecond)
	pc := p.Current("src")
	if pc.Verdict != VerdictSlower || pc.Node != "dst" || pc.BudgetUsed != 1.5 {
		t.Fatalf("over the target's budget: %s on %s at %.2f of budget; want slower on dst at 1.50", pc.Verdict, pc.Node, pc.BudgetUsed)
	}
	// Of two readings over budget, the one using more of its own budget
	// is judged: the source's 30ms is 1.5x its budget, the target's 8ms 2x.
	lat.set("src", ms(30))
	lat.set("dst", ms(8))
	clk.advance(250 * time.Millisecond)
	if pc := p.Current("src"); pc.Node != "dst" || pc.BudgetUsed != 2 {
		t.Errorf("judged %s at %.2f of budget, want dst at 2.00", pc.Node, pc.BudgetUsed)
	}

	// Once the source has not sent to the target for routeWindows windows,
	// the target's latency is not the source's doing any more.
	lat.set("src", ms(1))
	clk.advance(routeWindows*250*time.Millisecond + time.Millisecond)
	pc = p.Current("src")
	if pc.Node != "src" || pc.Verdict != VerdictFaster {
		t.Errorf("after the route expired: %s on %s, want faster on src", pc.Verdict, pc.Node)
	}
	if p.Steers("dst") {
		t.Error("the target still steers the pace after the route expired")
	}
	// An exhausted pace on a target names it.
	if r := exhaustedReason(Pace{Addr: "src", Node: "dst", P99: ms(8), budgetP99: ms(4)}); r != "pace exhausted on src: its target dst reads p99 8 ms, over budget 4 ms, at the slowest pace" {
		t.Errorf("exhaustedReason = %q", r)
	}
}

// TestPacerPaused: no pipeline is sent while the pacer is paused; Wait
// returns once the pause ends, or with ctx's error.
func TestPacerPaused(t *testing.T) {
	var paused atomic.Bool
	paused.Store(true)
	p := NewPacer(&fakeLatency{}, PacerOptions{BudgetP99: ms(20), Paused: paused.Load})
	done := make(chan error, 1)
	go func() {
		_, err := p.Wait(context.Background(), "src", "dst")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Wait returned while paused: %v", err)
	case <-time.After(10 * pausePoll):
	}
	paused.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait after the pause: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after the pause ended")
	}

	paused.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Wait(ctx, "src", "dst"); err != context.Canceled {
		t.Errorf("Wait with a cancelled context while paused = %v, want context.Canceled", err)
	}
}
