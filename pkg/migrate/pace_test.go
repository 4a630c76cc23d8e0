package migrate

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testPaceOptions() PacerOptions {
	return PacerOptions{BudgetP99: 20 * time.Millisecond, BudgetAvg: 5 * time.Millisecond}.withDefaults()
}

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func TestPaceDecide(t *testing.T) {
	o := testPaceOptions()
	now := t0.Add(time.Second)
	fresh := func(p99, avg float64) Observation { return Observation{P99: ms(p99), Avg: ms(avg), At: now, OK: true} }
	start := Pace{Keys: 100, Depth: 2}
	slowest := Pace{Keys: o.MinKeys, Depth: 1, Rest: o.MaxRest}
	fastest := Pace{Keys: o.MaxKeys, Depth: o.MaxDepth}
	cases := []struct {
		name      string
		cur       Pace
		obs       Observation
		want      Pace // Keys, Depth, Rest, Verdict, Exhausted compared
		wantUsed  float64
		wantCutAt bool
	}{
		{"p99 over budget cuts keys and depth, adds rest", start, fresh(30, 1),
			Pace{Keys: 50, Depth: 1, Rest: o.RestStep, Verdict: VerdictSlower}, 1.5, true},
		{"avg over budget cuts too", start, fresh(10, 6),
			Pace{Keys: 50, Depth: 1, Rest: o.RestStep, Verdict: VerdictSlower}, 1.2, true},
		{"a second cut doubles the rest", Pace{Keys: 50, Depth: 1, Rest: 0.5}, fresh(40, 1),
			Pace{Keys: 25, Depth: 1, Rest: 1, Verdict: VerdictSlower}, 2, true},
		{"cuts stop at the floor", Pace{Keys: 15, Depth: 1, Rest: o.MaxRest * 3 / 4}, fresh(40, 1),
			Pace{Keys: o.MinKeys, Depth: 1, Rest: o.MaxRest, Verdict: VerdictSlower}, 2, true},
		{"slowest and still over budget is exhausted", slowest, fresh(40, 1),
			Pace{Keys: o.MinKeys, Depth: 1, Rest: o.MaxRest, Verdict: VerdictSlower, Exhausted: true}, 2, true},
		{"near the budget holds", start, fresh(18, 1),
			Pace{Keys: 100, Depth: 2, Verdict: VerdictHold}, 0.9, false},
		{"under budget takes rest off first", Pace{Keys: 50, Depth: 1, Rest: 1}, fresh(5, 1),
			Pace{Keys: 50, Depth: 1, Rest: 0.75, Verdict: VerdictFaster}, 0.25, false},
		{"rest never goes negative", Pace{Keys: 50, Depth: 1, Rest: 0.1}, fresh(5, 1),
			Pace{Keys: 50, Depth: 1, Rest: 0, Verdict: VerdictFaster}, 0.25, false},
		{"then depth grows by one", Pace{Keys: 50, Depth: 1}, fresh(5, 1),
			Pace{Keys: 50, Depth: 2, Verdict: VerdictFaster}, 0.25, false},
		{"then keys grow by a step", cutBefore(start), fresh(5, 1),
			Pace{Keys: 100 + o.KeysStep, Depth: 2, Verdict: VerdictFaster}, 0.25, false},
		{"before the first cut keys double", start, fresh(5, 1),
			Pace{Keys: 200, Depth: 2, Verdict: VerdictFaster}, 0.25, false},
		{"doubling stops at the ceiling", Pace{Keys: o.MaxKeys/2 + 1, Depth: 2}, fresh(5, 1),
			Pace{Keys: o.MaxKeys, Depth: 2, Verdict: VerdictFaster}, 0.25, false},
		{"keys stop at the ceiling", cutBefore(Pace{Keys: o.MaxKeys - 1, Depth: 2}), fresh(5, 1),
			Pace{Keys: o.MaxKeys, Depth: 2, Verdict: VerdictFaster}, 0.25, false},
		{"at the fastest it holds", fastest, fresh(1, 0.1),
			Pace{Keys: o.MaxKeys, Depth: o.MaxDepth, Verdict: VerdictHold}, 0.05, false},
		{"under budget clears exhaustion, halving a dip", Pace{Keys: o.MinKeys, Depth: 1, Rest: o.MaxRest, Exhausted: true}, fresh(1, 0.1),
			Pace{Keys: o.MinKeys, Depth: 1, Rest: o.MaxRest / 2, Verdict: VerdictFaster}, 0.05, false},
		{"a cut at the steady floor dips below it", Pace{Keys: o.MinKeys, Depth: 1, Rest: o.SteadyRest}, fresh(30, 1),
			Pace{Keys: o.MinKeys, Depth: 1, Rest: 2 * o.SteadyRest, Verdict: VerdictSlower}, 1.5, true},
		{"a reading within budget ends a dip, under the headroom or not", Pace{Keys: o.MinKeys, Depth: 1, Rest: 4 * o.SteadyRest}, fresh(18, 1),
			Pace{Keys: o.MinKeys, Depth: 1, Rest: 2 * o.SteadyRest, Verdict: VerdictFaster}, 0.9, false},
		{"a dip ends no lower than the steady floor", Pace{Keys: o.MinKeys, Depth: 1, Rest: o.SteadyRest * 3 / 2}, fresh(5, 1),
			Pace{Keys: o.MinKeys, Depth: 1, Rest: o.SteadyRest, Verdict: VerdictFaster}, 0.25, false},
		{"from the steady floor the climb is additive", Pace{Keys: o.MinKeys, Depth: 1, Rest: o.SteadyRest}, fresh(5, 1),
			Pace{Keys: o.MinKeys, Depth: 1, Rest: o.SteadyRest - o.RestStep, Verdict: VerdictFaster}, 0.25, false},
		{"a missing reading keeps the pace", Pace{Keys: 50, Depth: 1, Rest: 0.5}, Observation{},
			Pace{Keys: 50, Depth: 1, Rest: 0.5, Verdict: VerdictStale}, 0, false},
		{"a stale good reading does not speed up", Pace{Keys: 50, Depth: 1, Rest: 0.5},
			Observation{P99: ms(1), Avg: ms(0.1), At: now.Add(-o.MaxAge - time.Millisecond), OK: true},
			Pace{Keys: 50, Depth: 1, Rest: 0.5, Verdict: VerdictStale}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := o.Decide(c.cur, c.obs, now)
			if got.Keys != c.want.Keys || got.Depth != c.want.Depth || got.Rest != c.want.Rest || got.Verdict != c.want.Verdict || got.Exhausted != c.want.Exhausted {
				t.Errorf("Decide(%+v) = keys %d depth %d rest %v %s exhausted=%v; want keys %d depth %d rest %v %s exhausted=%v",
					c.cur, got.Keys, got.Depth, got.Rest, got.Verdict, got.Exhausted, c.want.Keys, c.want.Depth, c.want.Rest, c.want.Verdict, c.want.Exhausted)
			}
			if diff := got.BudgetUsed - c.wantUsed; diff > 1e-9 || diff < -1e-9 {
				t.Errorf("BudgetUsed = %v, want %v", got.BudgetUsed, c.wantUsed)
			}
			if got.cutAt.Equal(now) != c.wantCutAt {
				t.Errorf("cut recorded = %v, want %v", got.cutAt.Equal(now), c.wantCutAt)
			}
			if !got.At.Equal(now) {
				t.Errorf("At = %v, want %v", got.At, now)
			}
		})
	}
}

