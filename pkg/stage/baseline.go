package stage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/report"
)

// IDBaseline is the check of the latency baseline rebalance measures
// before its first batch.
const IDBaseline = "rebalance.baseline"

// measureBaseline records each master's latency before the first batch,
// when the latency variation gate is on: the gate compares every later
// reading of a master with its own baseline. A master with no baseline
// holds the run (the gate cannot judge it). Every master is budgeted
// against at least the median of the loaded masters' baselines, a master
// in empty (one that owns no slot, so serves no client yet) included (see
// gate.Monitor.FloorBaseline).
func (r *rebalancer) measureBaseline(ctx context.Context, mon *gate.Monitor, masters, empty []string) error {
	g := r.inv.Gates
	if !r.variationGate() {
		return nil
	}
	window := g.BaselineWindow.Duration
	base, err := mon.MeasureBaseline(ctx, window)
	if err != nil {
		return fmt.Errorf("measure the latency baseline: %w", err)
	}
	isEmpty, raised := map[string]bool{}, map[string]bool{}
	for _, a := range empty {
		isEmpty[a] = true
	}
	var loaded []string
	for _, a := range masters {
		if !isEmpty[a] {
			loaded = append(loaded, a)
		}
	}
	for _, a := range mon.FloorBaseline(masters, loaded) {
		raised[a] = true
	}
	var parts, missing []string
	for _, a := range slices.Sorted(slices.Values(masters)) {
		whole, ok := base[a]
		if !ok {
			missing = append(missing, a)
			continue
		}
		// What the gate compares with: the widest reading of the window
		// (see gate.Monitor.MeasureBaseline).
		l, _ := mon.Baseline(a)
		r.sec.Baseline = append(r.sec.Baseline, report.NodeLatency{Node: a, AvgMS: l.AvgMS, P99MS: l.P99MS, Samples: l.Samples})
		parts = append(parts, fmt.Sprintf("%s p99 %.2fms avg %.2fms (whole window %.2fms%s)", a, l.P99MS, l.AvgMS, whole.P99MS,
			baselineNote(isEmpty[a], raised[a])))
	}
	if len(missing) > 0 {
		r.res.Add(report.Check{ID: IDBaseline, Status: report.Warn, Message: "no latency baseline (no PING answered) for " + strings.Join(missing, ", "),
			Hint: "the latency variation gate holds on these masters; check they answer PING"})
	}
	if len(parts) == 0 {
		return nil
	}
	r.res.Add(report.Check{ID: IDBaseline, Status: report.Pass, Observed: len(parts), Unit: "masters",
		Message: fmt.Sprintf("latency baseline over %s, the widest reading the gate took in it and at least the median of the masters that own slots (variation is measured against max(baseline, %gms)): %s", window, gate.VariationFloorMS, strings.Join(parts, "; "))})
	return nil
}

// baselineNote is what the baseline check adds to a master's entry: that
// it owns no slot (whether or not its own draw was raised), and that it
// was raised to the loaded masters' median.
func baselineNote(empty, raised bool) string {
	var notes []string
	if empty {
		notes = append(notes, "owns no slot")
	}
	if raised {
		notes = append(notes, "raised to the loaded masters' median")
	}
	if len(notes) == 0 {
		return ""
	}
	return ", " + strings.Join(notes, ": ")
}

// variationGate reports whether the inventory sets the latency variation
// gate, whose readings are relative to a measured baseline.
func (r *rebalancer) variationGate() bool {
	v := r.inv.Gates.LatencyVariationPercent
	return v.Hold > 0 || v.Abort > 0
}

// IDBaselineRemeasured reports the baselines measured again during a run.
const IDBaselineRemeasured = "rebalance.baseline_remeasured"

// remeasures records the baselines measured again during a run (see
// migrate.Options.Rebaseline). The executor calls measure; check runs
// after it returns.
type remeasures struct {
	mu    sync.Mutex
	times []string
}

// measure measures the baseline of masters on mon again over window and
// records the old baseline, the one kept (the wider, see
// gate.Monitor.MeasureBaseline) and what was measured.
func (m *remeasures) measure(ctx context.Context, mon *gate.Monitor, masters []string, window time.Duration) error {
	old := mon.Readings().Baseline
	measured, err := mon.MeasureBaseline(ctx, window)
	if err != nil {
		return err
	}
	var parts []string
	for _, a := range slices.Sorted(slices.Values(masters)) {
		if l, ok := measured[a]; ok {
			kept, _ := mon.Baseline(a)
			parts = append(parts, fmt.Sprintf("%s p99 %.2f→%.2fms (measured %.2fms)", a, old[a].P99MS, kept.P99MS, l.P99MS))
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.times = append(m.times, strings.Join(parts, ", "))
	return nil
}

// check is the report check on the baselines measured again, if any.
func (m *remeasures) check() (report.Check, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.times) == 0 {
		return report.Check{}, false
	}
	return report.Check{ID: IDBaselineRemeasured, Status: report.Warn, Observed: len(m.times), Unit: "times",
		Message: fmt.Sprintf("a latency hold lasted with nothing moving (sources still sending were stopped for it), so the latency was not this run's doing; the baseline was measured again %d time(s), and each master kept the wider of its old and new baseline: %s",
			len(m.times), strings.Join(m.times, "; ")),
		Hint: "the masters' idle latency rose after the run began: check what else loads them"}, true
}
