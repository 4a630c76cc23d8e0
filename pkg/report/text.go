package report

import (
	"fmt"
	"slices"
	"strings"
)

// maxTextChecks is how many non-passing checks Text lists; the rest are
// counted. A terminal summary that scrolls away is no summary.
const maxTextChecks = 20

// Text returns a short human summary of r for the terminal: the outcome
// line, the check counts, the checks that did not pass (worst first, with
// node and file:line), the error and hint, rebalance progress and the
// summary lines. It does not redact: pass a redacted copy
// ((*Redactor).Report) when r may hold secrets.
func Text(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "slotshift %s: %s (exit %d) in %ss\n", r.Stage, r.Outcome, r.ExitCode, formatSeconds(r.Duration))
	checks := allChecks(r)
	fmt.Fprintf(&b, "  %s\n", countText(checks))

	var bad []Check
	for _, c := range checks {
		if c.Status != Pass && c.Status != Skip {
			bad = append(bad, c)
		}
	}
	slices.SortStableFunc(bad, func(x, y Check) int { return severity(x.Status) - severity(y.Status) })
	for i, c := range bad {
		if i == maxTextChecks {
			fmt.Fprintf(&b, "  … and %d more (see the JSON report)\n", len(bad)-i)
			break
		}
		fmt.Fprintf(&b, "  %-5s %s", strings.ToUpper(string(c.Status)), c.ID)
		if c.Node != "" {
			fmt.Fprintf(&b, " [%s]", c.Node)
		}
		if c.Batch > 0 {
			fmt.Fprintf(&b, " (batch %d)", c.Batch)
		}
		if c.File != "" {
			fmt.Fprintf(&b, " %s", fileLine(c.File, c.Line))
		}
		fmt.Fprintf(&b, ": %s\n", oneLineText(c.Message))
		if c.Hint != "" {
			fmt.Fprintf(&b, "        hint: %s\n", oneLineText(c.Hint))
		}
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "  error: %s\n", r.Error)
	}
	if r.Hint != "" {
		fmt.Fprintf(&b, "  hint: %s\n", r.Hint)
	}
	if rb := r.Rebalance; rb != nil {
		fmt.Fprintf(&b, "  rebalance: %d slots, %d keys moved; %d batches run, %d remaining; done: %t\n",
			rb.SlotsMoved, rb.KeysMoved, len(rb.Batches), rb.BatchesRemaining, rb.Done)
		if line := paceLine(rb); line != "" {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	for _, line := range r.Summary {
		fmt.Fprintf(&b, "  %s\n", line)
	}
	return b.String()
}

func oneLineText(s string) string { return strings.Join(strings.Fields(s), " ") }
