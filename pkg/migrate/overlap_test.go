package migrate

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/plan"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// timedMover stands in for the legacy mover where the test is about how the
// executor schedules batches, not about moving keys (which the tests on
// real clusters prove): each slot takes a fixed time, chosen per slot, and
// the mover records which batches are moving at once. A slot in failAt
// fails the move there.
type timedMover struct {
	perSlot map[int]time.Duration // default 1ms
	batchOf map[int]int           // slot -> batch number
	failAt  map[int]bool
	// streamAfter, when positive, calls Control.Streaming once that many
	// slots of a move have moved.
	streamAfter int

	mu       sync.Mutex
	active   map[int]int  // batch -> moves running
	maxBatch int          // most batches moving at once
	overlaps int          // times a batch started while another was moving
	slots    map[int]bool // slots moved
}

var errInjected = errors.New("injected failure")

func (f *timedMover) Move(ctx context.Context, m plan.Move, ctl Control) (Stats, error) {
	b := f.batchOf[m.Range.Start]
	f.mu.Lock()
	if f.active[b] == 0 && len(f.active) > 0 {
		f.overlaps++
	}
	f.active[b]++
	f.maxBatch = max(f.maxBatch, len(f.active))
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		if f.active[b]--; f.active[b] == 0 {
			delete(f.active, b)
		}
		f.mu.Unlock()
	}()
	var st Stats
	for s := m.Range.Start; s <= m.Range.End; s++ {
		if err := ctl.Next(s); err != nil {
			return st, err
		}
		d := f.perSlot[s]
		if d == 0 {
			d = time.Millisecond
		}
		time.Sleep(d)
		if f.failAt[s] {
			return st, errInjected
		}
		f.mu.Lock()
		f.slots[s] = true
		f.mu.Unlock()
		st.Slots++
		ctl.Progress(Stats{Slots: 1})
		if st.Slots == f.streamAfter && ctl.Streaming != nil {
			ctl.Streaming()
		}
	}
	return st, nil
}

// overlapPlan is n batches of two moves each: a one-slot move and a
// four-slot one, so every batch has a move that ends early.
func overlapPlan(t *testing.T, n int) (plan.Rebalance, *timedMover, *admin.Pool) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	c := sandboxtest.Start(t, 1, sandboxtest.Options{})
	pool := admin.NewPool(admin.Options{Password: c.Password})
	t.Cleanup(func() { _ = pool.Close() })
	addr := c.Addrs()[0]
	f := &timedMover{perSlot: map[int]time.Duration{}, batchOf: map[int]int{}, failAt: map[int]bool{}, active: map[int]int{}, slots: map[int]bool{}}
	var p plan.Rebalance
	slot := 0
	for i := 1; i <= n; i++ {
		b := plan.Batch{Number: i}
		for _, width := range []int{1, 4} {
			m := plan.Move{From: "src", To: "dst", FromAddr: addr, ToAddr: addr, Range: cluster.Range{Start: slot, End: slot + width - 1}}
			for s := slot; s < slot+width; s++ {
				f.batchOf[s] = i
				f.perSlot[s] = 15 * time.Millisecond
			}
			if width == 1 {
				f.perSlot[slot] = time.Millisecond
			}
			slot += width
			b.Moves = append(b.Moves, m)
			p.Moves = append(p.Moves, m)
		}
		p.Batches = append(p.Batches, b)
	}
	return p, f, pool
}

func TestBatchesOverlapByOne(t *testing.T) {
	p, f, pool := overlapPlan(t, 6)
	g := &fakeGate{}
	res, err := New(pool, Options{Mover: f}).Run(context.Background(), p, g)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !res.Done || res.Slots != 30 || len(res.Batches) != 6 || res.BatchesRemaining != 0 {
		t.Fatalf("result: done %v slots %d batches %d remaining %d", res.Done, res.Slots, len(res.Batches), res.BatchesRemaining)
	}
	for i, b := range res.Batches {
		if b.Number != i+1 || b.State != BatchDone || b.Err != nil || b.StartedAt.IsZero() {
			t.Errorf("batch %d of the result: number %d state %s (%v) started %v", i, b.Number, b.State, b.Err, b.StartedAt)
		}
	}
	if f.maxBatch != 2 {
		t.Errorf("at most %d batches moved at once, want 2 (one overlapping the next)", f.maxBatch)
	}
	// Batch 2 starts once batch 1's one-slot move is done, ~60ms before
	// its long move is.
	b1, b2 := res.Batches[0], res.Batches[1]
	if end1 := b1.StartedAt.Add(b1.Duration); !b2.StartedAt.Before(end1) {
		t.Errorf("batch 2 started %v after batch 1 ended: no overlap", b2.StartedAt.Sub(end1))
	}
	if g.waits != 6 {
		t.Errorf("gates checked %d times, want once per batch", g.waits)
	}
	// The next batch starts only after a move of the previous one ended.
	for i := 1; i < len(res.Batches); i++ {
		prev, cur := res.Batches[i-1], res.Batches[i]
		if cur.StartedAt.Before(prev.StartedAt.Add(time.Millisecond)) {
			t.Errorf("batch %d started %v after batch %d: before any of its moves could end", cur.Number, cur.StartedAt.Sub(prev.StartedAt), prev.Number)
		}
	}
}

