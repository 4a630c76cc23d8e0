package migrate

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/plan"
)

// slowestPacer returns a pacer whose second cut over budget leaves it
// exhausted: one step from the start pace to the slowest.
func slowestPacer(lat LatencySource, clock *fakeClock) *Pacer {
	return NewPacer(lat, PacerOptions{BudgetP99: ms(20), Window: ms(100), MinKeys: 10, StartKeys: 10, MaxDepth: 1,
		MaxRest: 0.25, RestStep: 0.25, Now: clock.Now})
}

// from returns a move out of each of srcs, to a target no source paces.
func from(srcs ...string) []plan.Move {
	out := make([]plan.Move, len(srcs))
	for i, a := range srcs {
		out[i] = plan.Move{FromAddr: a, ToAddr: "target"}
	}
	return out
}

// holdRun is a run with just what waitGates needs.
func holdRun(g Gater, p *Pacer, holdTimeout time.Duration) *run {
	e := &Executor{opts: Options{Pacer: p, HoldTimeout: holdTimeout}.withDefaults()}
	return &run{e: e, ctx: context.Background(), gater: g, prog: newProgress(time.Now(), plan.Rebalance{})}
}

func latencyHold(node string, gates ...string) gate.Decision {
	d := gate.Decision{Verdict: gate.Hold}
	for _, g := range gates {
		d.Readings = append(d.Readings, gate.Reading{Gate: g, Node: node, Value: 30, Hold: 20, Decision: gate.Hold.String()})
		d.Reasons = append(d.Reasons, g+" on "+node)
	}
	return d
}

