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

// TestPacerQuiet: no pipeline is sent while any Quiet is unreleased;
// releasing one twice does not release another.
func TestPacerQuiet(t *testing.T) {
	p := NewPacer(&fakeLatency{}, PacerOptions{BudgetP99: ms(20)})
	first, second := p.Quiet(), p.Quiet()
	done := make(chan error, 1)
	go func() {
		_, err := p.Wait(context.Background(), "src", "dst")
		done <- err
	}()
	first()
	first()
	select {
	case err := <-done:
		t.Fatalf("Wait returned with one quiet left: %v", err)
	case <-time.After(10 * pausePoll):
	}
	if n, busy := p.Activity(); n != 0 || busy {
		t.Errorf("Activity while quiet = %d, %v; want nothing begun", n, busy)
	}
	second()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait after the quiet: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after the last quiet was released")
	}
}

// TestPacerCutsOnPause: a pause (an abort awaiting its second look) judges
// each waiting source at once on the reading that began it, whenever the
// source last decided; it cuts once per pause, and never speeds a source
// up or cuts one whose nodes are within budget.
func TestPacerCutsOnPause(t *testing.T) {
	var paused atomic.Bool
	src := &fakeLatency{}
	clk := &fakeClock{now: t0}
	p := NewPacer(src, PacerOptions{
		BudgetP99: ms(20), Paused: paused.Load, Now: clk.Now,
		// "calm" and its target have room for the spike; the others do not.
		BudgetFor: func(addr string) (time.Duration, time.Duration, bool) {
			return ms(500), 0, addr == "calm" || addr == "calm-dst"
		},
	})
	ctx := context.Background()
	dst := map[string]string{"spiked": "dst", "calm": "calm-dst"}
	for _, a := range []string{"spiked", "calm"} {
		if _, err := p.Wait(ctx, a, dst[a]); err != nil {
			t.Fatal(err)
		}
	}
	start, _ := p.Last("spiked")

	clk.advance(p.Options().Window / 5) // within the window: no decision due
	src.set(ms(90), clk.Now(), true)    // over the abort limit and the budget
	paused.Store(true)
	done := make(chan error, 3)
	for _, a := range []string{"spiked", "spiked", "calm"} {
		go func() {
			_, err := p.Wait(ctx, a, dst[a])
			done <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(p.History("spiked")) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(5 * pausePoll) // let the other waiters judge too
	cut, _ := p.Last("spiked")
	if cut.Verdict != VerdictSlower || cut.Keys != start.Keys/2 || cut.Rest <= 0 {
		t.Fatalf("paused on a spike: pace %+v, want one cut from %d keys", cut, start.Keys)
	}
	if h := p.History("spiked"); len(h) != 2 {
		t.Fatalf("two waits in one pause changed the pace %d times, want once: %+v", len(h)-1, h)
	}
	if calm, _ := p.Last("calm"); calm.Verdict != VerdictStart {
		t.Fatalf("a source within budget changed its pace in the pause: %+v", calm)
	}
	paused.Store(false)
	for range 3 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Wait did not return after the pause ended")
		}
	}

	// A new pause on a reading within budget does not speed the source up.
	src.set(ms(1), clk.Now(), true)
	clk.advance(p.Options().Window / 5)
	paused.Store(true)
	src.mu.Lock()
	calls := src.calls
	src.mu.Unlock()
	go func() {
		_, err := p.Wait(ctx, "spiked", "dst")
		done <- err
	}()
	time.Sleep(5 * pausePoll)
	src.mu.Lock()
	judged := src.calls > calls
	src.mu.Unlock()
	if !judged {
		t.Fatal("the source was not judged in a new pause")
	}
	if got, _ := p.Last("spiked"); got.Keys != cut.Keys || got.Rest != cut.Rest || got.Verdict != VerdictSlower {
		t.Fatalf("a pause on a calm reading changed the pace to %+v", got)
	}
	paused.Store(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPacerSummaryExhausted: the summary says how long sources were
// exhausted, why the latest was, and what the slowest pace is.
func TestPacerSummaryExhausted(t *testing.T) {
	src := &fakeLatency{}
	clk := &fakeClock{now: t0}
	p := NewPacer(src, PacerOptions{BudgetP99: ms(10), Now: clk.Now})
	p.Current("src")
	if s := p.Summary(); s.LastExhausted != "" || s.Exhausted != 0 {
		t.Fatalf("fresh pacer summary %+v", s)
	}
	for i := 0; i < 40 && !p.Exhausted("src"); i++ {
		clk.advance(p.Options().Window)
		src.set(ms(30), clk.Now(), true)
		p.Current("src")
	}
	if !p.Exhausted("src") {
		t.Fatal("the source never became exhausted")
	}
	clk.advance(p.Options().Window)
	s := p.Summary()
	if s.Exhausted != p.Options().Window {
		t.Errorf("exhausted %v, want one window", s.Exhausted)
	}
	if want := "pace exhausted on src: p99 30 ms over budget 10 ms at the slowest pace"; s.LastExhausted != want {
		t.Errorf("last exhausted %q, want %q", s.LastExhausted, want)
	}
	if want := "10 keys (at most 40 KiB) per MIGRATE, one MIGRATE per pipeline, resting 512× the time each took (at most 200ms)"; s.Slowest != want {
		t.Errorf("slowest %q, want %q", s.Slowest, want)
	}
}

// TestPacerDipsBeforeExhausting: over budget at the steady floor, the
// controller slows on below it rather than holding the run, comes back to
// the floor within a few windows of a reading within budget, and the
// summary counts the time spent below the floor.
func TestPacerDipsBeforeExhausting(t *testing.T) {
	src := &fakeLatency{}
	clk := &fakeClock{now: t0}
	p := NewPacer(src, PacerOptions{BudgetP99: ms(10), Gentle: true, GentleRest: 4, SteadyRest: 4, MaxRest: 16, Now: clk.Now})
	w := p.Options().Window
	step := func(p99 time.Duration) Pace {
		clk.advance(w)
		src.set(p99, clk.Now(), true)
		return p.Current("src")
	}
	p.Current("src")
	// Over budget from the steady floor: 8, then 16 (MaxRest), then
	// exhausted, one window each (Settle 0).
	for i, want := range []float64{8, 16, 16} {
		if pc := step(ms(30)); pc.Rest != want || pc.Exhausted != (i == 2) {
			t.Fatalf("over budget, window %d: rest %v exhausted %v; want %v %v", i+1, pc.Rest, pc.Exhausted, want, i == 2)
		}
	}
	// Within budget, if only just (9 ms of 10), the dip halves back to
	// the steady floor (8, 4); there the same reading holds the pace, and
	// one under the headroom climbs additively.
	for i, c := range []struct {
		p99  time.Duration
		want float64
	}{{ms(9), 8}, {ms(9), 4}, {ms(9), 4}, {ms(1), 4 - p.Options().RestStep}} {
		if pc := step(c.p99); pc.Rest != c.want || pc.Exhausted {
			t.Fatalf("within budget, window %d: rest %v exhausted %v; want %v", i+1, pc.Rest, pc.Exhausted, c.want)
		}
	}
	// Below the floor from the first cut (rest 8) to the window that
	// brought it back to 4: four windows, one of them exhausted.
	s := p.Summary()
	if s.Dipped != 4*w || s.Exhausted != w {
		t.Errorf("summary: dipped %v exhausted %v; want %v and %v", s.Dipped, s.Exhausted, 4*w, w)
	}
	clk.advance(10 * w)
	if s := p.Summary(); s.Dipped != 4*w {
		t.Errorf("dipped grew at the steady floor: %v", s.Dipped)
	}
}