// cutBefore returns p as if it had been cut once, long ago: past slow start.
func cutBefore(p Pace) Pace {
	p.cutAt, p.cutUsed = t0, 1.5
	return p
}

func TestPaceDecideSettle(t *testing.T) {
	o := testPaceOptions()
	o.Settle = 2 * time.Second
	now := t0
	obs := func(p99 float64) Observation { return Observation{P99: ms(p99), At: now, OK: true} }
	cur := o.Decide(Pace{Keys: 100, Depth: 2}, obs(30), now)
	if cur.Verdict != VerdictSlower || cur.Keys != 50 {
		t.Fatalf("first reading over budget: %+v", cur)
	}
	now = now.Add(250 * time.Millisecond)
	if next := o.Decide(cur, obs(30), now); next.Verdict != VerdictSettle || next.Keys != 50 || next.Rest != cur.Rest {
		t.Errorf("the same reading within Settle cut again: %+v", next)
	}
	if next := o.Decide(cur, obs(45), now); next.Verdict != VerdictSlower || next.Keys != 25 {
		t.Errorf("a worse reading within Settle did not cut: %+v", next)
	}
	now = t0.Add(o.Settle)
	if next := o.Decide(cur, obs(30), now); next.Verdict != VerdictSlower || next.Keys != 25 {
		t.Errorf("the same reading after Settle did not cut: %+v", next)
	}
}

