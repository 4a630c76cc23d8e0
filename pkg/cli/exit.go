package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/stage"
)

// Exit codes (DESIGN.md).
const (
	CodePass        = 0
	CodeFail        = 1
	CodeUsage       = 2
	CodeError       = 3
	CodeHeld        = 75
	CodeInterrupted = 130 // SIGINT
	CodeTerminated  = 143 // SIGTERM
)

// ExitError carries the exit code a command decided on.
type ExitError struct {
	Code int
	Err  error
	// Reported means the error is already in the verdict printed on
	// stderr, so main does not print it again.
	Reported bool
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}
func (e *ExitError) Unwrap() error { return e.Err }

// SignalError is the cancellation cause when a signal stopped the run.
type SignalError struct{ Signal os.Signal }

func (e *SignalError) Error() string { return "interrupted by " + e.Signal.String() }

// ExitCode maps an error returned by Run to the process exit code. It is
// the only place that does.
func ExitCode(err error) int {
	var ee *ExitError
	var se *SignalError
	var ue *stage.UsageError
	switch {
	case err == nil:
		return CodePass
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &se):
		if se.Signal == syscall.SIGTERM {
			return CodeTerminated
		}
		return CodeInterrupted
	case errors.As(err, &ue):
		return CodeUsage
	case errors.Is(err, stage.ErrHeld):
		return CodeHeld
	case errors.Is(err, stage.ErrAborted):
		return CodeFail
	default:
		return CodeError
	}
}

// outcomeOf turns a stage's (result, error) into the report outcome and
// exit code.
func outcomeOf(ctx context.Context, res *stage.Result, err error) (report.Outcome, int) {
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			var se *SignalError
			if errors.As(cause, &se) {
				return report.OutcomeInterrupted, ExitCode(se)
			}
		}
		code := ExitCode(err)
		switch code {
		case CodeUsage:
			return report.OutcomeUsage, code
		case CodeHeld:
			return report.OutcomeHeld, code
		case CodeFail:
			return report.OutcomeFail, code
		case CodeInterrupted, CodeTerminated:
			return report.OutcomeInterrupted, code
		}
		return report.OutcomeError, CodeError
	}
	switch o := res.Outcome(); o {
	case report.OutcomeFail:
		return o, CodeFail
	case report.OutcomeHeld:
		return o, CodeHeld
	default:
		return report.OutcomePass, CodePass
	}
}
