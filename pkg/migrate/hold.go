package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
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

// waitGates waits on the gates before moves (a batch's, together with the
// batches in flight). It returns a proceed or abort
// decision, or a hold decision with gate.ErrHoldTimeout, or ctx's error.
//
// A hold on an exhausted pace, or on latency variation alone, with nothing
// in flight for RebaselineAfter is not the run's doing: nothing of it
// loads the nodes. With Options.Rebaseline set (budgets relative to a
// baseline), the baseline is then measured again, once per hold (see
// remeasure), and the nodes judged against it.
func (r *run) waitGates(ctx context.Context, moves []plan.Move) (gate.Decision, error) {
	deadline := time.Now().Add(r.e.opts.HoldTimeout)
	rm := &remeasure{r: r}
	defer rm.unquiet()
	srcs, nodes := sourcesOf(moves), nodesOf(moves)
	stopped := false
	defer func() {
		if stopped {
			r.holds.end(r.e.opts.Log)
		}
	}()
	for {
		d, err := r.waitRelaxed(ctx, nodes, rm)
		if err != nil || d.Verdict == gate.Abort {
			return d, err
		}
		ex := r.exhausted(srcs)
		if len(ex) == 0 {
			return d, nil
		}
		d = gate.Decision{Verdict: gate.Hold, Reasons: ex, Readings: d.Readings}
		r.prog.gates.Store(d.String())
		if !stopped {
			stopped = true
			r.holds.begin(r.e.opts.Log, d.Reason(), true)
		}
		if !time.Now().Before(deadline) {
			return d, fmt.Errorf("%w (%s): %s", gate.ErrHoldTimeout, r.e.opts.HoldTimeout, d.Reason())
		}
		if err := rm.tick(ctx, d); err != nil {
			return d, err
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
// relax) on nodes are left.
// A latency variation hold with nothing in flight also measures the
// baseline again (rm, once per hold): see waitGates.
func (r *run) waitRelaxed(ctx context.Context, nodes []string, rm *remeasure) (gate.Decision, error) {
	if r.e.opts.Pacer == nil {
		return r.gater.Wait(ctx)
	}
	// Only a proceed short-cuts the wait: an abort goes through Wait,
	// which gives it a second look and, before the first batch, holds.
	// So does a closed maintenance window.
	first := r.gater.Current()
	relaxed := r.relax(first, nodes)
	if relaxed.Verdict == gate.Proceed && r.windowAdmits() {
		return relaxed, nil
	}
	// This wait is a hold of the run once a gate reads red, or the window
	// keeps it (relaxed readings that still wait); a wait for the probes'
	// first readings is not, as the monitor has it. The Gater logs it.
	var holding atomic.Bool
	hold := func(cur gate.Decision, window bool) {
		if (window || cur.Red()) && holding.CompareAndSwap(false, true) {
			r.holds.begin(r.e.opts.Log, "", false)
		}
	}
	hold(first, relaxed.Verdict == gate.Proceed)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cleared := make(chan gate.Decision, 1)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(exhaustedPoll)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
			cur := r.gater.Current()
			d := r.relax(cur, nodes)
			if d.Verdict == gate.Proceed && r.windowAdmits() {
				cleared <- d
				cancel()
				return
			}
			hold(cur, d.Verdict == gate.Proceed)
			if variationHold(cur) {
				_ = rm.tick(wctx, cur) // an error is wctx's: the wait is over
			} else {
				rm.reset()
			}
		}
	}()
	d, err := r.gater.Wait(wctx)
	cancel()
	<-stopped // rm is waitGates' again
	if holding.Load() {
		r.holds.end(r.e.opts.Log)
	}
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() == nil {
		select {
		case c := <-cleared:
			return c, nil
		default:
		}
	}
	if err == nil {
		d = r.relax(d, nodes)
	}
	return d, err
}

// admitter is a Gater that keeps a maintenance window apart from the
// readings (gate.WindowPolicy): Current ignores the window, as a batch in
// flight was let in to finish, so a wait cut short on Current's readings
// must still ask it whether a new batch may start.
type admitter interface {
	Admit() string
}

// windowAdmits reports whether the gater lets a new batch in now, apart
// from its readings: true unless it keeps a window that is closed (or
// would close before the batch ends). When true, the window has recorded
// the batch as let in, for its estimate of a batch's length.
func (r *run) windowAdmits() bool {
	a, ok := r.gater.(admitter)
	return !ok || a.Admit() == ""
}

// relax turns a hold whose every reason is a latency reading on one of
// nodes whose latency the pacer steers (a source it paces, or a target one
// sends to: see Pacer.Steers) into a proceed. Any other hold reason keeps
// the whole hold; an abort stays an abort. An exhausted source is relaxed here too:
// waitGates holds on it itself (see exhausted), where an idle hold can
// measure the baseline again.
func (r *run) relax(d gate.Decision, nodes []string) gate.Decision {
	if d.Verdict != gate.Hold || r.e.opts.Pacer == nil {
		return d
	}
	steered := 0
	for _, rd := range d.Readings {
		if rd.Decision != gate.Hold.String() || !steeredGate(rd.Gate) {
			continue
		}
		if slices.Contains(nodes, rd.Node) && r.e.opts.Pacer.Steers(rd.Node) {
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
			out = append(out, exhaustedReason(pc))
		}
	}
	return out
}

// exhaustedReason names the source and the reading that broke its budget:
// that node's own budget, as the pace was judged on it.
func exhaustedReason(pc Pace) string {
	bp, ba := pc.budgetP99, pc.budgetAvg
	what, v, budget := "p99", pc.P99, bp
	if bp <= 0 || (ba > 0 && float64(pc.Avg)/float64(ba) > float64(pc.P99)/float64(bp)) {
		what, v, budget = "avg", pc.Avg, ba
	}
	if pc.Node != "" && pc.Node != pc.Addr {
		return fmt.Sprintf("pace exhausted on %s: its target %s reads %s %s ms, over budget %s ms, at the slowest pace", pc.Addr, pc.Node, what, msText(v), msText(budget))
	}
	return fmt.Sprintf("pace exhausted on %s: %s %s ms over budget %s ms at the slowest pace", pc.Addr, what, msText(v), msText(budget))
}

func msText(d time.Duration) string {
	return trimZero(fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)))
}

