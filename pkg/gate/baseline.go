package gate

import (
	"context"
	"slices"
	"time"

	"github.com/slotshift/slotshift/pkg/inventory"
)

// Gate names of the baseline-relative latency gate.
const (
	GateVariationAvg = "latency_variation_avg"
	GateVariationP99 = "latency_variation_p99"
)

// VariationFloorMS is the least baseline a variation is taken against. A
// loopback or LAN baseline is often a fraction of a millisecond, where a
// 0.1 ms wobble would read as +50%; against max(baseline, 1 ms) it reads
// as +10% at most, while a WAN baseline of several ms is used as it is.
const VariationFloorMS = 1.0

// Variation is how far current is above baseline, in percent of
// max(baseline, VariationFloorMS); below the baseline it is negative.
func Variation(current, baseline float64) float64 {
	return (current - baseline) / max(baseline, VariationFloorMS) * 100
}

// decideVariation grades one master's latency l against its baseline, if
// the variation gate is on; a master without a baseline holds.
func decideVariation(addr string, l Latency, base map[string]Latency, t inventory.Threshold,
	check func(gate, node string, v float64, t inventory.Threshold, unit string), missing func(gate, node string)) {
	if !enabled(t) {
		return
	}
	b, ok := base[addr]
	if !ok || b.Samples == 0 {
		missing("latency baseline", addr)
		return
	}
	check(GateVariationP99, addr, Variation(l.P99MS, b.P99MS), t, "%")
	check(GateVariationAvg, addr, Variation(l.AvgMS, b.AvgMS), t, "%")
}

// MeasureBaseline records every master's PING latency over the next
// window (the same probes the gates read) and keeps it as the baseline
// the latency variation gate compares against. It returns what this
// window measured as a whole, for each master that answered at least one
// PING.
//
// What it keeps is the widest of the gate's own readings in that window:
// the largest p99 and the largest average of the gate's latency window
// (MonitorOptions.Window) each time it slides while wholly inside the
// baseline's, or of the whole window when that is shorter. A gate
// reading of 200 PINGs has its p99 at its second slowest PING, so at
// rest it wanders: one master's p99 over 3s read 1.25ms in one draw and
// 0.41ms in the next. A budget on one draw sat inside that spread, and a
// run at a thirty-third duty still held on readings a calm node gives;
// against the widest calm reading, a reading over budget is one rest
// seldom gives.
//
// The first call sets the baselines. A later one (a latency hold that
// lasted with nothing in flight) only widens them: each master keeps the
// larger of its old and new p99, and of its old and new average. Both were
// measured with the run idle, so both are latencies the node shows without
// it; a calmer second window does not make the first one's latency the
// run's doing. Replacing them narrowed every calm master's budget at each
// re-measure, and the next hold came from one of those.
func (m *Monitor) MeasureBaseline(ctx context.Context, window time.Duration) (map[string]Latency, error) {
	// A master's first PING also dials its connection: start once every
	// master has answered one (or window has passed), so the dial is not
	// the baseline's p99.
	for deadline := time.Now().Add(window); !m.allAnswered() && time.Now().Before(deadline); {
		if !sleepCtx(ctx, waitPoll) {
			return nil, ctx.Err()
		}
	}
	m.startBaseline()
	if !sleepCtx(ctx, window) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, p := range m.lat {
			p.base = nil // cut short: nothing kept
		}
		return nil, ctx.Err()
	}
	return m.endBaseline(), nil
}

// startBaseline begins measuring a baseline of every master.
func (m *Monitor) startBaseline() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.baseStart = time.Now()
	m.baseRotations = 0
	for _, p := range m.lat {
		p.base = &envelope{whole: newProbeHistogram()}
	}
}

// endBaseline ends the baseline begun by startBaseline, widens each
// master's kept baseline with it, and returns the whole span's latency
// of each master that answered a PING in it.
func (m *Monitor) endBaseline() map[string]Latency {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Latency{}
	if m.baseline == nil {
		m.baseline = map[string]Latency{}
	}
	for a, p := range m.lat {
		if p.base == nil {
			continue
		}
		m.foldGateReading(p)
		whole, widest := p.base.summaries()
		p.base = nil
		if whole.Samples > 0 {
			out[a] = whole
			m.baseline[a] = widen(m.baseline[a], widest)
		}
	}
	return out
}

