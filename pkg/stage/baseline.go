package stage

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/report"
)

// IDBaseline is the check of the latency baseline rebalance measures
// before its first batch.
const IDBaseline = "rebalance.baseline"

// measureBaseline records each master's latency before the first batch,
// when the latency variation gate is on: the gate compares every later
// reading of a master with its own baseline. A master with no baseline
// holds the run (the gate cannot judge it).
func (r *rebalancer) measureBaseline(ctx context.Context, mon *gate.Monitor, masters []string) error {
	g := r.inv.Gates
	if g.LatencyVariationPercent.Hold <= 0 && g.LatencyVariationPercent.Abort <= 0 {
		return nil
	}
	window := g.BaselineWindow.Duration
	base, err := mon.MeasureBaseline(ctx, window)
	if err != nil {
		return fmt.Errorf("measure the latency baseline: %w", err)
	}
	var parts, missing []string
	for _, a := range slices.Sorted(slices.Values(masters)) {
		l, ok := base[a]
		if !ok {
			missing = append(missing, a)
			continue
		}
		r.sec.Baseline = append(r.sec.Baseline, report.NodeLatency{Node: a, AvgMS: l.AvgMS, P99MS: l.P99MS, Samples: l.Samples})
		parts = append(parts, fmt.Sprintf("%s p99 %.2fms avg %.2fms", a, l.P99MS, l.AvgMS))
	}
	if len(missing) > 0 {
		r.res.Add(report.Check{ID: IDBaseline, Status: report.Warn, Message: "no latency baseline (no PING answered) for " + strings.Join(missing, ", "),
			Hint: "the latency variation gate holds on these masters; check they answer PING"})
	}
	if len(parts) == 0 {
		return nil
	}
	r.res.Add(report.Check{ID: IDBaseline, Status: report.Pass, Observed: len(parts), Unit: "masters",
		Message: fmt.Sprintf("latency baseline over %s (variation is measured against max(baseline, %gms)): %s", window, gate.VariationFloorMS, strings.Join(parts, "; "))})
	return nil
}