// moves are the moves of the next batch and of the batches in flight.
func (r *run) moves(next []plan.Move) []plan.Move {
	moves := slices.Clone(next)
	for _, br := range r.inflight {
		moves = append(moves, br.b.Moves...)
	}
	return moves
}

// nodesOf returns the moves' source and target addresses, sorted, once
// each.
func nodesOf(moves []plan.Move) []string {
	out := make([]string, 0, 2*len(moves))
	for _, m := range moves {
		out = append(out, m.FromAddr, m.ToAddr)
	}
	slices.Sort(out)
	return slices.Compact(out)
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

// remeasure measures the latency baseline again (Options.Rebaseline) once
// a latency hold has lasted RebaselineAfter with nothing sent: the run is
// not what loads the nodes then. Once per waitGates.
//
// Nothing sent means no MIGRATE pipeline begun or under way (see
// Pacer.Activity), not no batch in flight: a batch whose sources are
// exhausted parks its moves at a slot boundary and sends nothing, and a
// hold there on a baseline measured in a calm moment never ended, as the
// nodes' idle latency stayed over it (a seed run held 284 s so).
//
// A hold that lasts RebaselineAfter with sources still sending quiets
// them (Pacer.Quiet) until it has measured: with fifty sources, some
// source always sent at its slowest pace, the hold never saw an idle
// moment, and a run at scale held 6m43s on one master whose baseline was
// drawn in an unusually calm moment (0.97 ms against the masters' median
// of 7.17 ms).
type remeasure struct {
	r         *run
	since     time.Time // the hold's first look
	idleSince time.Time
	mark      uint64 // Pacer.Activity's count at idleSince
	done      bool
	release   func() // ends the quiet; nil when the pacer is not quieted
}

// tick notes one more look at the hold d; it measures the baseline again
// when the hold has been idle long enough, and quiets the sources when it
// has lasted that long without. It returns ctx's error only.
func (m *remeasure) tick(ctx context.Context, d gate.Decision) error {
	r := m.r
	if r.e.opts.Rebaseline == nil || r.e.opts.Pacer == nil || m.done {
		m.idleSince = time.Time{}
		return nil
	}
	now := time.Now()
	if m.since.IsZero() {
		m.since = now
	}
	n, busy := r.e.opts.Pacer.Activity()
	switch {
	case busy || (!m.idleSince.IsZero() && n != m.mark):
		m.idleSince = time.Time{}
	case m.idleSince.IsZero():
		m.idleSince, m.mark = now, n
	case now.Sub(m.idleSince) >= r.e.opts.RebaselineAfter:
		m.done = true
		defer m.unquiet()
		return r.rebaseline(ctx, m.idleSince, d)
	}
	if m.idleSince.IsZero() && m.release == nil && now.Sub(m.since) >= r.e.opts.RebaselineAfter {
		r.e.opts.Log.Info("latency hold with sources sending: quieting them to measure the latency baseline again",
			"held", now.Sub(m.since).Round(time.Millisecond), "reason", d.Reason())
		m.release = r.e.opts.Pacer.Quiet()
	}
	return nil
}

// rebaseline measures the baseline again for a hold idle since idle,
// unless a hold of another move did so meanwhile: moves parked at a slot
// boundary each wait on the gates, and their measurements would overlap.
func (r *run) rebaseline(ctx context.Context, idle time.Time, d gate.Decision) error {
	r.baseMu.Lock()
	defer r.baseMu.Unlock()
	if r.rebaselined.After(idle) {
		return nil
	}
	r.e.opts.Log.Info("latency over budget with nothing being sent: measuring the latency baseline again", "reason", d.Reason())
	err := r.e.opts.Rebaseline(ctx)
	r.rebaselined = time.Now()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.e.opts.Log.Warn("measuring the latency baseline again failed; the old one stays", "error", err)
	}
	return nil
}

