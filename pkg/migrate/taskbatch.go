package migrate

import (
	"errors"
	"fmt"

	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/plan"
)

// tasks runs the batch's moves as tasks of tm: grouped per (source,
// target) pair into contiguous ranges, without the slots their target
// already owns. The gates and the pacer decide before each task; an
// interrupt, the abort file or an abort verdict cancel the running ones.
func (br *batchRun) tasks(tm TaskMover) {
	r := br.run
	tasks, skipped := Tasks(br.b.Moves, func(slot int, m plan.Move) bool { return r.owners[slot] == m.To })
	br.skipped += skipped
	ctl := TaskControl{Next: br.nextTask, Stop: br.stopTasks, Progress: r.prog.record}
	st, err := tm.MoveTasks(r.ioCtx, tasks, ctl)
	br.mu.Lock()
	br.stats.Add(st)
	br.cut = br.cut || err != nil
	br.mu.Unlock()
	if err != nil {
		r.stop.set(err, br.b.Number)
	}
	br.firstMoveDone()
}

// nextTask is TaskControl.Next: the boundary checks of a slot, before t.
func (br *batchRun) nextTask(t Task) error {
	r, n := br.run, br.b.Number
	if err := r.stop.get(); err != nil {
		return err
	}
	if err := r.e.boundary(r.ctx); err != nil {
		return r.stop.set(err, n)
	}
	if d := r.gates.get(); d.Verdict == gate.Abort {
		return r.stop.set(fmt.Errorf("%w in batch %d before slots %s: %s", ErrAborted, n, rangesText(t.Ranges), d.Reason()), n)
	}
	return br.paceHold(t.move(), t.Ranges[0].Start)
}

// stopTasks is TaskControl.Stop: an interrupt, the abort file, an abort
// verdict or the run's stop reason (but a hold, which lets running tasks
// finish) cancels the running tasks.
func (br *batchRun) stopTasks() error {
	r, n := br.run, br.b.Number
	if err := r.stop.get(); err != nil && !errors.Is(err, ErrHeld) {
		return err
	}
	if err := r.ctx.Err(); err != nil {
		return r.stop.set(fmt.Errorf("%w: %w", ErrInterrupted, err), n)
	}
	if f := r.e.opts.AbortFile; f != "" && exists(f) {
		return r.stop.set(fmt.Errorf("%w: abort file %s exists", ErrAborted, f), n)
	}
	if d := r.gates.get(); d.Verdict == gate.Abort {
		return r.stop.set(fmt.Errorf("%w in batch %d: %s", ErrAborted, n, d.Reason()), n)
	}
	return nil
}
