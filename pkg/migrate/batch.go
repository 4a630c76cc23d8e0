package migrate

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/plan"
)

// BatchState is how a batch ended.
type BatchState int

// Batch states.
const (
	// BatchDone: every move of the batch finished.
	BatchDone BatchState = iota
	// BatchStopped: the batch stopped at a slot boundary because the run
	// was aborted or interrupted, or because the other batch in flight
	// stopped.
	BatchStopped
	// BatchHeld: the batch stopped at a slot boundary on a hold (a big key).
	BatchHeld
	// BatchFailed: a move of the batch failed.
	BatchFailed
)

func (s BatchState) String() string {
	switch s {
	case BatchDone:
		return "done"
	case BatchStopped:
		return "stopped"
	case BatchHeld:
		return "held"
	case BatchFailed:
		return "failed"
	}
	return fmt.Sprintf("BatchState(%d)", int(s))
}

// BatchResult is what one batch did, complete or not.
type BatchResult struct {
	Number    int // 1-based, as in the plan
	StartedAt time.Time
	Moves     []plan.Move
	Stats         // what its moves did
	Skipped   int // slots already on their target
	Duration  time.Duration
	// Gate is the gates' decision that let the batch start (zero without
	// gates).
	Gate  gate.Decision
	State BatchState
	// Pace is the pace of the batch's sources when it ended, by address;
	// empty without a pacer.
	Pace []PaceStatus
	// Err is why the batch stopped short; nil when State is BatchDone.
	Err error
}

// batchRun is one batch in flight: its moves run concurrently and share the
// run's stop reason, so that the first failure anywhere (here or in the
// other batch in flight) makes every move stop at its next slot boundary.
type batchRun struct {
	run      *run
	b        plan.Batch
	gate     gate.Decision
	done     chan struct{} // closed when the batch has finished
	moveDone chan struct{} // closed when its first move has finished
	once     sync.Once     // closes moveDone
	// streaming is closed once every move has called Control.Streaming or
	// finished: the batch opens no more slots, and the next may open its.
	streaming chan struct{}
	waiting   int // moves not streaming yet; under mu

	mu      sync.Mutex
	stats   Stats
	skipped int
	cut     bool // a move stopped short
	res     BatchResult
}

func newBatchRun(r *run, b plan.Batch, d gate.Decision) *batchRun {
	return &batchRun{run: r, b: b, gate: d, done: make(chan struct{}), moveDone: make(chan struct{}),
		streaming: make(chan struct{}), waiting: len(b.Moves)}
}

// streamer returns one move's Control.Streaming; calling it again does
// nothing. The last move to call its own closes streaming.
func (br *batchRun) streamer() func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			br.mu.Lock()
			defer br.mu.Unlock()
			if br.waiting--; br.waiting == 0 {
				close(br.streaming)
			}
		})
	}
}

// execute runs the batch's moves, at most Concurrency at once, and records
// the result before closing done.
func (br *batchRun) execute() {
	defer close(br.done)
	defer br.firstMoveDone()
	t0 := time.Now()
	if tm, ok := br.run.mover.(TaskMover); ok {
		br.tasks(tm)
		br.res = br.result(t0)
		return
	}
	var eg errgroup.Group
	eg.SetLimit(br.run.e.opts.Concurrency)
	for _, m := range br.b.Moves {
		eg.Go(func() error {
			br.move(m)
			return nil
		})
	}
	_ = eg.Wait()
	br.res = br.result(t0)
}

func (br *batchRun) firstMoveDone() { br.once.Do(func() { close(br.moveDone) }) }

// move runs one move; its failure stops the run at slot boundaries.
func (br *batchRun) move(m plan.Move) {
	streaming := br.streamer()
	defer streaming()
	st, err := br.run.mover.Move(br.run.ioCtx, m, Control{Next: br.next(m), Progress: br.run.prog.record, Streaming: streaming})
	br.mu.Lock()
	br.stats.Add(st)
	br.cut = br.cut || err != nil
	br.mu.Unlock()
	if err != nil {
		br.run.stop.set(err, br.b.Number)
	}
	br.firstMoveDone()
}

// next is m's Control.Next: it skips slots the target already owns and,
// at each slot boundary, stops on the run's stop reason, an interrupt, the
// abort file or an abort verdict of the gates (and waits out the pause file).
func (br *batchRun) next(m plan.Move) func(slot int) error {
	r, n := br.run, br.b.Number
	return func(slot int) error {
		if r.owners[slot] == m.To {
			br.mu.Lock()
			br.skipped++
			br.mu.Unlock()
			return ErrSkipSlot
		}
		if err := r.stop.get(); err != nil {
			return err
		}
		if err := r.e.boundary(r.ctx); err != nil {
			return r.stop.set(err, n)
		}
		if d := r.gates.get(); d.Verdict == gate.Abort {
			return r.stop.set(fmt.Errorf("%w in batch %d at slot %d: %s", ErrAborted, n, slot, d.Reason()), n)
		}
		return br.paceHold(m, slot)
	}
}

// paceHold holds m at a slot boundary while its source's pace is
// exhausted: no new slot is opened until the gates (and the pace) clear,
// or the hold times out and the run stops with ErrHeld.
func (br *batchRun) paceHold(m plan.Move, slot int) error {
	r, n := br.run, br.b.Number
	if r.e.opts.Pacer == nil || r.gater == nil || !r.e.opts.Pacer.Exhausted(m.FromAddr) {
		return nil
	}
	d, err := r.waitGates(r.ctx, []plan.Move{m})
	switch {
	case errors.Is(err, gate.ErrHoldTimeout):
		return r.stop.set(fmt.Errorf("%w in batch %d at slot %d: %s", ErrHeld, n, slot, d.Reason()), n)
	case r.ctx.Err() != nil:
		return r.stop.set(fmt.Errorf("%w in batch %d at slot %d: %w", ErrInterrupted, n, slot, r.ctx.Err()), n)
	case err != nil:
		return r.stop.set(fmt.Errorf("gates in batch %d at slot %d: %w", n, slot, err), n)
	case d.Verdict == gate.Abort:
		return r.stop.set(fmt.Errorf("%w in batch %d at slot %d: %s", ErrAborted, n, slot, d.Reason()), n)
	}
	return nil
}

// result is the batch's result once every move has returned.
func (br *batchRun) result(t0 time.Time) BatchResult {
	res := BatchResult{
		Number: br.b.Number, StartedAt: t0, Moves: br.b.Moves,
		Stats: br.stats, Skipped: br.skipped, Duration: time.Since(t0), Gate: br.gate,
		Pace: br.paces(),
	}
	if !br.cut {
		return res
	}
	err := br.run.stop.get()
	switch {
	case br.run.stop.from() != br.b.Number:
		// Cut short because the other batch in flight (or the run) stopped.
		res.State = BatchStopped
		err = fmt.Errorf("batch %d stopped at a slot boundary: %w", br.b.Number, err)
	case errors.Is(err, ErrHeld):
		res.State = BatchHeld
	case errors.Is(err, ErrAborted), errors.Is(err, ErrInterrupted):
		res.State = BatchStopped
	default:
		res.State = BatchFailed
	}
	res.Err = err
	return res
}

// paces returns the pace of the batch's sources, once each, by address.
func (br *batchRun) paces() []PaceStatus {
	p := br.run.e.opts.Pacer
	if p == nil {
		return nil
	}
	var out []PaceStatus
	for _, a := range sourcesOf(br.b.Moves) {
		if pc, ok := p.Last(a); ok {
			out = append(out, p.Status(pc))
		}
	}
	return out
}

// stopper holds the first reason to stop, shared by the batches in flight:
// when one fails, the other stops at its next slot boundary too.
type stopper struct {
	mu    sync.Mutex
	err   error
	batch int // the batch that stopped; 0 when the run loop did
}

// set records err unless a reason is already recorded, and returns the
// recorded one.
func (s *stopper) set(err error, batch int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err, s.batch = err, batch
	}
	return s.err
}

func (s *stopper) get() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *stopper) from() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batch
}