// reset starts the hold's spans again (the hold changed its kind), and
// lets the sources send.
func (m *remeasure) reset() {
	m.since, m.idleSince = time.Time{}, time.Time{}
	m.unquiet()
}

// unquiet lets the sources send again, if tick quieted them.
func (m *remeasure) unquiet() {
	if m.release != nil {
		m.release()
		m.release = nil
	}
}

// variationHold reports whether d holds on latency variation readings
// alone (relative to the baseline), and nothing else. An abort awaiting
// its second look is such a hold when every reading it aborts on is a
// variation: the look pauses the sources, and a variation that outlasts
// that idle span is measured again rather than looked at once more.
func variationHold(d gate.Decision) bool {
	if d.Verdict != gate.Hold {
		return false
	}
	n := 0
	for _, rd := range d.Readings {
		if rd.Decision == gate.Hold.String() || rd.Decision == gate.Abort.String() {
			if rd.Gate != gate.GateVariationP99 && rd.Gate != gate.GateVariationAvg {
				return false
			}
			n++
		}
	}
	return n > 0 && n == len(d.Reasons)
}

// holdSpans counts holds that several goroutines may be in at once as
// the union of their spans: a hold begins when the first enters and ends
// when the last leaves.
type holdSpans struct {
	mu     sync.Mutex
	active int
	since  time.Time
	n      int
	total  time.Duration
	logged bool // the current span's beginning was logged
}

// begin enters a hold for reason; with logged, it logs the hold when it
// is the first (the Gater logs its own).
func (h *holdSpans) begin(log *slog.Logger, reason string, logged bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active++; h.active == 1 {
		h.since = time.Now()
		h.n++
		h.logged = logged
		if logged {
			log.Info("gates hold", "reason", reason)
		}
	}
}

// end leaves a hold, logging its end when it is the last and its
// beginning was logged.
func (h *holdSpans) end(log *slog.Logger) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active--; h.active == 0 {
		held := time.Since(h.since)
		h.total += held
		if h.logged {
			log.Info("gates no longer hold", "held", held.Round(time.Millisecond), "on", "exhausted pace")
		}
	}
}

// get returns how many holds began and how long they lasted in all (a
// hold still on counts up to now).
func (h *holdSpans) get() (int, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	total := h.total
	if h.active > 0 {
		total += time.Since(h.since)
	}
	return h.n, total
}
