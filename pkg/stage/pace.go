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
	if g.LatencyP99MS.Hold <= 0 && g.LatencyAvgMS.Hold <= 0 {
		return nil
	}
	return migrate.NewPacer(monitorLatency{mon}, migrate.PacerOptions{
		BudgetP99: msDuration(g.LatencyP99MS.Hold),
		BudgetAvg: msDuration(g.LatencyAvgMS.Hold),
		Settle:    gateWindow,
	})
}
