package plan

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// Defaults for Options.
const (
	DefaultBatchSlots       = 100
	DefaultThresholdPercent = 2.0
)

// Options tune PlanRebalance and PlanToLayout.
type Options struct {
	// BatchSlots is the most slots one batch moves. 0 means
	// DefaultBatchSlots (100).
	BatchSlots int `json:"batch_slots"`
	// ThresholdPercent is how far, in percent of its target, a master's slot
	// count may be from its target and still count as balanced. 0 means
	// DefaultThresholdPercent (2); a negative value disables the threshold, so
	// any difference is planned away. Ignored by PlanToLayout.
	ThresholdPercent float64 `json:"threshold_percent"`
	// Fingerprint is the cluster.Fingerprint of the slot map the masters were
	// read from; it is copied into the plan so a stale plan can be refused.
	Fingerprint string `json:"fingerprint"`
}

func (o Options) withDefaults() (Options, error) {
	if o.BatchSlots < 0 {
		return o, fmt.Errorf("batch slots %d: must not be negative", o.BatchSlots)
	}
	if math.IsNaN(o.ThresholdPercent) || math.IsInf(o.ThresholdPercent, 0) {
		return o, fmt.Errorf("threshold percent %v: must be a finite number", o.ThresholdPercent)
	}
	if o.BatchSlots == 0 {
		o.BatchSlots = DefaultBatchSlots
	}
	if o.ThresholdPercent == 0 {
		o.ThresholdPercent = DefaultThresholdPercent
	}
	return o, nil
}

// topology is the planners' canonical view of the input: masters sorted by
// id (so input order never changes a plan) and the owner of every slot as an
// index into ms.
type topology struct {
	ms    []*Master // pointers into the caller's slice, which is never changed
	owner [cluster.NumSlots]int32
}

// newTopology checks that ids are unique and that every slot has exactly one
// owner: a plan computed from anything else could not be applied safely.
func newTopology(masters []Master) (*topology, error) {
	if len(masters) == 0 {
		return nil, fmt.Errorf("no masters")
	}
	// Sorting pointers, not the 2 KiB Master values, keeps this cheap for
	// a thousand masters.
	tp := &topology{ms: make([]*Master, len(masters))}
	for i := range masters {
		tp.ms[i] = &masters[i]
	}
	slices.SortFunc(tp.ms, func(a, b *Master) int { return cmp.Compare(a.ID, b.ID) })
	for i := range tp.owner {
		tp.owner[i] = -1
	}
	for i, m := range tp.ms {
		if m.ID == "" {
			return nil, fmt.Errorf("master %s: empty node id", m.Addr)
		}
		if i > 0 && tp.ms[i-1].ID == m.ID {
			return nil, fmt.Errorf("master %s: node id %s is used twice", m.Addr, m.ID)
		}
		for _, r := range m.Slots.Ranges() {
			for s := r.Start; s <= r.End; s++ {
				if o := tp.owner[s]; o >= 0 {
					return nil, fmt.Errorf("slot %d is owned by both %s and %s", s, tp.ms[o].Addr, m.Addr)
				}
				tp.owner[s] = int32(i)
			}
		}
	}
	for s, o := range tp.owner {
		if o < 0 {
			return nil, fmt.Errorf("slot %d has no owner", s)
		}
	}
	return tp, nil
}

func (tp *topology) counts() []int {
	c := make([]int, len(tp.ms))
	for _, o := range tp.owner {
		c[o]++
	}
	return c
}

// targets returns each master's target slot count (in tp.ms order) by
// weight, rounded with the largest remainder method so they sum to
// NumSlots; equal remainders go to the lower node id.
func (tp *topology) targets() ([]int, error) {
	var total float64
	positive := 0
	for _, m := range tp.ms {
		if m.Weight < 0 || math.IsNaN(m.Weight) || math.IsInf(m.Weight, 0) {
			return nil, fmt.Errorf("master %s: weight %v must be a finite number >= 0", m.Addr, m.Weight)
		}
		if m.Weight > 0 {
			positive++
		}
		total += m.Weight
	}
	if positive == 0 {
		return nil, fmt.Errorf("no master has a positive weight: every master would be drained")
	}
	t := make([]int, len(tp.ms))
	rem := make([]float64, len(tp.ms))
	sum := 0
	for i, m := range tp.ms {
		q := cluster.NumSlots * m.Weight / total
		f := math.Floor(q)
		t[i], rem[i] = int(f), q-f
		sum += t[i]
	}
	order := make([]int, 0, positive)
	for i, m := range tp.ms {
		// A drained master never gets a rounding slot, whatever float error
		// its zero share carries.
		if m.Weight > 0 {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rem[b], rem[a]) })
	left := cluster.NumSlots - sum
	if left < 0 || left > len(order) {
		return nil, fmt.Errorf("target rounding left %d slots for %d masters", left, len(order))
	}
	for _, i := range order[:left] {
		t[i]++
	}
	return t, nil
}

// withinThreshold reports whether every master is within pct percent of its
// target. A negative pct disables the threshold.
func withinThreshold(cur, tgt []int, pct float64) bool {
	if pct < 0 {
		return false
	}
	for i := range cur {
		if math.Abs(float64(cur[i]-tgt[i])) > pct/100*float64(tgt[i]) {
			return false
		}
	}
	return true
}

