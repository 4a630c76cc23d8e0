package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/plan"
)

// With a Pacer, the pacer steers its sources' latency: it slows a source
// before the latency gate would hold. A hold at a batch boundary then
// remains for two cases only:
//   - a source the next batch (or a batch in flight) sends from is
//     exhausted: at the slowest pace and still over budget;
//   - a gate the pacer does not steer is red: lag, CPU, memory, cluster
//     state, a probe error, or latency on a node that is not such a source
//     (a target or a bystander, whose latency is not the pacer's to fix).
//
// A latency hold on a source the pacer is steering and that is not
// exhausted is the pacer's job, and does not hold the batch. Abort
// thresholds are never relaxed: they abort as without a pacer.

// waitGates waits on the gates before a batch whose moves send from srcs
// (together with the batches in flight). It returns a proceed or abort
// decision, or a hold decision with gate.ErrHoldTimeout, or ctx's error.
//
// An exhausted hold with nothing in flight for RebaselineAfter is not the
// run's doing: nothing of it loads the sources. With Options.Rebaseline
// set (budgets relative to a baseline), the baseline is then measured
// again, once per hold, and the sources judged against it.
func (r *run) waitGates(ctx context.Context, srcs []string) (gate.Decision, error) {
	deadline := time.Now().Add(r.e.opts.HoldTimeout)
	var idleSince time.Time
	rebaselined := false
	for {
		d, err := r.waitRelaxed(ctx, srcs)
		if err != nil || d.Verdict == gate.Abort {
			return d, err
		}
		ex := r.exhausted(srcs)
		if len(ex) == 0 {
			return d, nil
		}
		d = gate.Decision{Verdict: gate.Hold, Reasons: ex, Readings: d.Readings}
		r.prog.gates.Store(d.String())
		if !time.Now().Before(deadline) {
			return d, fmt.Errorf("%w (%s): %s", gate.ErrHoldTimeout, r.e.opts.HoldTimeout, d.Reason())
		}
		switch {
		case r.e.opts.Rebaseline == nil || rebaselined || !r.idle():
			idleSince = time.Time{}
		case idleSince.IsZero():
			idleSince = time.Now()
		case time.Since(idleSince) >= r.e.opts.RebaselineAfter:
			rebaselined = true
			r.e.opts.Log.Info("pace exhausted with nothing in flight: measuring the latency baseline again", "reason", d.Reason())
			if err := r.e.opts.Rebaseline(ctx); err != nil {
				if ctx.Err() != nil {
					return d, ctx.Err()
				}
				r.e.opts.Log.Warn("measuring the latency baseline again failed; the old one stays", "error", err)
			}
		}
		if err := sleep(ctx, exhaustedPoll); err != nil {
			return d, err
		}
		// An idle source sends nothing to re-judge its pace: judge it on
		// a fresh reading here, so the hold ends when the latency does.
		for _, a := range srcs {
			if _, ok := r.e.opts.Pacer.Last(a); ok {
				r.e.opts.Pacer.Current(a)
			}
		}
	}
}

// exhaustedPoll is how often a pace-exhausted hold re-judges its sources.
const exhaustedPoll = 100 * time.Millisecond

// waitRelaxed is Gater.Wait, returning as soon as only relaxed holds (see
// relax) are left.
func (r *run) waitRelaxed(ctx context.Context, srcs []string) (gate.Decision, error) {
	if r.e.opts.Pacer == nil {
		return r.gater.Wait(ctx)
	}
	// Only a proceed short-cuts the wait: an abort goes through Wait,
	// which gives it a second look and, before the first batch, holds.
	if d := r.relax(r.gater.Current(), srcs); d.Verdict == gate.Proceed {
		return d, nil
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cleared := make(chan gate.Decision, 1)
	go func() {
		t := time.NewTicker(exhaustedPoll)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
			if d := r.relax(r.gater.Current(), srcs); d.Verdict == gate.Proceed {
				cleared <- d
				cancel()
				return
			}
		}
	}()
	d, err := r.gater.Wait(wctx)
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() == nil {
		return <-cleared, nil
	}
	if err == nil {
		d = r.relax(d, srcs)
	}
	return d, err
}

// relax turns a hold whose every reason is a latency reading on a source
// the pacer steers into a proceed. Any other hold reason keeps the whole
// hold; an abort stays an abort. An exhausted source is relaxed here too:
// waitGates holds on it itself (see exhausted), where an idle hold can
// measure the baseline again.
func (r *run) relax(d gate.Decision, srcs []string) gate.Decision {
	if d.Verdict != gate.Hold || r.e.opts.Pacer == nil {
		return d
	}
	steered := 0
	for _, rd := range d.Readings {
		if rd.Decision != gate.Hold.String() || !steeredGate(rd.Gate) {
			continue
		}
		if _, ok := r.e.opts.Pacer.Last(rd.Node); ok && slices.Contains(srcs, rd.Node) {
			steered++
		}
	}
	// Decide gives every hold reading one reason; other reasons (missing
	// readings, probe errors, cluster state) have no reading.
	if steered == 0 || steered < len(d.Reasons) {
		return d
	}
	return gate.Decision{Verdict: gate.Proceed, Readings: d.Readings}
}

// exhausted returns a hold reason per exhausted source in srcs.
func (r *run) exhausted(srcs []string) []string {
	p := r.e.opts.Pacer
	if p == nil {
		return nil
	}
	var out []string
	for _, a := range srcs {
		if pc, ok := p.Last(a); ok && pc.Exhausted {
			out = append(out, exhaustedReason(pc, p.Options()))
		}
	}
	return out
}

// exhaustedReason names the source and the reading that broke its budget.
func exhaustedReason(pc Pace, o PacerOptions) string {
	what, v, budget := "p99", pc.P99, o.BudgetP99
	if o.BudgetP99 <= 0 || (o.BudgetAvg > 0 && float64(pc.Avg)/float64(o.BudgetAvg) > float64(pc.P99)/float64(o.BudgetP99)) {
		what, v, budget = "avg", pc.Avg, o.BudgetAvg
	}
	return fmt.Sprintf("pace exhausted on %s: %s %s ms over budget %s ms at the slowest pace", pc.Addr, what, msText(v), msText(budget))
}

func msText(d time.Duration) string {
	return trimZero(fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)))
}

// sources are the source addresses of the batches in flight and of the
// moves of the next batch, sorted, once each.
func (r *run) sources(next []plan.Move) []string {
	moves := slices.Clone(next)
	for _, br := range r.inflight {
		moves = append(moves, br.b.Moves...)
	}
	return sourcesOf(moves)
}

// sourcesOf returns the moves' source addresses, sorted, once each.
func sourcesOf(moves []plan.Move) []string {
	out := make([]string, 0, len(moves))
	for _, m := range moves {
		out = append(out, m.FromAddr)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// steeredGate reports whether the pacer steers gate: the latency gates,
// absolute and relative to the baseline, whose budget it paces against.
func steeredGate(g string) bool {
	switch g {
	case gate.GateLatencyP99, gate.GateLatencyAvg, gate.GateVariationP99, gate.GateVariationAvg:
		return true
	}
	return false
}

// idle reports whether every batch in flight has finished moving.
func (r *run) idle() bool {
	for _, br := range r.inflight {
		select {
		case <-br.done:
		default:
			return false
		}
	}
	return true
}
