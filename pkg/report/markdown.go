package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxSummaryBytes caps the step summary. GitHub refuses a summary over
// 1 MiB per step; a quarter of that leaves room for other steps' text and
// is more than anyone reads.
const maxSummaryBytes = 256 << 10

// maxCell caps one table cell, in runes, so one huge message cannot eat
// the whole summary.
const maxCell = 400

// severity orders check statuses for display, worst first. An unknown
// status sorts with the failures.
func severity(s Status) int {
	switch s {
	case Fail:
		return 0
	case Error:
		return 1
	case Hold:
		return 2
	case Warn:
		return 3
	case Skip:
		return 4
	case Pass:
		return 5
	}
	return 0
}

// Markdown renders r as a GitHub step summary: a heading with the stage
// and outcome, the counts, the error and hint, a table of checks (worst
// first), the rebalance batches when present and the summary lines. Text
// from the report is escaped so it cannot break the tables or turn into
// markup, and the whole stays under 256 KiB (rows that do not fit are
// counted instead).
func Markdown(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### slotshift %s: %s\n\n", md(r.Stage), md(string(r.Outcome)))
	checks := allChecks(r)
	fmt.Fprintf(&b, "Exit code %d · %s · %s s", r.ExitCode, countText(checks), formatSeconds(r.Duration))
	if r.Cluster.Name != "" {
		fmt.Fprintf(&b, " · cluster %s", md(r.Cluster.Name))
	}
	b.WriteString("\n\n")
	if r.Error != "" {
		fmt.Fprintf(&b, "**Error:** %s\n\n", md(r.Error))
	}
	if r.Hint != "" {
		fmt.Fprintf(&b, "**Hint:** %s\n\n", md(r.Hint))
	}

	// Reserve room for the sections after the checks table, so a flood of
	// checks cannot crowd out the batches and summary.
	tail := markdownTail(r)
	budget := maxSummaryBytes - len(tail)

	if len(checks) > 0 {
		slices.SortStableFunc(checks, func(x, y Check) int { return severity(x.Status) - severity(y.Status) })
		b.WriteString("| Status | Check | Node | Message | Where |\n| --- | --- | --- | --- | --- |\n")
		for i, ch := range checks {
			id := ch.ID
			if ch.Batch > 0 {
				id += " (batch " + strconv.Itoa(ch.Batch) + ")"
			}
			where := ""
			if ch.File != "" {
				where = fileLine(ch.File, ch.Line)
			}
			row := fmt.Sprintf("| %s | %s | %s | %s | %s |\n", cell(string(ch.Status)), cell(id), cell(ch.Node), cell(ch.Message), cell(where))
			if b.Len()+len(row) > budget-200 {
				fmt.Fprintf(&b, "\n%d more checks are in the JSON and JUnit reports.\n", len(checks)-i)
				break
			}
			b.WriteString(row)
		}
		b.WriteString("\n")
	}
	if b.Len()+len(tail) <= maxSummaryBytes {
		b.WriteString(tail)
	}
	return b.String()
}

// markdownTail renders the batches table and the summary lines.
func markdownTail(r *Report) string {
	var b strings.Builder
	if rb := r.Rebalance; rb != nil {
		fmt.Fprintf(&b, "#### Rebalance\n\n%d slots and %d keys moved · %d of %d batches remaining · done: %t\n\n",
			rb.SlotsMoved, rb.KeysMoved, rb.BatchesRemaining, rb.Plan.Batches, rb.Done)
		if line := paceLine(rb); line != "" {
			b.WriteString(md(line) + "\n\n")
		}
		if len(rb.Batches) > 0 {
			b.WriteString("| Batch | Status | Slots | Keys | Bytes | Seconds | Gates |\n| ---: | --- | ---: | ---: | ---: | ---: | --- |\n")
			for i, bt := range rb.Batches {
				gates := make([]string, len(bt.Gates))
				for j, g := range bt.Gates {
					gates[j] = gateText(g)
				}
				row := fmt.Sprintf("| %d | %s | %d | %d | %d | %s | %s |\n", bt.Number, cell(string(bt.Status)),
					bt.Slots, bt.Keys, bt.Bytes, formatSeconds(bt.Duration), cell(strings.Join(gates, "; ")))
				if b.Len()+len(row) > maxSummaryBytes/4 {
					fmt.Fprintf(&b, "\n%d more batches are in the JSON report.\n", len(rb.Batches)-i)
					break
				}
				b.WriteString(row)
			}
			b.WriteString("\n")
		}
	}
	if len(r.Summary) > 0 {
		b.WriteString("#### Summary\n\n")
		for i, line := range r.Summary {
			item := "- " + md(truncate(line)) + "\n"
			if b.Len()+len(item) > maxSummaryBytes/2 {
				fmt.Fprintf(&b, "- … %d more lines are in the JSON report.\n", len(r.Summary)-i)
				break
			}
			b.WriteString(item)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// countText is "5 checks: 3 pass, 1 fail, 1 warn" (statuses worst first).
func countText(checks []Check) string {
	if len(checks) == 0 {
		return "no checks"
	}
	n := map[Status]int{}
	for _, c := range checks {
		n[c.Status]++
	}
	var parts []string
	for _, s := range []Status{Fail, Error, Hold, Warn, Skip, Pass} {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
			delete(n, s)
		}
	}
	other := 0
	for _, v := range n {
		other += v
	}
	if other > 0 {
		parts = append(parts, fmt.Sprintf("%d unknown", other))
	}
	word := "checks"
	if len(checks) == 1 {
		word = "check"
	}
	return fmt.Sprintf("%d %s: %s", len(checks), word, strings.Join(parts, ", "))
}

// mdEscaper escapes what would turn report text into Markdown or HTML:
// table pipes, code-span backticks, emphasis, links and tags.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`,
	"|", `\|`,
	"`", "\\`",
	"*", `\*`,
	"[", `\[`,
	"]", `\]`,
	"&", "&amp;",
	"<", "&lt;",
	">", "&gt;",
)

// md escapes inline text and folds it onto one line.
func md(s string) string {
	return mdEscaper.Replace(strings.Join(strings.Fields(s), " "))
}

// cell escapes a table cell, truncated to maxCell runes.
func cell(s string) string { return md(truncate(s)) }

func truncate(s string) string {
	if r := []rune(s); len(r) > maxCell {
		return string(r[:maxCell-1]) + "…"
	}
	return s
}

// paceLine is the pace controller's summary ("" without one), with the
// last batch's slowest source: what the run ended at.
func paceLine(rb *RebalanceSection) string {
	p := rb.Pace
	if p == nil {
		return ""
	}
	line := fmt.Sprintf("pace: min %.2f · median %.2f over %d source(s) · below the steady floor %.1fs · exhausted %.1fs",
		p.MinLevel, p.MedianLevel, p.Sources, float64(p.Dipped), float64(p.Exhausted))
	if len(rb.Batches) == 0 {
		return line
	}
	var last *PaceState
	for i, ps := range rb.Batches[len(rb.Batches)-1].Pace {
		if last == nil || ps.Level < last.Level {
			last = &rb.Batches[len(rb.Batches)-1].Pace[i]
		}
	}
	if last != nil {
		line += fmt.Sprintf(" · at the end %s %.2f (%d keys/MIGRATE, %.0f%% of budget", last.Node, last.Level, last.KeysPerMigrate, 100*last.BudgetUsed)
		if last.Exhausted {
			line += ", exhausted"
		}
		line += ")"
	}
	return line
}
