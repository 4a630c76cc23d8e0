package gate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/slotshift/slotshift/pkg/inventory"
)

// GateWindow names the maintenance window in reasons.
const GateWindow = "window"

// ErrWindowClosed is returned by WindowPolicy.Wait when the maintenance
// window is closed (or too little of it is left for the next batch) and it
// does not open again within the hold timeout.
var ErrWindowClosed = errors.New("outside the maintenance window")

// Window is a daily maintenance window in a timezone's local clock time.
// Its methods are pure: they take the time instead of reading it.
type Window struct {
	start, end int // minutes after local midnight
	loc        *time.Location
	spec       inventory.Window
}

// NewWindow checks and loads an inventory window (Parse has already
// reported these problems with their line numbers).
func NewWindow(w inventory.Window) (Window, error) {
	start, err := inventory.Clock(w.Start)
	if err != nil {
		return Window{}, fmt.Errorf("gates.window.start: %w", err)
	}
	end, err := inventory.Clock(w.End)
	if err != nil {
		return Window{}, fmt.Errorf("gates.window.end: %w", err)
	}
	if start == end {
		return Window{}, fmt.Errorf("gates.window: start and end are both %s", w.Start)
	}
	loc, err := w.Location()
	if err != nil {
		return Window{}, fmt.Errorf("gates.window.timezone: %w", err)
	}
	return Window{start: start, end: end, loc: loc, spec: w}, nil
}

// String is "02:00-04:00 Europe/Berlin".
func (w Window) String() string {
	return fmt.Sprintf("%s-%s %s", w.spec.Start, w.spec.End, w.loc)
}

// InWindow reports whether the local clock at now reads within [start,
// end); a window whose end is before its start runs over midnight.
func (w Window) InWindow(now time.Time) bool {
	t := now.In(w.loc)
	m := t.Hour()*60 + t.Minute()
	if w.start < w.end {
		return m >= w.start && m < w.end
	}
	return m >= w.start || m < w.end
}

// NextOpen is now when the window is open, else the first instant after
// now when it opens, in the window's timezone. On a day a DST change skips
// the whole window, the next day's opening is taken.
func (w Window) NextOpen(now time.Time) time.Time {
	if w.InWindow(now) {
		return now.In(w.loc)
	}
	for day := 0; day <= 3; day++ {
		c := firstAt(now.In(w.loc), day, w.start)
		if c.After(now) && w.InWindow(c) {
			return c
		}
	}
	// Unreachable for a valid window: every day has a start.
	return now.In(w.loc).Add(24 * time.Hour)
}

// Remaining is how long the window stays open from now; 0 when closed.
func (w Window) Remaining(now time.Time) time.Duration {
	if !w.InWindow(now) {
		return 0
	}
	for day := 0; day <= 2; day++ {
		if c := firstAt(now.In(w.loc), day, w.end); c.After(now) {
			return c.Sub(now)
		}
	}
	return 0
}

// firstAt is the first instant the local clock reads minutes after
// midnight, days after t's date. When DST repeats that time it is the
// earlier one; when DST skips it, the first instant after the gap.
func firstAt(t time.Time, days, minutes int) time.Time {
	c := time.Date(t.Year(), t.Month(), t.Day()+days, minutes/60, minutes%60, 0, 0, t.Location())
	for _, back := range []time.Duration{time.Hour, 30 * time.Minute} {
		e := c.Add(-back).In(t.Location())
		if e.Day() == c.Day() && e.Hour() == c.Hour() && e.Minute() == c.Minute() {
			return e
		}
	}
	return c
}

// DefaultFirstBatch is WindowPolicy.FirstBatch's default.
const DefaultFirstBatch = 5 * time.Minute

