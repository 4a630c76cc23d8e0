package stage

import (
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/migrate"
)

// gateWindow is the gate monitor's latency window (its default): a cut
// shows fully in its readings only that long after.
const gateWindow = 2 * time.Second

// monitorLatency is a migrate.LatencySource over a gate monitor's PING
// probe.
type monitorLatency struct{ mon *gate.Monitor }

// Latency implements migrate.LatencySource. A node whose PING probe fails,
// or that has no sample yet, has no reading.
func (m monitorLatency) Latency(addr string) (p99, avg time.Duration, at time.Time, ok bool) {
	r := m.mon.Readings()
	if strings.Contains(r.Errors[addr], "latency: ") {
		return 0, 0, r.Taken, false
	}
	l, ok := r.Latency[addr]
	if !ok || l.Samples == 0 {
		return 0, 0, r.Taken, false
	}
	return msDuration(l.P99MS), msDuration(l.AvgMS), r.Taken, true
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// pacer returns a pacer of each source by mon's latency against the
// inventory's latency hold thresholds, for migrate.Options.Pacer; nil with
// no latency hold threshold (the mover is then unpaced).
func (r *rebalancer) pacer(mon *gate.Monitor) *migrate.Pacer {
	g := r.inv.Gates
	variation := g.LatencyVariationPercent.Hold
	if g.LatencyP99MS.Hold <= 0 && g.LatencyAvgMS.Hold <= 0 && variation <= 0 {
		return nil
	}
	opts := migrate.PacerOptions{
		BudgetP99: msDuration(g.LatencyP99MS.Hold),
		BudgetAvg: msDuration(g.LatencyAvgMS.Hold),
		Settle:    gateWindow,
	}
	if variation > 0 {
		opts.BudgetFor = func(addr string) (time.Duration, time.Duration, bool) {
			return variationBudget(mon.Readings().Baseline[addr], variation, opts.BudgetP99, opts.BudgetAvg)
		}
	}
	return migrate.NewPacer(monitorLatency{mon}, opts)
}

// variationBudget is the latency a node may show under the variation gate:
// its baseline (at least gate.VariationFloorMS, as the gate measures it)
// plus holdPct percent, and never more than the absolute hold thresholds
// p99Hold and avgHold (zero: none). ok is false while the node has no
// baseline.
func variationBudget(base gate.Latency, holdPct float64, p99Hold, avgHold time.Duration) (p99, avg time.Duration, ok bool) {
	if base.Samples == 0 {
		return 0, 0, false
	}
	budget := func(baseMS float64, hold time.Duration) time.Duration {
		b := msDuration(max(baseMS, gate.VariationFloorMS) * (1 + holdPct/100))
		if hold > 0 {
			b = min(b, hold)
		}
		return b
	}
	return budget(base.P99MS, p99Hold), budget(base.AvgMS, avgHold), true
}
