package measure

import (
	"slices"
	"time"
)

// Write is one client write: sent at Start, answered (or failed) at End.
type Write struct {
	Start, End time.Time
	Acked      bool
}

// Outage is the longest time a client went without an acknowledged write.
type Outage struct {
	// Longest is To - From: from the acknowledgement before the gap to the
	// one that ended it (or to the reply of the last failed write, when
	// no acknowledgement came after it).
	Longest  time.Duration
	From, To time.Time
	// Failed counts the failed writes that ended within the window.
	Failed int
}

// WriteOutage measures, as the client saw it, the longest gap between
// consecutive acknowledged writes (by reply time) that overlaps the window
// [from, to): writes stalled behind a paused master and writes that failed
// both leave such a gap, so the gap is the outage whatever form it took.
// Gaps that lie wholly outside the window (the load's warm-up, another
// phase) do not count. A run of failed writes with no acknowledgement
// after it counts up to the last failed reply. The writes may be in any
// order; WriteOutage does no I/O.
func WriteOutage(writes []Write, from, to time.Time) Outage {
	var acks []time.Time
	var out Outage
	lastFail := time.Time{}
	for _, w := range writes {
		if w.Acked {
			acks = append(acks, w.End)
			continue
		}
		if !w.End.Before(from) && w.End.Before(to) {
			out.Failed++
		}
		if w.End.After(lastFail) {
			lastFail = w.End
		}
	}
	slices.SortFunc(acks, func(a, b time.Time) int { return a.Compare(b) })
	consider := func(a, b time.Time) {
		if b.Before(from) || !a.Before(to) {
			return // wholly outside the window
		}
		if d := b.Sub(a); d > out.Longest {
			out.Longest, out.From, out.To = d, a, b
		}
	}
	for i := 1; i < len(acks); i++ {
		consider(acks[i-1], acks[i])
	}
	switch {
	case len(acks) == 0 && out.Failed > 0:
		// Nothing was ever acknowledged: the whole window was out.
		first := to
		for _, w := range writes {
			if w.Start.Before(first) && !w.End.Before(from) {
				first = w.Start
			}
		}
		consider(first, lastFail)
	case len(acks) > 0 && lastFail.After(acks[len(acks)-1]):
		consider(acks[len(acks)-1], lastFail)
	}
	return out
}