// WindowPolicy lets a batch in only inside the window and only when the
// batch is expected to end before the window closes; then it waits on the
// gates (Inner). A batch's duration is estimated conservatively: at most two
// batches are in flight and a batch is let in only when there is room, so
// one that starts now ends within about two of the longest intervals
// between batches being let in so far (time spent holding left out). The
// estimate is never below FirstBatch, which alone stands in before the
// second batch, when nothing has been measured.
type WindowPolicy struct {
	Inner interface {
		Wait(ctx context.Context) (Decision, error)
		Current() Decision
	}
	Window Window
	// HoldTimeout: a closed window that opens within it is waited for;
	// one that opens later holds at once.
	HoldTimeout time.Duration
	// FirstBatch is the floor of the batch estimate. Default 5m.
	FirstBatch time.Duration
	// Clock reads the time. Default time.Now.
	Clock func() time.Time

	mu      sync.Mutex
	last    time.Time     // when the last batch was let in
	longest time.Duration // longest interval between two batches let in
}

// Current decides on the latest readings: a batch already in flight was
// expected to fit and finishes, so the window plays no part here.
func (p *WindowPolicy) Current() Decision { return p.Inner.Current() }

// Estimate is the expected duration of a batch let in now.
func (p *WindowPolicy) Estimate() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	first := p.FirstBatch
	if first <= 0 {
		first = DefaultFirstBatch
	}
	return max(first, 2*p.longest)
}

// closed returns why a batch may not start at now, or "" when it may.
func (p *WindowPolicy) closed(now time.Time) (string, time.Time) {
	w := p.Window
	if !w.InWindow(now) {
		next := w.NextOpen(now)
		return fmt.Sprintf("%s %s; it opens at %s", ErrWindowClosed, w, next.Format(time.RFC3339)), next
	}
	est := p.Estimate()
	if left := w.Remaining(now); left < est {
		next := w.NextOpen(now.Add(left))
		return fmt.Sprintf("the maintenance window %s closes in %s, before a batch (estimated %s) would end; it opens again at %s",
			w, left.Round(time.Second), est.Round(time.Second), next.Format(time.RFC3339)), next
	}
	return "", time.Time{}
}

// Admit lets the next batch in now if the window allows it, without
// waiting on the gates: for a caller that judged the readings itself (a
// pacer steers the latency of the nodes it loads, so it proceeds on
// readings the gates alone would hold on), which must still keep the
// window. It returns why the batch may not start, or "" when it was let
// in. A closed window is waited for through Wait.
func (p *WindowPolicy) Admit() string {
	now := p.clock()
	if reason, _ := p.closed(now); reason != "" {
		return reason
	}
	p.admitted(now, 0)
	return ""
}

func (p *WindowPolicy) clock() time.Time {
	if p.Clock == nil {
		return time.Now()
	}
	return p.Clock()
}

// Wait lets the next batch in: it waits (within HoldTimeout) for the
// window, then on the gates, then checks the window again, as holding may
// have used it up. A window that will not open in time returns a hold
// decision naming the opening time, with ErrWindowClosed.
func (p *WindowPolicy) Wait(ctx context.Context) (Decision, error) {
	clock := p.clock
	began := clock()
	deadline := began.Add(p.HoldTimeout)
	for {
		now := clock()
		if reason, next := p.closed(now); reason != "" {
			d := Decision{Verdict: Hold, Reasons: []string{reason}}
			if next.After(deadline) {
				return d, fmt.Errorf("%w: %s", ErrWindowClosed, reason)
			}
			if !sleepCtx(ctx, next.Sub(now)) {
				return d, ctx.Err()
			}
			continue
		}
		d, err := p.Inner.Wait(ctx)
		if err != nil || d.Verdict != Proceed {
			return d, err
		}
		if reason, _ := p.closed(clock()); reason != "" {
			continue
		}
		p.admitted(clock(), clock().Sub(began))
		return d, nil
	}
}

// admitted records that a batch was let in at now after waiting waited.
func (p *WindowPolicy) admitted(now time.Time, waited time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.last.IsZero() {
		p.longest = max(p.longest, now.Sub(p.last)-waited)
	}
	p.last = now
}
