package stage

import (
	"fmt"
	"math"
	"time"

	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/migrate"
	"github.com/slotshift/slotshift/pkg/report"
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
	l, at, ok := m.mon.NodeLatency(addr)
	if !ok {
		return 0, 0, at, false
	}
	return msDuration(l.P99MS), msDuration(l.AvgMS), at, true
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
		// While an abort awaits its second look, nothing is sent: the
		// look then shows whether the node recovers without this run's
		// load (the pacer has cut meanwhile), or stays over the limit
		// for reasons of its own.
		Paused: mon.LookPending,
	}
	if variation > 0 {
		// The budget sits near the calm baseline: a burst at full duty
		// would break it before the first reading could cut.
		opts.Gentle = true
		opts.BudgetFor = func(addr string) (time.Duration, time.Duration, bool) {
			base, _ := mon.Baseline(addr)
			return variationBudget(base, variation, opts.BudgetP99, opts.BudgetAvg)
		}
	}
	return migrate.NewPacer(monitorLatency{mon}, opts)
}

// variationBudget is the latency a node may show under the variation gate:
// the reading at which the gate would hold, its baseline plus holdPct
// percent of max(baseline, gate.VariationFloorMS) (see gate.Variation),
// and never more than the absolute hold thresholds p99Hold and avgHold
// (zero: none). ok is false while the node has no baseline.
func variationBudget(base gate.Latency, holdPct float64, p99Hold, avgHold time.Duration) (p99, avg time.Duration, ok bool) {
	if base.Samples == 0 {
		return 0, 0, false
	}
	budget := func(baseMS float64, hold time.Duration) time.Duration {
		b := msDuration(baseMS + max(baseMS, gate.VariationFloorMS)*holdPct/100)
		if hold > 0 {
			b = min(b, hold)
		}
		return b
	}
	return budget(base.P99MS, p99Hold), budget(base.AvgMS, avgHold), true
}

// IDPace reports a run whose pacer could not keep its sources within
// their latency budget even at its slowest pace.
const IDPace = "rebalance.pace"

// exhaustedWarnShare is the share of the sources' time spent exhausted
// (at the slowest pace and still over budget) from which a run warns.
const exhaustedWarnShare = 0.25

// paceCheck is a warning when the sources spent at least
// exhaustedWarnShare of the run (took) exhausted: the latency budget is
// below what moving keys costs on these nodes, so the run went only as
// fast as holding at batch boundaries let it, however gentle the pacer
// tried to be. Without it the operator sees a slow run and many holds,
// not why. ok is false when there is nothing to warn of.
func paceCheck(s migrate.PaceSummary, took time.Duration) (report.Check, bool) {
	if s.Sources == 0 || took <= 0 || s.Exhausted <= 0 {
		return report.Check{}, false
	}
	share := s.Exhausted.Seconds() / (float64(s.Sources) * took.Seconds())
	if share < exhaustedWarnShare {
		return report.Check{}, false
	}
	last := ""
	if s.LastExhausted != "" {
		last = "; the last: " + s.LastExhausted
	}
	pct := math.Round(min(share, 1) * 100)
	return report.Check{ID: IDPace, Status: report.Warn, Observed: pct, Threshold: exhaustedWarnShare * 100, Unit: "%",
		Message: fmt.Sprintf("the sources spent %.0f%% of the run at their slowest pace (%s) and still over their latency budget%s",
			pct, s.Slowest, last),
		Hint: "the budget is below what one MIGRATE costs on these nodes, so the run held at batch boundaries again and again; " +
			"a wider latency hold (gates.latency_variation_percent, gates.latency_p99_ms) lets it move faster, or run it when the nodes are quieter"}, true
}
