package metrics

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/slotshift/slotshift/pkg/atomicfile"
	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/migrate"
)

// progressMetrics are the numbers of a progress snapshot, one family each.
// To expose a new field of migrate.Progress, add a row; value reports
// false while the field is unknown, and the family is then left out.
var progressMetrics = []struct {
	name, help, typ string
	value           func(migrate.Progress) (float64, bool)
}{
	{"slotshift_rebalance_batch", "Number of the latest batch started, 1-based (0 before the first).", Gauge,
		func(p migrate.Progress) (float64, bool) { return float64(p.Batch), true }},
	{"slotshift_rebalance_batches", "Batches in the rebalance plan.", Gauge,
		func(p migrate.Progress) (float64, bool) { return float64(p.Batches), true }},
	{"slotshift_rebalance_slots_planned", "Hash slots the rebalance plan moves.", Gauge,
		func(p migrate.Progress) (float64, bool) { return float64(p.SlotsTotal), true }},
	{"slotshift_rebalance_slots_moved_total", "Hash slots moved by this run.", Counter,
		func(p migrate.Progress) (float64, bool) { return float64(p.Slots), true }},
	{"slotshift_rebalance_keys_moved_total", "Keys moved by this run.", Counter,
		func(p migrate.Progress) (float64, bool) { return float64(p.Keys), true }},
	{"slotshift_rebalance_keys_per_second", "Keys moved per second, averaged over the run so far.", Gauge,
		func(p migrate.Progress) (float64, bool) { return p.KeysPerSec, true }},
	{"slotshift_rebalance_elapsed_seconds", "Seconds since the run's first batch was admitted.", Gauge,
		func(p migrate.Progress) (float64, bool) { return p.Elapsed.Seconds(), true }},
	{"slotshift_rebalance_eta_seconds", "Estimated seconds until the last slot is moved.", Gauge,
		func(p migrate.Progress) (float64, bool) { return p.ETA.Seconds(), p.ETA >= 0 }},
	{"slotshift_rebalance_pace_ratio", "The impact controller's pace of the slowest sending source, from near 0 (slowest) to 1 (fastest).", Gauge,
		func(p migrate.Progress) (float64, bool) {
			return paceOf(p, func(s migrate.PaceStatus) float64 { return s.Level })
		}},
	{"slotshift_rebalance_pace_keys_per_migrate", "Keys per MIGRATE the impact controller allows the slowest sending source.", Gauge,
		func(p migrate.Progress) (float64, bool) {
			return paceOf(p, func(s migrate.PaceStatus) float64 { return float64(s.Keys) })
		}},
	{"slotshift_rebalance_pace_budget_used_ratio", "Share of the latency budget the slowest sending source's last reading used.", Gauge,
		func(p migrate.Progress) (float64, bool) {
			return paceOf(p, func(s migrate.PaceStatus) float64 { return s.BudgetUsed })
		}},
}

// paceOf reads one number of the progress' pace, known only with a pacer
// and while a source is sending.
func paceOf(p migrate.Progress, f func(migrate.PaceStatus) float64) (float64, bool) {
	if p.Pace == nil {
		return 0, false
	}
	return f(*p.Pace), true
}

// DurationBuckets are the upper bounds, in seconds, of the batch duration
// histogram: a batch of 100 slots takes from under a second (no keys) to
// minutes (millions of keys).
var DurationBuckets = []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

var verdicts = []gate.Verdict{gate.Proceed, gate.Hold, gate.Abort}

// Rebalance collects one rebalance run's metrics. The status loop feeds it
// progress snapshots while the run's goroutine finishes it, so it is safe
// for concurrent use.
type Rebalance struct {
	cluster string
	now     func() time.Time

	mu      sync.Mutex
	prog    migrate.Progress
	verdict gate.Verdict
	red     map[gateNode]bool // every reading seen; true while hold or abort
	holds   map[string]int    // gate -> times it turned red at a tick
	hist    histogram
	final   *migrate.Result
}

type gateNode struct{ gate, node string }

type histogram struct {
	counts []uint64 // per bucket of DurationBuckets, not cumulative
	sum    float64
	count  uint64
}

// NewRebalance returns an empty collector for the named cluster; now is
// the clock of the update timestamp (nil: time.Now).
func NewRebalance(cluster string, now func() time.Time) *Rebalance {
	if now == nil {
		now = time.Now
	}
	return &Rebalance{
		cluster: cluster, now: now, prog: migrate.Progress{ETA: -1},
		red: map[gateNode]bool{}, holds: map[string]int{},
		hist: histogram{counts: make([]uint64, len(DurationBuckets))},
	}
}

// Progress records one status tick: the executor's snapshot and the gates'
// current decision. A gate that is red (hold or abort) on some node now and
// was not at the previous tick counts as one more hold of that gate.
func (r *Rebalance) Progress(p migrate.Progress, d gate.Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prog = p
	r.verdict = d.Verdict
	wasRed := r.redGates()
	for k := range r.red {
		r.red[k] = false
	}
	for _, g := range d.Readings {
		r.red[gateNode{g.Gate, g.Node}] = g.Decision != gate.Proceed.String()
	}
	for g := range r.redGates() {
		if !wasRed[g] {
			r.holds[g]++
		}
	}
}

// redGates returns the gates red on at least one node.
func (r *Rebalance) redGates() map[string]bool {
	out := map[string]bool{}
	for k, red := range r.red {
		if red {
			out[k.gate] = true
		}
	}
	return out
}

