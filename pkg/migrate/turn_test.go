package migrate

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTakeTurn checks that resting sources send into one target one at a
// time, that other targets are not held up by it, and that a wait for a
// turn ends with its context.
func TestTakeTurn(t *testing.T) {
	l := &Legacy{}
	ctx := context.Background()

	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				done, err := l.takeTurn(ctx, "10.0.0.9:6379")
				if err != nil {
					t.Error(err)
					return
				}
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(50 * time.Microsecond)
				inside.Add(-1)
				done()
			}
		}()
	}
	wg.Wait()
	if got := most.Load(); got != 1 {
		t.Fatalf("%d pipelines into one target at once, want 1", got)
	}

	held, err := l.takeTurn(ctx, "10.0.0.9:6379")
	if err != nil {
		t.Fatal(err)
	}
	other, err := l.takeTurn(ctx, "10.0.0.8:6379")
	if err != nil {
		t.Fatalf("another target waited on a turn it does not share: %v", err)
	}
	other()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := l.takeTurn(cctx, "10.0.0.9:6379"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait for a held turn ended with %v, want its context's deadline", err)
	}
	held()
	again, err := l.takeTurn(ctx, "10.0.0.9:6379")
	if err != nil {
		t.Fatalf("the turn was not free after its end: %v", err)
	}
	again()
}

// TestPipelineDepthTurn checks that a source takes turns once the pacer
// has cut it to a duty cycle, and not at full duty.
func TestPipelineDepthTurn(t *testing.T) {
	src := &fakeLatency{}
	clk := &fakeClock{now: t0}
	p := NewPacer(src, PacerOptions{BudgetP99: ms(10), Now: clk.Now})
	l := &Legacy{opts: LegacyOptions{MigratesPerPipeline: 2, Pacer: p}.withDefaults()}
	ctx := context.Background()

	depth, turn, err := l.pipelineDepth(ctx, "a", "b")
	if err != nil || depth != 2 || turn {
		t.Fatalf("first pace: depth %d, turn %v, %v; want 2, no turn", depth, turn, err)
	}
	clk.advance(p.Options().Window)
	src.set(ms(30), clk.Now(), true) // over budget: the pacer cuts and rests
	depth, turn, err = l.pipelineDepth(ctx, "a", "b")
	if err != nil || depth != 1 || !turn {
		t.Fatalf("after a cut: depth %d, turn %v, %v; want 1, a turn", depth, turn, err)
	}
	if pc, _ := p.Last("a"); pc.Rest <= 0 {
		t.Fatalf("pace after a cut rests %v, want > 0", pc.Rest)
	}

	unpaced := &Legacy{opts: LegacyOptions{MigratesPerPipeline: 3}.withDefaults()}
	if depth, turn, err := unpaced.pipelineDepth(ctx, "a", "b"); err != nil || depth != 3 || turn {
		t.Fatalf("unpaced: depth %d, turn %v, %v; want 3, no turn", depth, turn, err)
	}
}