// TestPaceExhaustedAfterSettle: readings within Settle of reaching the
// slowest pace may still show the faster pace's load, so they are not
// judged; the judged ones must then stay over budget for Settle (a second
// look, on a probe window that shares no sample with the first) before the
// pace is exhausted, which holds the run. A reading within budget, or a
// pace that leaves the slowest and comes back, starts the wait again.
func TestPaceExhaustedAfterSettle(t *testing.T) {
	o := testPaceOptions()
	o.Settle = 2 * time.Second
	// No dip below a steady floor (TestPacerDipsBeforeExhausting has
	// it): a reading within budget keeps the slowest pace here.
	o.SteadyRest = o.MaxRest
	now := t0
	obs := func(p99 float64) Observation { return Observation{P99: ms(p99), At: now, OK: true} }
	var cur Pace
	// read decides cur's next pace on a reading of p99 taken d after t0.
	read := func(p99 float64, d time.Duration) Pace {
		now = t0.Add(d)
		return o.Decide(cur, obs(p99), now)
	}
	above := Pace{Keys: o.MinKeys, Depth: 1, Rest: o.MaxRest / 2}
	cur = o.Decide(above, obs(30), now)
	if !cur.slowest(o) || cur.Exhausted {
		t.Fatalf("cut to the floor: %+v, want the slowest pace, not exhausted", cur)
	}
	// Worse than the cut's reading, so Settle does not spare a cut: only
	// the exhaustion rule keeps these from exhausting.
	overFor := func(from time.Duration, steps ...time.Duration) {
		t.Helper()
		for _, d := range steps {
			if cur = read(60, from+d); cur.Exhausted || !cur.slowest(o) {
				t.Errorf("%v after %v: %+v, want the slowest pace, not exhausted yet", d, from, cur)
			}
		}
	}
	// Not judged yet, then judged: the first look, and the wait for the second.
	overFor(0, 250*time.Millisecond, time.Second, o.Settle-time.Millisecond, o.Settle, o.Settle+time.Second, 2*o.Settle-time.Millisecond)
	if cur = read(60, 2*o.Settle); !cur.Exhausted {
		t.Errorf("over budget for Settle once judged: %+v, want exhausted", cur)
	}
	if cur = read(60, 2*o.Settle+time.Second); !cur.Exhausted {
		t.Errorf("still over budget: %+v, want still exhausted", cur)
	}

	// A reading within budget (above the headroom: the pace stays) clears
	// it, and the next one over budget is a first look again.
	base := 3 * o.Settle
	if cur = read(o.Headroom*20+1, base); cur.Exhausted || !cur.slowest(o) {
		t.Fatalf("within budget at the slowest pace: %+v, want not exhausted, still slowest", cur)
	}
	overFor(base, 250*time.Millisecond, o.Settle)
	if cur = read(60, base+250*time.Millisecond+o.Settle); !cur.Exhausted {
		t.Errorf("over budget for Settle after a reading within it: %+v, want exhausted", cur)
	}

	// Under the headroom: a step up leaves the floor ...
	base += 2 * o.Settle
	if cur = read(1, base); cur.Exhausted || cur.slowest(o) {
		t.Fatalf("a raise: %+v", cur)
	}
	// ... and a cut back to it waits Settle, then Settle more, again.
	base += 250 * time.Millisecond
	if cur = read(30, base); !cur.slowest(o) || cur.Exhausted {
		t.Fatalf("cut back to the floor: %+v", cur)
	}
	overFor(base, time.Second, o.Settle, 2*o.Settle-time.Millisecond)
	if cur = read(60, base+2*o.Settle); !cur.Exhausted {
		t.Errorf("2×Settle after returning to the floor: %+v, want exhausted", cur)
	}

	// With no Settle, the first reading over budget at the slowest pace
	// exhausts it.
	o.Settle = 0
	if got := o.Decide(Pace{Keys: o.MinKeys, Depth: 1, Rest: o.MaxRest}, obs(30), now); !got.Exhausted {
		t.Errorf("Settle 0: %+v, want exhausted at once", got)
	}
}

