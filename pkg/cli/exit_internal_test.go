package cli

import (
	"errors"
	"fmt"
	"testing"

	"github.com/slotshift/slotshift/pkg/migrate"
	"github.com/slotshift/slotshift/pkg/stage"
)

// TestExitCodeSentinels: an error that wraps the executor's held or
// aborted sentinel gets the held or failed code wherever it comes from.
func TestExitCodeSentinels(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("rebalance: %w before batch 3: latency", migrate.ErrHeld), CodeHeld},
		{fmt.Errorf("rebalance: %w", &migrate.ErrBigKey{Node: "127.0.0.1:7000", Key: "k", Bytes: 2, Limit: 1}), CodeHeld},
		{fmt.Errorf("rebalance: %w in batch 1 at slot 5: abort file", migrate.ErrAborted), CodeFail},
		{&stage.UsageError{Err: errors.New("bad flag")}, CodeUsage},
		{errors.New("connection refused"), CodeError},
	}
	for _, c := range cases {
		if got := ExitCode(c.err); got != c.want {
			t.Errorf("ExitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