func TestPauseBetweenBatchesDoesNotOverlap(t *testing.T) {
	p, f, pool := overlapPlan(t, 3)
	res, err := New(pool, Options{Mover: f, PauseBetweenBatches: 20 * time.Millisecond}).Run(context.Background(), p, &fakeGate{})
	if err != nil || !res.Done {
		t.Fatalf("Run: %v, done %v", err, res.Done)
	}
	if f.maxBatch != 1 || f.overlaps != 0 {
		t.Errorf("with a pause, %d batches moved at once (%d overlaps), want 1", f.maxBatch, f.overlaps)
	}
	for i := 1; i < len(res.Batches); i++ {
		prevEnd := res.Batches[i-1].StartedAt.Add(res.Batches[i-1].Duration)
		if gap := res.Batches[i].StartedAt.Sub(prevEnd); gap < 15*time.Millisecond {
			t.Errorf("batch %d started %v after batch %d ended, want the 20ms pause", i+1, gap, i)
		}
	}
}

// A batch that fails stops the batch overlapping it at a slot boundary; the
// run returns the failure and counts neither batch as done.
func TestFailureStopsTheOverlappingBatch(t *testing.T) {
	p, f, pool := overlapPlan(t, 4)
	// Batch 1's long move fails on its third slot, after batch 2 has
	// started (batch 1's one-slot move ends first).
	long1 := p.Batches[0].Moves[1].Range
	f.failAt[long1.Start+2] = true
	// Batch 2's long move takes 4x30ms: it is well inside its second slot
	// when batch 1 fails at ~45ms, whatever the scheduling noise.
	long2 := p.Batches[1].Moves[1].Range
	for s := long2.Start; s <= long2.End; s++ {
		f.perSlot[s] = 30 * time.Millisecond
	}
	res, err := New(pool, Options{Mover: f}).Run(context.Background(), p, &fakeGate{})
	if !errors.Is(err, errInjected) {
		t.Fatalf("Run err = %v, want the injected failure", err)
	}
	if len(res.Batches) != 2 {
		t.Fatalf("%d batches reported, want 2 (batch 3 never starts)", len(res.Batches))
	}
	if b1 := res.Batches[0]; b1.State != BatchFailed || !errors.Is(b1.Err, errInjected) {
		t.Errorf("batch 1 (failed): %s: %v", b1.State, b1.Err)
	}
	b2 := res.Batches[1]
	if b2.State != BatchStopped || !errors.Is(b2.Err, errInjected) || !strings.Contains(b2.Err.Error(), "batch 2 stopped at a slot boundary") {
		t.Errorf("batch 2 (stopped by batch 1): %s: %v", b2.State, b2.Err)
	}
	if res.BatchesRemaining != 4 || res.Done {
		t.Errorf("remaining %d done %v, want 4 and false", res.BatchesRemaining, res.Done)
	}
	// Batch 2's long move stopped at a slot boundary: not all of its slots moved.
	moved := 0
	for s := long2.Start; s <= long2.End; s++ {
		if f.slots[s] {
			moved++
		}
	}
	if moved == long2.Len() {
		t.Errorf("batch 2's long move moved all %d slots after batch 1 failed", moved)
	}
	for s := range f.slots {
		if f.batchOf[s] > 2 {
			t.Errorf("slot %d of batch %d moved", s, f.batchOf[s])
		}
	}
}

// lockPair lets a node send at most StreamsPerSource streams and receive at
// most StreamsPerTarget, whatever the mix of moves, and never deadlocks
// (nodes that are sources and targets at once, in both directions).
func TestStreamLimits(t *testing.T) {
	l := &Legacy{opts: LegacyOptions{}.withDefaults()}
	nodes := []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003", "127.0.0.1:7004"}
	var (
		mu       sync.Mutex
		out, in  = map[string]int{}, map[string]int{}
		maxOut   int
		maxIn    int
		wg       sync.WaitGroup
		finished = make(chan struct{})
	)
	for i := range 200 {
		src, dst := nodes[i%4], nodes[(i/4+i+1)%4]
		if src == dst {
			dst = nodes[(i+1)%4]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock := l.lockPair(src, dst)
			mu.Lock()
			out[src]++
			in[dst]++
			maxOut, maxIn = max(maxOut, out[src]), max(maxIn, in[dst])
			mu.Unlock()
			time.Sleep(100 * time.Microsecond)
			mu.Lock()
			out[src]--
			in[dst]--
			mu.Unlock()
			unlock()
		}()
	}
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(20 * time.Second):
		t.Fatal("lockPair deadlocked")
	}
	if maxOut != l.opts.StreamsPerSource || maxIn != l.opts.StreamsPerTarget {
		t.Errorf("most streams out of a node %d (limit %d), into a node %d (limit %d)", maxOut, l.opts.StreamsPerSource, maxIn, l.opts.StreamsPerTarget)
	}
}