// windowInsideBaseline reports whether every sub-histogram of the latency
// window began after the baseline did: the one under way at its start
// also holds PINGs from before it. m.mu is held.
func (m *Monitor) windowInsideBaseline() bool { return m.baseRotations >= windowBuckets }

// foldGateReading takes p's gate reading into the baseline being measured
// when the window lies wholly inside it. m.mu is held.
func (m *Monitor) foldGateReading(p *latencyProbe) {
	if p.base != nil && m.windowInsideBaseline() {
		p.base.fold(p.hist.merge().summary())
	}
}

// envelope is a baseline being measured: every PING of its span, and the
// widest of the gate's readings taken wholly inside it.
type envelope struct {
	whole  *latHist
	widest Latency
}

// fold takes one gate reading into the widest.
func (e *envelope) fold(l Latency) {
	if l.Samples == 0 {
		return
	}
	e.widest.P99MS = max(e.widest.P99MS, l.P99MS)
	e.widest.AvgMS = max(e.widest.AvgMS, l.AvgMS)
}

// summaries returns the whole span's latency and the baseline to keep:
// the widest gate reading, never below the whole span's p99 and
// average, with the whole span's sample count.
func (e *envelope) summaries() (whole, widest Latency) {
	whole = e.whole.summary()
	widest = Latency{Samples: whole.Samples, P99MS: max(whole.P99MS, e.widest.P99MS), AvgMS: max(whole.AvgMS, e.widest.AvgMS)}
	return whole, widest
}

// FloorBaseline raises the baseline of each master in to that has one to
// at least the median of the baselines of the masters in from (p99 and
// average each on its own), and returns the masters whose baseline it
// raised (none when no master in from has a baseline). The median is
// taken before any is raised.
//
// One master's baseline is one draw of a noisy statistic: on the
// benchmark's identical masters, one 3 s draw read 0.23 ms where the
// others read 0.38-0.45 ms, and another master read 0.28 ms idle and
// 0.36 ms when measured again, idle, minutes later. Held to the calmest
// draw, a master holds the run at its slowest pace on latency that is not
// the run's: in six seed runs of the benchmark every hold on an exhausted
// pace was on the master with the calmest draw of its run. The median of
// the masters' draws is the steadier figure. (Three seed runs with the
// floor held 7, 5 and 2 times, spread over masters: no fewer holds that
// so few runs can show; what it removes is a budget set by one calm
// draw.) A master that owns no slot serves no client while its baseline
// is measured, so its own draw is the lowest of all (0.27 ms in one run,
// 1.14 ms measured again once it had slots); from is the masters that own
// slots, and such a master gets their median too.
//
// A client of the whole cluster sees the mixture of the masters'
// latencies, whose p99 is at most the widest master's p99: a master held
// under the median buys that p99 nothing that the masters above it do not
// already spend. A master that answered no PING gets none: it still
// holds, unjudged.
func (m *Monitor) FloorBaseline(to, from []string) (raised []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var of []Latency
	for _, a := range from {
		if b, ok := m.baseline[a]; ok && b.Samples > 0 {
			of = append(of, b)
		}
	}
	if len(of) == 0 {
		return nil
	}
	med := medianLatency(of)
	for _, a := range to {
		b, ok := m.baseline[a]
		if !ok {
			continue
		}
		if w := widen(b, med); w != b {
			m.baseline[a] = w
			raised = append(raised, a)
		}
	}
	return raised
}

// medianLatency is the median p99 and the median average of ls, each
// taken on its own (the mean of the middle two for an even count), with
// no sample count; ls is not empty.
func medianLatency(ls []Latency) Latency {
	p99 := make([]float64, len(ls))
	avg := make([]float64, len(ls))
	for i, l := range ls {
		p99[i], avg[i] = l.P99MS, l.AvgMS
	}
	return Latency{P99MS: median(p99), AvgMS: median(avg)}
}

// median sorts xs and returns its median; xs is not empty.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// widen is the wider of two baselines of one master, field by field.
func widen(old, cur Latency) Latency {
	return Latency{AvgMS: max(old.AvgMS, cur.AvgMS), P99MS: max(old.P99MS, cur.P99MS), Samples: max(old.Samples, cur.Samples)}
}

// allAnswered reports whether every master has answered a latency PING.
func (m *Monitor) allAnswered() bool {
	for _, p := range m.lat {
		if !p.seen.Load() {
			return false
		}
	}
	return true
}
