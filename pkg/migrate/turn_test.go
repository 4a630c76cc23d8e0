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

// TestPipelineCaps checks that a source's next pipeline follows its pace:
// depth, keys and bytes per MIGRATE come down on a cut, and the source
// takes turns once the pacer has cut it to a duty cycle, not at full duty.
func TestPipelineCaps(t *testing.T) {
	src := &fakeLatency{}
	clk := &fakeClock{now: t0}
	p := NewPacer(src, PacerOptions{BudgetP99: ms(10), Now: clk.Now})
	l := &Legacy{opts: LegacyOptions{MigratesPerPipeline: 2, Pacer: p}.withDefaults()}
	ctx := context.Background()

	c, err := l.pipeline(ctx, "a", "b")
	if want := (pipeCaps{depth: 2, keys: 100, bytes: (4 << 20) / 10}); err != nil || c != want {
		t.Fatalf("first pace: %+v, %v; want %+v", c, err, want)
	}
	clk.advance(p.Options().Window)
	src.set(ms(30), clk.Now(), true) // over budget: the pacer cuts and rests
	c, err = l.pipeline(ctx, "a", "b")
	if want := (pipeCaps{depth: 1, keys: 50, bytes: (4 << 20) / 20, turn: true}); err != nil || c != want {
		t.Fatalf("after a cut: %+v, %v; want %+v", c, err, want)
	}
	if pc, _ := p.Last("a"); pc.Rest <= 0 {
		t.Fatalf("pace after a cut rests %v, want > 0", pc.Rest)
	}

	unpaced := &Legacy{opts: LegacyOptions{MigratesPerPipeline: 3, BytesPerMigrate: -1}.withDefaults()}
	if c, err := unpaced.pipeline(ctx, "a", "b"); err != nil || c != (pipeCaps{depth: 3, keys: 1000}) {
		t.Fatalf("unpaced: %+v, %v; want depth 3, 1000 keys, no byte cap, no turn", c, err)
	}
}
