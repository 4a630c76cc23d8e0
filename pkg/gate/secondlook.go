package gate

import (
	"slices"
	"time"

	"github.com/slotshift/slotshift/pkg/inventory"
)

// An abort needs a second look, as in gh-ost: one reading over an abort
// limit (a GC pause of the tool, one slow PING) must not stop a run. When
// a decision first aborts, the Monitor starts fresh latency samples and
// holds; once AbortRecheck has passed, latency is judged on those samples
// alone (a PING still outstanding counts at its age). Only if the
// decision still aborts then is the abort acted upon.

// secondLook tracks an abort awaiting its second look. It does no I/O.
type secondLook struct {
	start time.Time // when the abort was first seen; zero when none is pending
}

// judge returns the decision to act on at now: d itself, unless d aborts
// and has not yet persisted for recheck, in which case it holds. started
// reports that a look began now, so the caller starts fresh samples; done
// that a pending look ended (confirmed or cleared).
func (s *secondLook) judge(d Decision, now time.Time, recheck time.Duration) (out Decision, started, done bool) {
	pending := !s.start.IsZero()
	switch {
	case d.Verdict != Abort:
		s.start = time.Time{}
		return d, false, pending
	case !pending:
		s.start = now
		return awaitLook(d), true, false
	case now.Sub(s.start) < recheck:
		return awaitLook(d), false, false
	}
	s.start = time.Time{}
	return d, false, true
}

// awaitLook is an abort decision downgraded to a hold until its second look.
func awaitLook(d Decision) Decision { return demote(d, "abort awaits a second look: ") }

// demote turns an abort decision into a hold whose first reason says why.
// The reasons are copied: d's own stay as they were.
func demote(d Decision, why string) Decision {
	reasons := append([]string{why + d.Reason()}, d.Reasons[min(1, len(d.Reasons)):]...)
	d.Verdict, d.Reasons = Hold, reasons
	return d
}

// recheckOf is the gates' second-look delay, default when unset.
func recheckOf(g inventory.Gates) time.Duration {
	if g.AbortRecheck.Duration > 0 {
		return g.AbortRecheck.Duration
	}
	return inventory.DefaultAbortRecheck
}

// minLookSamples is the fewest PINGs per node a second look judges: at
// fewer, a p99 is just the slowest one or two.
const minLookSamples = 100

// decide decides on the latest readings and applies the second look. The
// look lasts the gates' AbortRecheck, and at least long enough for each
// node to answer as many PINGs as its latency baseline was measured on
// (minLookSamples without one): a p99 compared with a baseline's p99 must
// be the same statistic, and the p99 of 100 samples is near their maximum
// where a 3s baseline's is its third-slowest of 300.
func (m *Monitor) decide(g inventory.Gates, idleLooks bool) Decision {
	d := Decide(m.Readings(), g)
	cleared := false
	if idleLooks {
		var ld Decision
		if ld, cleared = m.lookClears(g); cleared {
			d = ld
		}
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	samples := int64(minLookSamples)
	for _, b := range m.baseline {
		samples = max(samples, b.Samples)
	}
	recheck := max(recheckOf(g), time.Duration(samples)*m.LatencyInterval())
	out, started, done := m.look.judge(d, now, recheck)
	switch {
	case started:
		m.lookStart, m.lookDue = now, now.Add(recheck)
		for _, p := range m.lat {
			p.look = newProbeHistogram()
		}
	case done:
		m.lookStart, m.lookDue = time.Time{}, time.Time{}
		for _, p := range m.lat {
			// A look that cleared early judged the nodes on its own
			// samples; the window still holds the spike that began it,
			// which would start another look at once.
			if cleared && p.look != nil {
				p.hist.restart(p.look)
			}
			p.look = nil
		}
		if idleLooks {
			out = idleVariation(out)
		}
	}
	return out
}

// idleVariation turns an abort whose every abort reading is a latency
// variation into a hold, when its second look was taken with the run
// sending nothing. Over that look the nodes carried none of the run's
// load, so a latency still far above the baseline is not the run's
// doing, and stopping the run for good would not bring it down: the run
// holds instead (and, held idle, measures the baseline again; see
// migrate.Options.Rebaseline). A variation that the run did cause falls
// during the look, and the pacer has cut meanwhile. Absolute latency,
// and every other gate, still abort.
func idleVariation(d Decision) Decision {
	if d.Verdict != Abort {
		return d
	}
	n := 0
	for _, rd := range d.Readings {
		if rd.Decision != Abort.String() {
			continue
		}
		if rd.Gate != GateVariationP99 && rd.Gate != GateVariationAvg {
			return d
		}
		n++
	}
	if n == 0 {
		return d
	}
	out := d
	out.Verdict = Hold
	out.Readings = slices.Clone(d.Readings)
	for i, rd := range out.Readings {
		if rd.Decision == Abort.String() {
			out.Readings[i].Decision = Hold.String()
		}
	}
	out.Reasons = slices.Clone(d.Reasons)
	for i := range n {
		out.Reasons[i] = "with nothing sent for its second look, " + out.Reasons[i] + " (not this run's doing: holding)"
	}
	return out
}

// minClearSamples is the fewest PINGs per master on which an idle look
// may end early (see lookClears).
const minClearSamples = 30

// lookClears returns the decision on a pending look's samples, and
// whether the look, taken with the run sending nothing, may end on it
// before it is due: every master has answered at least
// minClearSamples PINGs since it began, and judged on those alone nothing
// aborts. The p99 of so few is about their slowest, so this is the
// strictest reading of the look: the nodes recovered as soon as the run
// stopped, which shows the latency was the run's, and the pacer has cut
// meanwhile. Waiting out the whole look would only stop the run for
// seconds more. A look that does not clear so runs its full length.
func (m *Monitor) lookClears(g inventory.Gates) (Decision, bool) {
	m.mu.Lock()
	pending := !m.look.start.IsZero() && !m.lookDue.IsZero() && time.Now().Before(m.lookDue)
	enough := pending
	for _, p := range m.lat {
		if p.look == nil || p.look.TotalCount() < minClearSamples {
			enough = false
			break
		}
	}
	m.mu.Unlock()
	if !enough {
		return Decision{}, false
	}
	d := Decide(m.readings(true), g)
	return d, d.Verdict != Abort
}

// LookPending reports whether an abort awaits its second look.
func (m *Monitor) LookPending() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.look.start.IsZero()
}

// holdBeforeStart is an abort decision turned into a hold, for the wait
// before the first batch: nothing is in flight yet, so red means wait.
func holdBeforeStart(d Decision) Decision {
	return demote(d, "before the first batch an abort holds: ")
}