// A group waiting for its source's stream holds no stream of its target:
// a group of the next batch, waiting for the source that this batch's
// group still drains, must not keep a free source's group from its target.
func TestWaitingForASourceHoldsNoTarget(t *testing.T) {
	l := &Legacy{opts: LegacyOptions{StreamsPerTarget: 2}.withDefaults()}
	// The target sorts before both sources, so taking semaphores in
	// address order would take the target's first.
	const target, a, b = "127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"
	unlockA := l.lockPair(a, target) // batch N's groups drain out of a and b
	unlockB := l.lockPair(b, target)
	waiting := func(src string) chan func() {
		got := make(chan func(), 1)
		go func() { got <- l.lockPair(src, target) }()
		return got
	}
	nextA := waiting(a) // batch N+1's group out of a waits for a
	time.Sleep(50 * time.Millisecond)
	nextB := waiting(b)
	time.Sleep(50 * time.Millisecond)
	unlockB() // b is free: its next group must get b and the target
	select {
	case unlock := <-nextB:
		unlock()
	case <-time.After(5 * time.Second):
		t.Fatal("the group out of the free source b waited for the target, held by a group that waits for its own source a")
	}
	unlockA()
	select {
	case unlock := <-nextA:
		unlock()
	case <-time.After(5 * time.Second):
		t.Fatal("the group out of a never got its streams")
	}
}

// A move that reports Streaming lets the next batch start before it ends;
// the batch after that still waits for the first to finish.
func TestNextBatchStartsWhileTheLastStreams(t *testing.T) {
	p, f, pool := overlapPlan(t, 4)
	// Each batch is its long move alone, which says it is streaming once
	// its first slot has moved: without Streaming no batch could overlap
	// the one before.
	for i := range p.Batches {
		p.Batches[i].Moves = p.Batches[i].Moves[1:]
	}
	f.streamAfter = 1
	res, err := New(pool, Options{Mover: f}).Run(context.Background(), p, &fakeGate{})
	if err != nil || !res.Done {
		t.Fatalf("Run: %v, done %v", err, res.Done)
	}
	if f.maxBatch != 2 || f.overlaps == 0 {
		t.Errorf("%d batches moved at once (%d overlaps), want 2", f.maxBatch, f.overlaps)
	}
	for i := 1; i < len(res.Batches); i++ {
		prev, cur := res.Batches[i-1], res.Batches[i]
		if end := prev.StartedAt.Add(prev.Duration); !cur.StartedAt.Before(end) {
			t.Errorf("batch %d started %v after batch %d ended, want it to start while %d streams", cur.Number, cur.StartedAt.Sub(end), prev.Number, prev.Number)
		}
		if i >= 2 {
			before := res.Batches[i-2]
			if end := before.StartedAt.Add(before.Duration); cur.StartedAt.Before(end) {
				t.Errorf("batch %d started %v before batch %d ended: three batches in flight", cur.Number, end.Sub(cur.StartedAt), before.Number)
			}
		}
	}
}

// A source that rests between its pipelines is not what limits it: the
// next batch waits for a move to finish, as without Streaming, rather
// than keep its slots open for longer.
func TestNextBatchWaitsWhileSourcesRest(t *testing.T) {
	p, f, pool := overlapPlan(t, 3)
	for i := range p.Batches {
		p.Batches[i].Moves = p.Batches[i].Moves[1:]
	}
	f.streamAfter = 1
	pacer := NewPacer(overBudget{}, PacerOptions{BudgetP99: 10 * time.Millisecond, Gentle: true})
	src := p.Batches[0].Moves[0].FromAddr
	if pc := pacer.Current(src); pc.Rest <= 0 {
		t.Fatalf("a gentle pacer's first pace %+v does not rest", pc)
	}
	res, err := New(pool, Options{Mover: f, Pacer: pacer}).Run(context.Background(), p, &fakeGate{})
	if err != nil || !res.Done {
		t.Fatalf("Run: %v, done %v", err, res.Done)
	}
	if f.maxBatch != 1 || f.overlaps != 0 {
		t.Errorf("%d batches moved at once (%d overlaps) while the source rested, want 1", f.maxBatch, f.overlaps)
	}
}