// TestWaitGatesRelaxesSteeredLatency: with a pacer, a latency hold on a
// source it steers, or on a target such a source sends to, does not hold
// the batch; any other hold does, and an abort still aborts.
func TestWaitGatesRelaxesSteeredLatency(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	lat := &fakeLatency{}
	lat.set(ms(5), clock.Now(), true)
	p := slowestPacer(lat, clock)
	p.Current("a")                   // a has been paced
	p.Sent("a", "target", 10, ms(1)) // and sends to target
	cpu := gate.Decision{Verdict: gate.Hold, Reasons: []string{"cpu 80% on c > hold 70%"},
		Readings: []gate.Reading{{Gate: gate.GateCPU, Node: "c", Value: 80, Hold: 70, Decision: gate.Hold.String()}}}
	withCPU := latencyHold("a", gate.GateLatencyP99)
	withCPU.Readings = append(withCPU.Readings, cpu.Readings...)
	withCPU.Reasons = append(withCPU.Reasons, cpu.Reasons...)
	abort := latencyHold("a", gate.GateLatencyP99)
	abort.Verdict = gate.Abort
	for _, tc := range []struct {
		name      string
		cur       gate.Decision
		srcs      []string
		pacer     *Pacer
		wantWaits int
		want      gate.Verdict
	}{
		{"steered latency", latencyHold("a", gate.GateLatencyP99, gate.GateLatencyAvg), []string{"a"}, p, 0, gate.Proceed},
		{"steered variation", latencyHold("a", gate.GateVariationP99, gate.GateVariationAvg), []string{"a"}, p, 0, gate.Proceed},
		{"no pacer", latencyHold("a", gate.GateLatencyP99), []string{"a"}, nil, 1, gate.Hold},
		{"latency on the target a source sends to", latencyHold("target", gate.GateLatencyP99, gate.GateVariationP99), []string{"a"}, p, 0, gate.Proceed},
		{"latency on a node no source sends to", latencyHold("b", gate.GateLatencyP99), []string{"a"}, p, 1, gate.Hold},
		{"not a source now", latencyHold("a", gate.GateLatencyP99), []string{"b"}, p, 1, gate.Hold},
		{"cpu too", withCPU, []string{"a"}, p, 1, gate.Hold},
		// An abort goes through Wait: its second look, and the first batch's
		// red-means-wait, live there.
		{"abort", abort, []string{"a"}, p, 1, gate.Abort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &fakeGate{cur: tc.cur, waitD: tc.cur, waitErr: gate.ErrHoldTimeout}
			if tc.cur.Verdict == gate.Abort {
				g.waitErr = nil
			}
			d, err := holdRun(g, tc.pacer, time.Second).waitGates(context.Background(), from(tc.srcs...))
			if g.waits != tc.wantWaits || d.Verdict != tc.want {
				t.Errorf("waits %d verdict %v err %v; want %d waits and %v", g.waits, d.Verdict, err, tc.wantWaits, tc.want)
			}
			if (tc.want == gate.Hold) != errors.Is(err, gate.ErrHoldTimeout) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// exhaust drives p's pace of addr to the slowest and over budget.
func exhaust(t *testing.T, p *Pacer, lat *fakeLatency, clock *fakeClock, addr string) {
	t.Helper()
	p.Current(addr)
	for range 2 {
		clock.advance(ms(100))
		lat.set(ms(30), clock.Now(), true)
		p.Current(addr)
	}
	if !p.Exhausted(addr) {
		t.Fatalf("%s not exhausted: %+v", addr, p.History(addr))
	}
}

// TestWaitGatesHoldsOnExhaustedPace: green gates do not let a batch in
// while a source is exhausted; the hold times out with the reason, or ends
// once a fresh reading is under budget.
func TestWaitGatesHoldsOnExhaustedPace(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	lat := &fakeLatency{}
	p := slowestPacer(lat, clock)
	exhaust(t, p, lat, clock, "a")
	r := holdRun(&fakeGate{}, p, 300*time.Millisecond)

	start := time.Now()
	d, err := r.waitGates(context.Background(), from("a", "b"))
	want := "pace exhausted on a: p99 30 ms over budget 20 ms at the slowest pace"
	if !errors.Is(err, gate.ErrHoldTimeout) || d.Verdict != gate.Hold || d.Reason() != want {
		t.Fatalf("got %v %q, err %v; want a hold: %s", d.Verdict, d.Reason(), err, want)
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("held %v, less than the hold timeout", el)
	}
	if g := r.prog.snapshot().Gates; !strings.Contains(g, "pace exhausted on a") {
		t.Errorf("status gates = %q", g)
	}

	// The latency falls: the next judgement ends the hold.
	r.e.opts.HoldTimeout = time.Minute
	go func() {
		time.Sleep(150 * time.Millisecond)
		clock.advance(ms(100))
		lat.set(ms(5), clock.Now(), true)
	}()
	d, err = r.waitGates(context.Background(), from("a"))
	if err != nil || d.Verdict != gate.Proceed || p.Exhausted("a") {
		t.Fatalf("got %v, err %v, exhausted %v; want proceed", d, err, p.Exhausted("a"))
	}
	// Both waits held on the pace, not on the Gater: the run counts them.
	if n, held := r.holds.get(); n != 2 || held < 400*time.Millisecond {
		t.Errorf("pace holds %d, %v in all; want 2, at least 400ms", n, held)
	}
	// Green gates and no exhausted source: no hold.
	if _, err := r.waitGates(context.Background(), from("b")); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.holds.get(); n != 2 {
		t.Errorf("a wait that did not hold counted: %d holds", n)
	}
}

// TestHoldSpans: holds of several moves at once count once, from the first
// to enter to the last to leave.
func TestHoldSpans(t *testing.T) {
	var h holdSpans
	log := slog.New(slog.DiscardHandler)
	h.begin(log, "a", true)
	h.begin(log, "b", false)
	time.Sleep(20 * time.Millisecond)
	h.end(log)
	time.Sleep(20 * time.Millisecond)
	h.end(log)
	n, held := h.get()
	if n != 1 || held < 40*time.Millisecond {
		t.Fatalf("%d holds, %v; want 1 of at least 40ms", n, held)
	}
	h.begin(log, "c", true)
	if n, still := h.get(); n != 2 || still < held {
		t.Errorf("a hold still on: %d holds, %v; want 2, counting up to now", n, still)
	}
	h.end(log)
}

// TestExhaustedPaceHoldsRun: on a real cluster, a source whose pace stays
// exhausted holds the run at a slot boundary (exit 75's ErrHeld) with the
// pace's reason, and leaves no slot open.
func TestExhaustedPaceHoldsRun(t *testing.T) {
	tc := startWithEmptyMaster(t, 2, 0)
	const nkeys = 2000
	tc.Load(t, nkeys, valueSize)
	p := tc.rangePlan(t, 0, cluster.Range{Start: 0, End: 199}, 50)
	clock := &fakeClock{now: time.Now()}
	lat := &fakeLatency{}
	lat.set(ms(5), clock.Now(), true)
	pacer := slowestPacer(lat, clock)
	src := p.Moves[0].FromAddr
	g := &fakeGate{}
	var slots atomic.Int64
	e := New(tc.pool, Options{Pacer: pacer, HoldTimeout: 300 * time.Millisecond, SlotsInFlight: 4, GroupsInFlight: 1,
		BeforeStep: func(step string, slot int) error {
			// Halfway through the first batch, the source goes over budget
			// and stays there at the slowest pace.
			if step == StepMigrating {
				if slots.Add(1) == 20 {
					exhaust(t, pacer, lat, clock, src)
				}
			}
			return nil
		}})
	res, err := e.Run(context.Background(), p, g)
	if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "pace exhausted on "+src) {
		t.Fatalf("err = %v, want ErrHeld on the exhausted pace", err)
	}
	if len(res.Batches) != 1 || res.Batches[0].State != BatchHeld || res.Done {
		t.Errorf("batches %+v, want the first held", res.Batches)
	}
	if res.Slots >= p.Batches[0].Slots() {
		t.Errorf("moved %d slots: the hold did not stop the batch at a slot boundary", res.Slots)
	}
	// The held batch ended at its source's exhausted pace, and the run's
	// summary shows it.
	if ps := res.Batches[0].Pace; len(ps) != 1 || ps[0].Addr != src || !ps[0].Exhausted || ps[0].Keys != 10 || ps[0].BudgetUsed != 1.5 {
		t.Errorf("batch pace %+v, want %s exhausted at 10 keys/MIGRATE, 150%% of budget", ps, src)
	}
	if s := res.Pace; s == nil || s.Sources != 1 || s.Decisions != 2 || s.MinLevel != pacer.Level(pacer.History(src)[2]) {
		t.Errorf("pace summary %+v", s)
	}
	tc.assertNoOpenSlots(t)
	tc.waitAgreed(t)
	tc.CheckKeys(t, nkeys, valueSize)
}

// TestProgressPace: the progress snapshot carries the slowest source that
// is still sending, not one idle for longer than a few windows.
func TestProgressPace(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	lat := &fakeLatency{}
	p := slowestPacer(lat, clock)
	prog := newProgress(time.Now(), plan.Rebalance{})
	if prog.snapshot().Pace != nil {
		t.Fatal("pace without a pacer")
	}
	prog.pacer = p
	if prog.snapshot().Pace != nil {
		t.Fatal("pace before any source is paced")
	}
	p.Current("a")
	clock.advance(ms(100))
	p.Current("b")
	lat.set(ms(30), clock.Now(), true)
	clock.advance(ms(100))
	p.Current("a") // a: over budget, cut
	got := prog.snapshot().Pace
	if got == nil || got.Addr != "a" || got.Rest != 0.25 || got.BudgetUsed != 1.5 || got.Level >= p.Level(mustLast(t, p, "b")) {
		t.Fatalf("pace %+v, want a's cut pace", got)
	}
	clock.advance(ms(500)) // a and b idle for 5 windows
	if got := prog.snapshot().Pace; got != nil {
		t.Errorf("idle sources shown: %+v", got)
	}
}

func mustLast(t *testing.T, p *Pacer, addr string) Pace {
	t.Helper()
	pc, ok := p.Last(addr)
	if !ok {
		t.Fatalf("%s not paced", addr)
	}
	return pc
}

// TestWaitGatesRebaselinesWhenIdle: an exhausted hold with nothing sent
// measures the baseline again once, after RebaselineAfter, whether or not
// a batch is in flight (its moves park at a slot boundary). With a
// pipeline under way that never ends, or after that one look, it only
// holds. With a pipeline begun every 40ms, it quiets the sources after
// RebaselineAfter, measures once they have sent nothing for
// RebaselineAfter more, and lets them send again.
func TestWaitGatesRebaselinesWhenIdle(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	lat := &fakeLatency{}
	p := slowestPacer(lat, clock)
	exhaust(t, p, lat, clock, "a")
	var calls atomic.Int32
	run := func(holdTimeout time.Duration, helps bool, inflight ...*batchRun) (gate.Decision, error, time.Duration) {
		r := holdRun(&fakeGate{}, p, holdTimeout)
		r.e.opts.RebaselineAfter = 100 * time.Millisecond
		r.e.opts.Rebaseline = func(context.Context) error {
			calls.Add(1)
			if helps { // the new baseline makes the budget reachable
				clock.advance(ms(100))
				lat.set(ms(5), clock.Now(), true)
			}
			return nil
		}
		r.inflight = inflight
		start := time.Now()
		d, err := r.waitGates(context.Background(), from("a"))
		return d, err, time.Since(start)
	}
	ctx := context.Background()

	// A pipeline under way, not yet sent.
	if _, err := p.Wait(ctx, "b", "target"); err != nil {
		t.Fatal(err)
	}
	if d, err, _ := run(400*time.Millisecond, true); !errors.Is(err, gate.ErrHoldTimeout) || calls.Load() != 0 {
		t.Fatalf("with a pipeline under way: %v, %v, %d re-measures; want a hold and none", d, err, calls.Load())
	}
	p.Sent("b", "target", 10, ms(1))

	// A pipeline begun and sent every 40ms: each restarts the idle span,
	// until the hold quiets the sources.
	stop := make(chan struct{})
	sending := make(chan struct{})
	var begun atomic.Int64 // UnixNano of the latest pipeline begun
	go func() {
		defer close(sending)
		for {
			select {
			case <-stop:
				return
			case <-time.After(40 * time.Millisecond):
			}
			if _, err := p.Wait(ctx, "b", "target"); err == nil {
				begun.Store(time.Now().UnixNano())
				p.Sent("b", "target", 10, 0)
			}
		}
	}()
	var measuredAt atomic.Int64
	r := holdRun(&fakeGate{}, p, time.Second)
	r.e.opts.RebaselineAfter = 100 * time.Millisecond
	r.e.opts.Rebaseline = func(context.Context) error {
		measuredAt.Store(time.Now().UnixNano())
		calls.Add(1)
		// The source tries every 40ms: none may begin while this measures.
		before, _ := p.Activity()
		time.Sleep(100 * time.Millisecond)
		if after, busy := p.Activity(); after != before || busy {
			t.Errorf("pipelines begun while measuring: %d, then %d (under way %v)", before, after, busy)
		}
		return nil
	}
	start := time.Now()
	d, err := r.waitGates(ctx, from("a"))
	if !errors.Is(err, gate.ErrHoldTimeout) || calls.Load() != 1 {
		t.Fatalf("with pipelines every 40ms: %v, %v, %d re-measures; want a hold after one", d, err, calls.Load())
	}
	if el := time.Unix(0, measuredAt.Load()).Sub(start); el < 200*time.Millisecond {
		t.Errorf("measured %v into the hold, before RebaselineAfter of sending and RebaselineAfter quiet", el)
	}
	if b := time.Unix(0, begun.Load()); !b.After(time.Unix(0, measuredAt.Load())) {
		t.Errorf("the source sent nothing after the measurement (last at %v): still quiet", b)
	}
	close(stop)
	<-sending

	if d, err, _ := run(500*time.Millisecond, false); !errors.Is(err, gate.ErrHoldTimeout) || calls.Load() != 2 {
		t.Fatalf("re-measure that does not help: %v, %v, %d re-measures; want a hold after one more", d, err, calls.Load())
	}
	parked := &batchRun{done: make(chan struct{})} // in flight, sending nothing
	d, err, el := run(time.Minute, true, parked)
	if err != nil || d.Verdict != gate.Proceed || calls.Load() != 3 || p.Exhausted("a") {
		t.Fatalf("re-measure that helps: %v, %v, %d re-measures in all, exhausted %v; want proceed after a second", d, err, calls.Load(), p.Exhausted("a"))
	}
	if el < 100*time.Millisecond {
		t.Errorf("re-measured after %v, before RebaselineAfter", el)
	}
}

// TestRebaselineOnceForParkedMoves: moves parked at a slot boundary each
// wait on the gates; when their idle holds come due together, the
// baseline is measured once, not once per move.
func TestRebaselineOnceForParkedMoves(t *testing.T) {
	r := holdRun(&fakeGate{}, slowestPacer(&fakeLatency{}, &fakeClock{now: time.Unix(1000, 0)}), time.Minute)
	var calls atomic.Int32
	r.e.opts.Rebaseline = func(context.Context) error {
		calls.Add(1)
		time.Sleep(50 * time.Millisecond)
		return nil
	}
	idle := time.Now()
	done := make(chan error, 3)
	for range 3 {
		go func() { done <- r.rebaseline(context.Background(), idle, gate.Decision{}) }()
	}
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("%d measurements for three holds idle since the same moment, want 1", calls.Load())
	}
	if err := r.rebaseline(context.Background(), time.Now(), gate.Decision{}); err != nil || calls.Load() != 2 {
		t.Errorf("a later idle hold: %v, %d measurements in all; want a second one", err, calls.Load())
	}
}

// TestExhaustedSourceHoldsInWaitGates: a gate hold on the latency of an
// exhausted source is the pacer's hold, not the Gater's: it can measure
// the baseline again and end without waiting on the Gater.
func TestExhaustedSourceHoldsInWaitGates(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	lat := &fakeLatency{}
	p := slowestPacer(lat, clock)
	exhaust(t, p, lat, clock, "a")
	g := &fakeGate{cur: latencyHold("a", gate.GateVariationP99), waitD: latencyHold("a", gate.GateVariationP99), waitErr: gate.ErrHoldTimeout}
	r := holdRun(g, p, time.Minute)
	r.e.opts.RebaselineAfter = 50 * time.Millisecond
	calls := 0
	r.e.opts.Rebaseline = func(context.Context) error {
		calls++
		clock.advance(ms(100))
		lat.set(ms(5), clock.Now(), true)
		g.setCurrent(gate.Decision{Verdict: gate.Proceed})
		return nil
	}
	d, err := r.waitGates(context.Background(), from("a"))
	if err != nil || d.Verdict != gate.Proceed || calls != 1 || g.waits != 0 {
		t.Fatalf("got %v, %v after %d re-measures and %d Gater waits; want proceed after one re-measure, no Gater wait", d, err, calls, g.waits)
	}
}

// waitingGate is a fakeGate whose Wait blocks, as gate.Policy's does, until
// its current decision proceeds or ctx ends.
type waitingGate struct{ fakeGate }

func (w *waitingGate) Wait(ctx context.Context) (gate.Decision, error) {
	for {
		if d := w.Current(); d.Verdict == gate.Proceed {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return w.Current(), ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// awaitingLook is an abort on gates of node demoted to a hold until its
// second look, as the gate monitor reports it.
func awaitingLook(node string, gates ...string) gate.Decision {
	d := gate.Decision{Verdict: gate.Hold}
	for i, g := range gates {
		d.Readings = append(d.Readings, gate.Reading{Gate: g, Node: node, Value: 300, Abort: 100, Decision: gate.Abort.String()})
		r := g + " on " + node
		if i == 0 {
			r = "abort awaits a second look: " + r
		}
		d.Reasons = append(d.Reasons, r)
	}
	return d
}

// TestVariationHoldRemeasuresWhenIdle: a variation hold on a node the
// pacer does not steer (a target) with nothing in flight measures the
// baseline again, once, and so does an abort on variation awaiting its
// second look (the look pauses the sources: a variation that outlasts
// that idle span is not the run's); a hold on anything else never does.
func TestVariationHoldRemeasuresWhenIdle(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	lat := &fakeLatency{}
	lat.set(ms(5), clock.Now(), true)
	p := slowestPacer(lat, clock)
	p.Current("a")
	for _, tc := range []struct {
		name      string
		hold      gate.Decision
		wantCalls int32
	}{
		{"variation on the target", latencyHold("b", gate.GateVariationP99, gate.GateVariationAvg), 1},
		{"absolute latency on the target", latencyHold("b", gate.GateLatencyP99), 0},
		{"an abort on variation awaiting its look", awaitingLook("b", gate.GateVariationP99), 1},
		{"an abort on absolute latency awaiting its look", awaitingLook("b", gate.GateLatencyP99), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &waitingGate{fakeGate{cur: tc.hold}}
			r := holdRun(g, p, time.Minute)
			r.e.opts.RebaselineAfter = 50 * time.Millisecond
			var calls atomic.Int32
			r.e.opts.Rebaseline = func(context.Context) error {
				calls.Add(1)
				g.setCurrent(gate.Decision{Verdict: gate.Proceed}) // the new baseline clears it
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			d, err := r.waitGates(ctx, from("a"))
			if calls.Load() != tc.wantCalls {
				t.Fatalf("%d re-measures, want %d (got %v, %v)", calls.Load(), tc.wantCalls, d, err)
			}
			if tc.wantCalls > 0 && (err != nil || d.Verdict != gate.Proceed) {
				t.Errorf("got %v, %v; want proceed after the re-measure", d, err)
			}
			if tc.wantCalls == 0 && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v, %v; want to hold until the deadline", d, err)
			}
		})
	}
}

// TestWaitGatesKeepsTheWindow: readings the pacer relaxes (or green ones)
// short-cut the gates' wait, but not a closed maintenance window: that
// short-cut let batches run outside the window whenever the readings
// were in, and only a latency hold sent the run through the window's
// Wait.
func TestWaitGatesKeepsTheWindow(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	lat := &fakeLatency{}
	lat.set(ms(5), clock.Now(), true)
	p := slowestPacer(lat, clock)
	p.Current("a")
	win, err := gate.NewWindow(inventory.Window{Start: "02:00", End: "04:00", Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		now  string
		cur  gate.Decision
		want gate.Verdict
	}{
		{"green, window closed", "2026-12-03T10:00:00Z", gate.Decision{Verdict: gate.Proceed}, gate.Hold},
		{"steered latency, window closed", "2026-12-03T10:00:00Z", latencyHold("a", gate.GateVariationP99), gate.Hold},
		{"green, window open", "2026-12-03T02:30:00Z", gate.Decision{Verdict: gate.Proceed}, gate.Proceed},
		{"steered latency, window open", "2026-12-03T02:30:00Z", latencyHold("a", gate.GateVariationP99), gate.Proceed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, err := time.Parse(time.RFC3339, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			inner := &fakeGate{cur: tc.cur, waitD: tc.cur, waitErr: gate.ErrHoldTimeout}
			g := &gate.WindowPolicy{Inner: inner, Window: win, HoldTimeout: time.Minute, FirstBatch: time.Minute, Clock: func() time.Time { return at }}
			d, err := holdRun(g, p, time.Second).waitGates(context.Background(), from("a"))
			if d.Verdict != tc.want {
				t.Fatalf("verdict %v (%v), want %v", d.Verdict, err, tc.want)
			}
			if tc.want == gate.Hold && (!errors.Is(err, gate.ErrWindowClosed) || !strings.Contains(d.Reason(), "outside the maintenance window")) {
				t.Errorf("held with %v: %s; want the closed window", err, d.Reason())
			}
			if inner.waits != 0 {
				t.Errorf("the gates were waited on %d time(s); the window decides first", inner.waits)
			}
		})
	}
}

// TestWaitGatesCountsGateHolds: a wait on a red gate the pacer does not
// steer counts as a hold of the run, as an exhausted pace does; a wait for
// the first readings does not.
func TestWaitGatesCountsGateHolds(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	lat := &fakeLatency{}
	lat.set(ms(5), clock.Now(), true)
	p := slowestPacer(lat, clock)
	p.Current("a")
	cpu := gate.Decision{Verdict: gate.Hold, Reasons: []string{"cpu on a"},
		Readings: []gate.Reading{{Gate: gate.GateCPU, Node: "a", Value: 80, Hold: 70, Decision: gate.Hold.String()}}}
	g := &waitingGate{fakeGate{cur: cpu}}
	r := holdRun(g, p, time.Minute)
	go func() {
		time.Sleep(100 * time.Millisecond)
		g.setCurrent(gate.Decision{Verdict: gate.Proceed})
	}()
	if d, err := r.waitGates(context.Background(), from("a")); err != nil || d.Verdict != gate.Proceed {
		t.Fatalf("got %v, %v; want proceed once the CPU is green", d, err)
	}
	if n, held := r.holds.get(); n != 1 || held < 90*time.Millisecond {
		t.Errorf("%d holds, %v; want 1 of about 100ms", n, held)
	}

	// A wait for the probes' first readings is not a hold.
	g.setCurrent(gate.Decision{Verdict: gate.Hold, Reasons: []string{"no latency reading on a yet"}})
	go func() {
		time.Sleep(100 * time.Millisecond)
		g.setCurrent(gate.Decision{Verdict: gate.Proceed})
	}()
	if d, err := r.waitGates(context.Background(), from("a")); err != nil || d.Verdict != gate.Proceed {
		t.Fatalf("got %v, %v; want proceed once the readings are in", d, err)
	}
	if n, _ := r.holds.get(); n != 1 {
		t.Errorf("%d holds after a wait for first readings, want still 1", n)
	}
}
