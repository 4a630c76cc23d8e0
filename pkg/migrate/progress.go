package migrate

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/slotshift/slotshift/pkg/plan"
)

// Progress is one snapshot of a run, for the status line and progress events.
type Progress struct {
	Batch      int           `json:"batch"`
	Batches    int           `json:"batches"`
	Slots      int           `json:"slots"`
	SlotsTotal int           `json:"slots_total"`
	Keys       int64         `json:"keys"`
	KeysPerSec float64       `json:"keys_per_sec"`
	ETA        time.Duration `json:"eta"` // -1 when unknown
	Gates      string        `json:"gates"`
	Elapsed    time.Duration `json:"elapsed"`
	// Pace is the slowest sending source's pace; nil without a pacer or
	// while no source is sending.
	Pace *PaceStatus `json:"pace,omitempty"`
}

// String is the status line:
// "batch 7/41 · slots 700/4096 · keys 172k · 9.8k keys/s · ETA 3m · gates green",
// then with a pacer "· pace 0.42 (100 keys/MIGRATE, 63% of budget)".
func (p Progress) String() string {
	eta := "?"
	if p.ETA >= 0 {
		eta = fmtETA(p.ETA)
	}
	s := fmt.Sprintf("batch %d/%d · slots %d/%d · keys %s · %s keys/s · ETA %s · gates %s",
		p.Batch, p.Batches, p.Slots, p.SlotsTotal, fmtCount(float64(p.Keys)), fmtCount(p.KeysPerSec), eta, p.Gates)
	if pc := p.Pace; pc != nil {
		ex := ""
		if pc.Exhausted {
			ex = " exhausted"
		}
		s += fmt.Sprintf(" · pace %.2f%s (%d keys/MIGRATE, %.0f%% of budget)", pc.Level, ex, pc.Keys, 100*pc.BudgetUsed)
	}
	return s
}

func fmtCount(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case v >= 1e5:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	}
	return fmt.Sprintf("%.0f", v)
}

func trimZero(s string) string {
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		return s[:len(s)-2]
	}
	return s
}

func fmtETA(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int((d+time.Second-1)/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int((d+time.Minute-1)/time.Minute))
	}
	h := int(d / time.Hour)
	return fmt.Sprintf("%dh%dm", h, int((d-time.Duration(h)*time.Hour)/time.Minute))
}

// progress is a run's live counters, updated by the batches in flight and
// read by the status loop.
type progress struct {
	start      time.Time
	batch      atomic.Int64
	batches    int
	slots      atomic.Int64
	slotsTotal int
	keysTotal  int64 // keys the plan moves, per CLUSTER SLOT-STATS; 0 = unknown
	keys       atomic.Int64
	gates      atomic.Value // string
	pacer      *Pacer       // nil: not paced
}

func newProgress(start time.Time, p plan.Rebalance) *progress {
	prog := &progress{start: start, batches: len(p.Batches)}
	for _, b := range p.Batches {
		prog.slotsTotal += b.Slots()
	}
	prog.gates.Store("green")
	return prog
}

// record adds what a group of slots moved; it is a Control.Progress.
func (p *progress) record(d Stats) {
	p.slots.Add(int64(d.Slots))
	p.keys.Add(d.Keys)
}

func (p *progress) snapshot() Progress {
	el := time.Since(p.start)
	s := Progress{
		Batch: int(p.batch.Load()), Batches: p.batches,
		Slots: int(p.slots.Load()), SlotsTotal: p.slotsTotal,
		Keys: p.keys.Load(), ETA: -1, Elapsed: el,
	}
	if g, ok := p.gates.Load().(string); ok {
		s.Gates = g
	}
	if p.pacer != nil {
		if st, ok := p.pacer.Slowest(); ok {
			s.Pace = &st
		}
	}
	if sec := el.Seconds(); sec > 0 {
		s.KeysPerSec = float64(s.Keys) / sec
	}
	switch {
	case p.keysTotal > 0 && s.Keys > 0:
		// Known key counts: an atomic task's time goes with its data.
		s.ETA = time.Duration(float64(el) * float64(max(p.keysTotal-s.Keys, 0)) / float64(s.Keys))
	case s.Slots > 0:
		s.ETA = time.Duration(float64(el) * float64(s.SlotsTotal-s.Slots) / float64(s.Slots))
	}
	return s
}

// startStatus writes the status line and calls OnProgress every
// StatusInterval, from one snapshot, until the returned function is called;
// that emits the last snapshot once more.
func (e *Executor) startStatus(prog *progress, g Gater) func() {
	if e.opts.Status == nil && e.opts.OnProgress == nil {
		return func() {}
	}
	emit := func() {
		if g != nil {
			prog.gates.Store(g.Current().String())
		}
		s := prog.snapshot()
		if e.opts.Status != nil {
			fmt.Fprintln(e.opts.Status, s.String())
		}
		if e.opts.OnProgress != nil {
			e.opts.OnProgress(s)
		}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(e.opts.StatusInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				emit()
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		emit()
	}
}