func (tp *topology) targetList(cur, tgt []int) []Target {
	out := make([]Target, len(tp.ms))
	for i, m := range tp.ms {
		out[i] = Target{ID: m.ID, Addr: m.Addr, Weight: m.Weight, Current: cur[i], Target: tgt[i]}
	}
	slices.SortFunc(out, func(a, b Target) int {
		return cmp.Or(cmp.Compare(a.Addr, b.Addr), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// PlanRebalance plans the minimal slot moves that bring every master to its
// weighted target (see the package documentation for the rules), cut into
// batches. The plan is checked with Verify before it is returned.
func PlanRebalance(masters []Master, opts Options) (Rebalance, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Rebalance{}, fmt.Errorf("plan rebalance: %w", err)
	}
	tp, err := newTopology(masters)
	if err != nil {
		return Rebalance{}, fmt.Errorf("plan rebalance: %w", err)
	}
	tgt, err := tp.targets()
	if err != nil {
		return Rebalance{}, fmt.Errorf("plan rebalance: %w", err)
	}
	cur := tp.counts()
	r := Rebalance{
		Fingerprint:      opts.Fingerprint,
		BatchSlots:       opts.BatchSlots,
		ThresholdPercent: opts.ThresholdPercent,
		Targets:          tp.targetList(cur, tgt),
		Moves:            []Move{},
		Batches:          []Batch{},
	}
	if withinThreshold(cur, tgt, opts.ThresholdPercent) {
		r.WithinThreshold = true
	} else {
		r.Moves = tp.moveTo(tp.minimalOwners(cur, tgt))
		r.Batches = makeBatches(r.Moves, opts.BatchSlots)
	}
	if err := r.Verify(masters); err != nil {
		return Rebalance{}, fmt.Errorf("plan rebalance: invariant check: %w", err)
	}
	return r, nil
}

// minimalOwners returns the new owner of every slot after moving exactly the
// surplus of every giver to the receivers, choosing slots that keep ranges
// contiguous.
func (tp *topology) minimalOwners(cur, tgt []int) [cluster.NumSlots]int32 {
	const n = cluster.NumSlots
	sur := make([]int, len(tp.ms)) // slots a giver still has to give
	def := make([]int, len(tp.ms)) // slots a receiver still needs
	for i := range cur {
		if d := cur[i] - tgt[i]; d > 0 {
			sur[i] = d
		} else {
			def[i] = -d
		}
	}
	owner := tp.owner
	take := func(s int, r int32) {
		sur[owner[s]]--
		def[r]--
		owner[s] = r
	}
	// Step 1: receivers grow their ranges into neighbouring givers. A
	// receiver only ever takes the slot next to one it owns, and a giver only
	// loses the end of a range, so both stay contiguous. One sweep each way
	// finds every such boundary: taking a slot only creates a new boundary
	// further along the same sweep.
	for s := 1; s < n; s++ {
		if def[owner[s-1]] > 0 && sur[owner[s]] > 0 {
			take(s, owner[s-1])
		}
	}
	for s := n - 2; s >= 0; s-- {
		if def[owner[s+1]] > 0 && sur[owner[s]] > 0 {
			take(s, owner[s+1])
		}
	}
	// Step 2: the neediest receiver takes a block from the top of the
	// richest giver's highest range, then grows it into neighbours.
	top := make([]int, len(tp.ms)) // highest slot a giver may still own
	for i := range top {
		top[i] = -1
	}
	for s := n - 1; s >= 0; s-- {
		if o := tp.owner[s]; top[o] < 0 {
			top[o] = s
		}
	}
	// Only masters with something left are scanned; the lists shrink as
	// receivers fill up and givers run dry.
	var recv, give []int
	for i := range tp.ms {
		if def[i] > 0 {
			recv = append(recv, i)
		}
		if sur[i] > 0 {
			give = append(give, i)
		}
	}
	for {
		recv = compact(recv, func(i int) int { return def[i] })
		give = compact(give, func(i int) int { return sur[i] })
		if len(recv) == 0 {
			break
		}
		r, g := argmax(recv, def), argmax(give, sur)
		// Givers never gain slots, so a giver's highest slot only moves down.
		for owner[top[g]] != int32(g) {
			top[g]--
		}
		x, y := top[g], top[g]
		take(y, int32(r))
		for def[r] > 0 && x > 0 && sur[owner[x-1]] > 0 {
			x--
			take(x, int32(r))
		}
		for def[r] > 0 && y < n-1 && sur[owner[y+1]] > 0 {
			y++
			take(y, int32(r))
		}
	}
	return owner
}

// argmax returns the element of idx (ascending master indices) with the
// largest v, the first on ties: masters are sorted by id, so ties go to the
// lower id.
func argmax(idx []int, v []int) int {
	best := idx[0]
	for _, i := range idx {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

// moveTo returns the moves from tp's ownership to want: one move per maximal
// contiguous range with the same source and target, ordered by slot.
func (tp *topology) moveTo(want [cluster.NumSlots]int32) []Move {
	moves := []Move{}
	for s := 0; s < cluster.NumSlots; {
		f, t := tp.owner[s], want[s]
		if f == t {
			s++
			continue
		}
		e := s
		for e+1 < cluster.NumSlots && tp.owner[e+1] == f && want[e+1] == t {
			e++
		}
		from, to := tp.ms[f], tp.ms[t]
		moves = append(moves, Move{From: from.ID, To: to.ID, FromAddr: from.Addr, ToAddr: to.Addr,
			Range: cluster.Range{Start: s, End: e}})
		s = e + 1
	}
	return moves
}