func TestPaceWithDefaults(t *testing.T) {
	o := PacerOptions{MinKeys: 50, MaxKeys: 20, StartKeys: 5, MaxRest: 0.1}.withDefaults()
	if o.MaxKeys != 50 || o.StartKeys != 50 {
		t.Errorf("keys bounds not reconciled: min %d max %d start %d", o.MinKeys, o.MaxKeys, o.StartKeys)
	}
	if o.RestStep != 0.1 || o.GentleRest != 0.1 || o.SteadyRest != 0.1 {
		t.Errorf("RestStep %v, GentleRest %v or SteadyRest %v exceeds MaxRest %v", o.RestStep, o.GentleRest, o.SteadyRest, o.MaxRest)
	}
	if o := (PacerOptions{SteadyRest: 64, GentleRest: 100}).withDefaults(); o.GentleRest != 64 {
		t.Errorf("GentleRest %v above SteadyRest %v", o.GentleRest, o.SteadyRest)
	}
	d := PacerOptions{}.withDefaults()
	if d.Window != 250*time.Millisecond || d.StartKeys != 100 || d.MinKeys != 10 || d.MaxKeys != 1000 || d.MaxDepth != 2 ||
		d.MaxRest != 512 || d.SteadyRest != 128 || d.GentleRest != 32 || d.RestStep != 0.25 || d.MaxPause != 200*time.Millisecond {
		t.Errorf("defaults: %+v", d)
	}
}

// fakeLatency is a LatencySource whose reading a test sets.
type fakeLatency struct {
	mu    sync.Mutex
	p99   time.Duration
	at    time.Time
	ok    bool
	calls int
}

func (f *fakeLatency) Latency(string) (time.Duration, time.Duration, time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.p99, 0, f.at, f.ok
}