// Finish records the run's result: the moved slots, keys and bytes become
// the result's (the numbers the report shows), and each batch's duration
// goes into the histogram.
func (r *Rebalance) Finish(res migrate.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.final = &res
	r.prog.Slots, r.prog.Keys = res.Slots, res.Keys
	if res.Duration > 0 {
		r.prog.Elapsed = res.Duration
		r.prog.KeysPerSec = float64(res.Keys) / res.Duration.Seconds()
	}
	if res.Done {
		r.prog.ETA = 0
	}
	for _, b := range res.Batches {
		r.hist.observe(b.Duration.Seconds())
	}
}

func (h *histogram) observe(v float64) {
	h.sum += v
	h.count++
	for i, le := range DurationBuckets {
		if v <= le {
			h.counts[i]++
			return
		}
	}
}

// Families returns every metric family, in a fixed order.
func (r *Rebalance) Families() []Family {
	r.mu.Lock()
	defer r.mu.Unlock()
	cl := Label{"cluster", r.cluster}
	one := func(v float64, extra ...Label) Sample {
		return Sample{Labels: append([]Label{cl}, extra...), Value: v}
	}
	var fams []Family
	for _, m := range progressMetrics {
		if v, ok := m.value(r.prog); ok {
			fams = append(fams, Family{Name: m.name, Help: m.help, Type: m.typ, Samples: []Sample{one(v)}})
		}
	}
	fams = append(fams, r.gateFamilies(one)...)
	fams = append(fams, r.hist.family(cl))
	fams = append(fams, r.finalFamilies(one)...)
	return append(fams, Family{Name: "slotshift_rebalance_last_update_timestamp_seconds", Type: Gauge,
		Help: "Unix time of the last update of these metrics.", Samples: []Sample{one(float64(r.now().UnixMilli()) / 1e3)}})
}

func (r *Rebalance) gateFamilies(one func(float64, ...Label) Sample) []Family {
	state := Family{Name: "slotshift_rebalance_gate_state", Type: Gauge,
		Help: "The gates' current decision: 1 for the state in force (proceed, hold or abort), 0 for the others."}
	for _, v := range verdicts {
		state.Samples = append(state.Samples, one(b2f(v == r.verdict), Label{"state", v.String()}))
	}
	fams := []Family{state}
	keys := make([]gateNode, 0, len(r.red))
	for k := range r.red {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b gateNode) int {
		return cmp.Or(cmp.Compare(a.gate, b.gate), cmp.Compare(a.node, b.node))
	})
	if len(keys) > 0 {
		red := Family{Name: "slotshift_rebalance_gate_red", Type: Gauge,
			Help: "1 while a gate holds or aborts on a node (the reason the run waits), 0 while it lets batches through."}
		for _, k := range keys {
			red.Samples = append(red.Samples, one(b2f(r.red[k]), Label{"gate", k.gate}, Label{"node", k.node}))
		}
		fams = append(fams, red)
	}
	if len(r.holds) > 0 {
		holds := Family{Name: "slotshift_rebalance_gate_holds_total", Type: Counter,
			Help: "Times a gate turned red (hold or abort) on some node, as seen at the status ticks."}
		names := make([]string, 0, len(r.holds))
		for g := range r.holds {
			names = append(names, g)
		}
		slices.Sort(names)
		for _, g := range names {
			holds.Samples = append(holds.Samples, one(float64(r.holds[g]), Label{"gate", g}))
		}
		fams = append(fams, holds)
	}
	return fams
}

func (h *histogram) family(cl Label) Family {
	f := Family{Name: "slotshift_rebalance_batch_duration_seconds", Type: Histogram,
		Help: "Duration of the run's finished batches, from admission to the last slot moved."}
	var cum uint64
	for i, le := range DurationBuckets {
		cum += h.counts[i]
		f.Samples = append(f.Samples, Sample{Suffix: "_bucket", Labels: []Label{cl, {"le", strconv.FormatFloat(le, 'g', -1, 64)}}, Value: float64(cum)})
	}
	f.Samples = append(f.Samples,
		Sample{Suffix: "_bucket", Labels: []Label{cl, {"le", "+Inf"}}, Value: float64(h.count)},
		Sample{Suffix: "_sum", Labels: []Label{cl}, Value: h.sum},
		Sample{Suffix: "_count", Labels: []Label{cl}, Value: float64(h.count)})
	return f
}

// finalFamilies are known once the run has finished.
func (r *Rebalance) finalFamilies(one func(float64, ...Label) Sample) []Family {
	done := false
	if r.final != nil {
		done = r.final.Done
	}
	fams := []Family{{Name: "slotshift_rebalance_done", Type: Gauge,
		Help: "1 once the run has moved every batch of the plan, 0 before or when it stopped short.", Samples: []Sample{one(b2f(done))}}}
	if r.final == nil {
		return fams
	}
	return append(fams,
		Family{Name: "slotshift_rebalance_batches_remaining", Type: Gauge, Help: "Batches of the plan not done when the run ended.",
			Samples: []Sample{one(float64(r.final.BatchesRemaining))}},
		Family{Name: "slotshift_rebalance_bytes_moved_total", Type: Counter, Help: "Bytes of key payload moved by this run.",
			Samples: []Sample{one(float64(r.final.Bytes))}},
	)
}

// Encode writes the metrics in the text exposition format.
func (r *Rebalance) Encode(w io.Writer) error { return Encode(w, r.Families()) }

// WriteFile writes the metrics to path atomically, readable by all (the
// textfile collector runs as another user): a reader never sees half a file.
func (r *Rebalance) WriteFile(path string) error {
	var b bytes.Buffer
	if err := r.Encode(&b); err != nil {
		return fmt.Errorf("encode metrics: %w", err)
	}
	return atomicfile.Write(path, b.Bytes(), 0o644)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
