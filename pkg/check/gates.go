package check

import (
	"maps"
	"slices"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/measure"
	"github.com/slotshift/slotshift/pkg/report"
)

// gateStatus grades a value against a gate as the gates would
// (measure.Classify): over abort fails, over hold warns (a rebalance would
// hold), otherwise passes.
func gateStatus(v float64, t inventory.Threshold) report.Status {
	switch measure.Classify(v, t) {
	case measure.Abort:
		return report.Fail
	case measure.Hold:
		return report.Warn
	}
	return report.Pass
}

// CheckCPU reports gate.cpu per node from measured CPU percentages.
func CheckCPU(inv *inventory.Inventory, cpu map[string]float64, g inventory.Threshold) []report.Check {
	addrs := slices.Sorted(maps.Keys(cpu))
	sortByInventory(inv, addrs)
	var out []report.Check
	for _, a := range addrs {
		v := round1(cpu[a])
		st := gateStatus(v, g)
		c := New(IDGateCPU, st, a, "%s: CPU %.1f%% (hold %g%%, abort %g%%)", Label(inv, a), v, g.Hold, g.Abort)
		c.Observed, c.Threshold, c.Unit = v, g.Hold, "percent"
		c.File, c.Line = LineOf(inv, a)
		out = append(out, c)
	}
	return out
}

// Latency is one master's PING latency, or why it was not measured.
type Latency struct {
	measure.Latency
	Err string
}

// CheckLatency reports gate.latency_avg and gate.latency_p99 per master.
func CheckLatency(inv *inventory.Inventory, lat map[string]Latency, g inventory.Gates) []report.Check {
	addrs := slices.Sorted(maps.Keys(lat))
	sortByInventory(inv, addrs)
	var out []report.Check
	for _, a := range addrs {
		x := lat[a]
		file, line := LineOf(inv, a)
		if x.Err != "" {
			for _, id := range []string{IDLatencyAvg, IDLatencyP99} {
				c := New(id, report.Error, a, "%s: latency probe failed: %s", Label(inv, a), x.Err)
				c.File, c.Line = file, line
				out = append(out, c)
			}
			continue
		}
		avg, p99 := round3(x.AvgMS), round3(x.P99MS)
		ca := New(IDLatencyAvg, gateStatus(avg, g.LatencyAvgMS), a, "%s: average PING latency %.3f ms over %d samples (hold %g ms, abort %g ms)", Label(inv, a), avg, x.Samples, g.LatencyAvgMS.Hold, g.LatencyAvgMS.Abort)
		ca.Observed, ca.Threshold, ca.Unit, ca.File, ca.Line = avg, g.LatencyAvgMS.Hold, "ms", file, line
		cp := New(IDLatencyP99, gateStatus(p99, g.LatencyP99MS), a, "%s: p99 PING latency %.3f ms over %d samples (hold %g ms, abort %g ms)", Label(inv, a), p99, x.Samples, g.LatencyP99MS.Hold, g.LatencyP99MS.Abort)
		cp.Observed, cp.Threshold, cp.Unit, cp.File, cp.Line = p99, g.LatencyP99MS.Hold, "ms", file, line
		out = append(out, ca, cp)
	}
	return out
}

// CheckInventoryMatch reports inventory.match: every inventory node is a
// member with its declared role and master, and the cluster has no node the