func (f *fakeLatency) set(p99 time.Duration, at time.Time, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.p99, f.at, f.ok = p99, at, ok
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestPacerWindows drives a Pacer through a slow spell and a recovery: it
// decides once per window, not per call, cuts fast, speeds up slowly, and
// keeps a history of what changed.
func TestPacerWindows(t *testing.T) {
	clk := &fakeClock{now: t0}
	src := &fakeLatency{}
	// MaxRest 4: the steps below count windows to the slowest pace and back.
	p := NewPacer(src, PacerOptions{BudgetP99: 20 * time.Millisecond, MaxRest: 4, Now: clk.Now})
	const a = "127.0.0.1:7000"
	if pc := p.Current(a); pc.Keys != 100 || pc.Depth != 2 || pc.Rest != 0 || pc.Verdict != VerdictStart {
		t.Fatalf("start pace: %+v", pc)
	}
	// Calls within a window decide nothing, however bad the reading.
	src.set(50*time.Millisecond, clk.Now(), true)
	for range 10 {
		clk.advance(20 * time.Millisecond)
		if pc := p.Current(a); pc.Keys != 100 {
			t.Fatalf("decided within a window: %+v", pc)
		}
	}
	if src.calls != 0 {
		t.Errorf("the source was read %d times within the first window", src.calls)
	}
	// Over budget: each window halves keys until the floor, then exhausted.
	var keys []int
	for range 6 {
		clk.advance(250 * time.Millisecond)
		src.set(50*time.Millisecond, clk.Now(), true)
		keys = append(keys, p.Current(a).Keys)
	}
	if want := []int{50, 25, 12, 10, 10, 10}; !equalInts(keys, want) {
		t.Errorf("keys per window over budget = %v, want %v", keys, want)
	}
	if !p.Exhausted(a) {
		t.Errorf("not exhausted at the slowest pace over budget: %+v", p.Current(a))
	}
	if pc := p.Current(a); pc.Rest != 4 || pc.Depth != 1 {
		t.Errorf("slowest pace: %+v", pc)
	}
	// Stale readings: no speed-up, however good they were.
	for range 8 {
		clk.advance(250 * time.Millisecond)
		src.set(time.Millisecond, clk.Now().Add(-2*time.Second), true)
		if pc := p.Current(a); pc.Rest != 4 || pc.Verdict != VerdictStale {
			t.Fatalf("stale reading changed the pace: %+v", pc)
		}
	}
	// Fresh and under budget: one additive step per window, rest first.
	var rests []float64
	for range 18 {
		clk.advance(250 * time.Millisecond)
		src.set(time.Millisecond, clk.Now(), true)
		pc := p.Current(a)
		rests = append(rests, pc.Rest)
		if pc.Keys != 10 && pc.Rest > 0 {
			t.Fatalf("keys grew before the rest was gone: %+v", pc)
		}
	}
	for i := 1; i < 16; i++ {
		if rests[i-1]-rests[i] != 0.25 {
			t.Fatalf("rest did not shrink by one step per window: %v", rests)
		}
	}
	if p.Exhausted(a) {
		t.Error("still exhausted under budget")
	}
	if pc := p.Current(a); pc.Rest != 0 || pc.Depth != 2 || pc.Keys != 60 {
		t.Errorf("after 18 good windows: %+v, want no rest, depth 2, keys 60", pc)
	}
	h := p.History(a)
	var slower, faster, stale int
	for _, pc := range h {
		switch pc.Verdict {
		case VerdictSlower:
			slower++
		case VerdictFaster:
			faster++
		case VerdictStale:
			stale++
		}
	}
	// Repeats of one verdict at an unchanged pace are not recorded.
	if slower != 6 || faster != 18 || stale != 1 || h[0].Verdict != VerdictStart {
		t.Errorf("history: %d slower, %d faster, %d stale (%d entries)", slower, faster, stale, len(h))
	}
	if l, want := p.Level(p.Current(a)), 51.0/991; l < want-1e-9 || l > want+1e-9 {
		t.Errorf("level at keys 60 of 10..1000, full depth, no pause = %v, want %v", l, want)
	}
}

// TestPacerWait waits the pause and respects cancellation.
func TestPacerWait(t *testing.T) {
	src := &fakeLatency{}
	src.set(time.Second, time.Now(), true)
	p := NewPacer(src, PacerOptions{BudgetP99: time.Millisecond, Window: time.Nanosecond, MaxPause: 2 * time.Hour})
	const a = "127.0.0.1:7000"
	p.Current(a)
	p.Sent(a, "", 10, time.Hour) // the rest after a cut is a quarter of that
	time.Sleep(time.Millisecond)
	src.set(time.Second, time.Now(), true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	pc, err := p.Wait(ctx, a, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the context's error", err)
	}
	if pc.Rest != 0.25 || pc.Verdict != VerdictSlower {
		t.Errorf("pace = %+v, want a cut to rest 0.25", pc)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("Wait ignored cancellation: %v", el)
	}
	// The rest was taken (cut short): the next pipeline goes at once.
	start = time.Now()
	if _, err := p.Wait(context.Background(), a, ""); err != nil || time.Since(start) > 10*time.Second {
		t.Errorf("second Wait: %v after %v", err, time.Since(start))
	}
}

// TestPacerOwesShortRests: a rest too short for the runtime's timers is
// owed, and the debt is slept once it reaches minRest, so that a source
// spends on MIGRATE the share of its time its pace says.
func TestPacerOwesShortRests(t *testing.T) {
	src := &fakeLatency{}
	src.set(100*time.Microsecond, time.Now(), true)
	// Gentle starts at rest GentleRest, here MaxRest's 0.25, kept for the
	// Window.
	p := NewPacer(src, PacerOptions{BudgetP99: time.Millisecond, Window: time.Hour, Gentle: true, MaxRest: 0.25})
	var slept []time.Duration
	p.sleep = func(_ context.Context, d time.Duration) { slept = append(slept, d) }
	const a = "127.0.0.1:7000"
	for range 200 {
		pc, err := p.Wait(context.Background(), a, "")
		if err != nil || pc.Rest != 0.25 {
			t.Fatalf("Wait = %+v, %v; want rest 0.25", pc, err)
		}
		p.Sent(a, "", 10, 100*time.Microsecond) // owes 25µs each
	}
	// 199 rests of 25µs: two of 2ms taken, 975µs still owed.
	if want := []time.Duration{minRest, minRest}; !slices.Equal(slept, want) {
		t.Fatalf("slept %v, want %v", slept, want)
	}
	// A pipeline whose own rest is long rests at once, debt included.
	p.Sent(a, "", 10, 10*time.Millisecond)
	if _, err := p.Wait(context.Background(), a, ""); err != nil {
		t.Fatal(err)
	}
	if got, want := slept[len(slept)-1], 2500*time.Microsecond+975*time.Microsecond; got != want {
		t.Errorf("rest after a 10ms pipeline = %v, want %v (its 2.5ms and the 975µs owed)", got, want)
	}
}

func TestOwe(t *testing.T) {
	const maxPause = 200 * time.Millisecond
	var n paceNode
	if d := owe(&n.owed, time.Millisecond, 1, maxPause); d != 0 || n.owed != time.Millisecond {
		t.Fatalf("1ms owed: rest now %v, owed %v", d, n.owed)
	}
	if d := owe(&n.owed, 0, 0, maxPause); d != 0 || n.owed != 0 {
		t.Errorf("a pace without rest kept the debt: rest now %v, owed %v", d, n.owed)
	}
	n.owed = time.Millisecond
	if d := owe(&n.owed, time.Second, 4, maxPause); d != maxPause || n.owed != 0 {
		t.Errorf("debt past MaxPause: rest now %v (want %v), owed %v", d, maxPause, n.owed)
	}
}

func TestPacePause(t *testing.T) {
	o := PacerOptions{}.withDefaults()
	cases := []struct {
		rest float64
		busy time.Duration
		want time.Duration
	}{
		{0, time.Second, 0},
		{0.25, 40 * time.Millisecond, 10 * time.Millisecond},
		{2, 30 * time.Millisecond, 60 * time.Millisecond},
		{4, 100 * time.Millisecond, o.MaxPause},
		{4, 0, 0},
	}
	for _, c := range cases {
		if got := o.Pause(Pace{Rest: c.rest}, c.busy); got != c.want {
			t.Errorf("Pause(rest %v, busy %v) = %v, want %v", c.rest, c.busy, got, c.want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPacerBudgetFor: a source's own budget (the variation gate's) replaces
// the common one; a source without one keeps the common budget.
func TestPacerBudgetFor(t *testing.T) {
	clk := &fakeClock{now: t0}
	src := &fakeLatency{}
	p := NewPacer(src, PacerOptions{
		BudgetP99: 20 * time.Millisecond, Now: clk.Now,
		BudgetFor: func(addr string) (time.Duration, time.Duration, bool) {
			if addr == "own" {
				return 2 * time.Millisecond, 0, true
			}
			return 0, 0, false
		},
	})
	for _, a := range []string{"own", "common"} {
		p.Current(a)
	}
	clk.advance(250 * time.Millisecond)
	src.set(5*time.Millisecond, clk.Now(), true) // over 2ms, well under 20ms
	if pc := p.Current("own"); pc.Verdict != VerdictSlower || pc.BudgetUsed != 2.5 {
		t.Errorf("own budget 2ms, p99 5ms: %+v, want slower at 2.5 of budget", pc)
	}
	if pc := p.Current("common"); pc.Verdict != VerdictFaster || pc.BudgetUsed != 0.25 {
		t.Errorf("common budget 20ms, p99 5ms: %+v, want faster at 0.25 of budget", pc)
	}
}

// TestPaceCaps checks that bytes per MIGRATE follow keys per MIGRATE
// within their bounds, and where a gentle pacer starts.
func TestPaceCaps(t *testing.T) {
	o := PacerOptions{}.withDefaults()
	for _, c := range []struct {
		keys  int
		bytes int64
	}{
		{o.MaxKeys, 4 << 20},
		{o.MaxKeys / 2, 2 << 20},
		{100, (4 << 20) / 10},
		{o.MinKeys, (4 << 20) / 100}, // 41,943 bytes
		{1, 16 << 10},                // at the floor
	} {
		if b := o.Bytes(Pace{Keys: c.keys}); b != c.bytes {
			t.Errorf("%d keys: %d bytes, want %d", c.keys, b, c.bytes)
		}
	}
	if pc := o.first("a", t0); pc.Keys != o.StartKeys || pc.Depth != o.MaxDepth || pc.Rest != 0 {
		t.Errorf("first pace %+v, want StartKeys at full duty", pc)
	}
	g := PacerOptions{Gentle: true}.withDefaults()
	if pc := g.first("a", t0); pc.Keys != g.MinKeys || pc.Depth != 1 || pc.Rest != g.GentleRest || pc.slowest(g) || pc.Verdict != VerdictStart {
		t.Errorf("gentle first pace %+v, want MinKeys, one MIGRATE, rest GentleRest (above the floor)", pc)
	}
	// Over budget from the gentle start, cuts double the rest to the
	// steady floor (32, 64, 128), then dip below it (256, 512) before the
	// pace reads exhausted.
	g = PacerOptions{Gentle: true, BudgetP99: ms(1)}.withDefaults()
	pc := g.first("a", t0)
	over := Observation{P99: ms(2), At: t0, OK: true}
	for i, want := range []struct {
		rest      float64
		exhausted bool
	}{{64, false}, {128, false}, {256, false}, {512, false}, {512, true}} {
		pc = g.Decide(pc, over, t0)
		if pc.Rest != want.rest || pc.Exhausted != want.exhausted {
			t.Errorf("cut %d from the gentle start: rest %v exhausted %v, want %v %v", i+1, pc.Rest, pc.Exhausted, want.rest, want.exhausted)
		}
	}
}

// TestBatchCut checks how a MIGRATE batch is cut at the pace's caps: by
// keys, by bytes, never below one key, and not at all when it fits.
func TestBatchCut(t *testing.T) {
	b := migrateBatch{slot: 7, keys: []string{"a", "b", "c", "d"}, sizes: []int64{10, 20, 30, 40}, bytes: 100}
	for _, c := range []struct {
		name      string
		keys      int
		bytes     int64
		head      []string
		headBytes int64
		ok        bool
	}{
		{"by keys", 2, 0, []string{"a", "b"}, 30, true},
		{"by bytes", 10, 60, []string{"a", "b", "c"}, 60, true},
		{"at least one key", 10, 5, []string{"a"}, 10, true},
		{"fits", 4, 100, []string{"a", "b", "c", "d"}, 100, false},
	} {
		head, tail, ok := b.cut(c.keys, c.bytes)
		if ok != c.ok || strings.Join(head.keys, "") != strings.Join(c.head, "") || head.bytes != c.headBytes {
			t.Errorf("%s: head %v (%d bytes), ok %v; want %v (%d bytes), %v", c.name, head.keys, head.bytes, ok, c.head, c.headBytes, c.ok)
			continue
		}
		if !ok {
			continue
		}
		if len(head.keys)+len(tail.keys) != 4 || head.bytes+tail.bytes != 100 || tail.slot != 7 || len(tail.sizes) != len(tail.keys) {
			t.Errorf("%s: head %+v and tail %+v do not add up to the batch", c.name, head, tail)
		}
	}
	unsized := migrateBatch{keys: []string{"a", "b", "c"}}
	if head, tail, ok := unsized.cut(2, 1); !ok || len(head.keys) != 2 || len(tail.keys) != 1 || head.sizes != nil {
		t.Errorf("unmeasured batch: head %+v, tail %+v, %v; want cut by keys only", head, tail, ok)
	}
}
