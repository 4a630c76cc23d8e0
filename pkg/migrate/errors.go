package migrate

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on.
var (
	// ErrPlanStale: the cluster's slot map changed since the plan was made.
	ErrPlanStale = errors.New("plan is stale: the cluster's slot map changed since it was planned")
	// ErrHeld: gates stayed red (or a big key was found); the run stopped at a
	// batch or slot boundary with no slot open. Retry later.
	ErrHeld = errors.New("rebalance held")
	// ErrAborted: a gate went over an abort threshold or the abort file
	// appeared; the run stopped at a slot boundary with no slot open.
	ErrAborted = errors.New("rebalance aborted")
	// ErrInterrupted: the context was cancelled (SIGINT/SIGTERM); the run
	// stopped at a slot boundary with no slot open.
	ErrInterrupted = errors.New("rebalance interrupted")
)

// ErrBigKey reports a key larger than Options.BigKeyBytes. The slot holding it
// was not opened; the run stops as held (errors.Is(err, ErrHeld) is true).
type ErrBigKey struct {
	Key   string
	Slot  int
	Bytes int64
	Limit int64
	Node  string // source address
}

func (e *ErrBigKey) Error() string {
	return fmt.Sprintf("big key %q in slot %d on %s: %d bytes > limit %d bytes", e.Key, e.Slot, e.Node, e.Bytes, e.Limit)
}

// Unwrap makes a big key a hold.
func (e *ErrBigKey) Unwrap() error { return ErrHeld }

// StepError is returned when Options.BeforeStep stops a run; it simulates a
// crash, so nothing is cleaned up.
type StepError struct {
	Step string
	Slot int
	Err  error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("stopped before step %s of slot %d: %v", e.Step, e.Slot, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }
