package plan

import "github.com/slotshift/slotshift/pkg/cluster"

// Master is one master as the planners see it.
type Master struct {
	ID     string `json:"id"`
	Addr   string `json:"addr"`   // host:port
	Server string `json:"server"` // inventory server name; "" when unknown
	// Weight scales the master's share of slots; 0 drains it.
	Weight float64         `json:"weight"`
	Slots  cluster.SlotSet `json:"-"`
}

// Move is a contiguous range of slots going from one master to another.
type Move struct {
	From     string        `json:"from"` // source node id
	To       string        `json:"to"`   // target node id
	FromAddr string        `json:"from_addr"`
	ToAddr   string        `json:"to_addr"`
	Range    cluster.Range `json:"range"`
}

// Batch is a group of moves executed, and gated, together.
type Batch struct {
	Number int    `json:"number"` // 1-based
	Moves  []Move `json:"moves"`
}

// Slots returns how many slots the batch moves.
func (b Batch) Slots() int {
	n := 0
	for _, m := range b.Moves {
		n += m.Range.Len()
	}
	return n
}

// Target is one master's slot count before and after a rebalance.
type Target struct {
	ID      string  `json:"id"`
	Addr    string  `json:"addr"`
	Weight  float64 `json:"weight"`
	Current int     `json:"current"`
	Target  int     `json:"target"`
}

// Rebalance is a deterministic, JSON-serialisable rebalance plan. It carries
// the fingerprint of the slot map it was computed from; an executor refuses
// to run it against a cluster whose fingerprint differs.
type Rebalance struct {
	Fingerprint string `json:"fingerprint"`
	// BatchSlots is the most slots one batch moves.
	BatchSlots int `json:"batch_slots"`
	// ThresholdPercent is the threshold the plan was computed with; negative
	// when there was none. 0 for a plan toward a saved layout.
	ThresholdPercent float64 `json:"threshold_percent"`
	// WithinThreshold is true when every master was already within the
	// threshold of its target, so the plan moves nothing.
	WithinThreshold bool     `json:"within_threshold"`
	Targets         []Target `json:"targets"`
	Moves           []Move   `json:"moves"`
	Batches         []Batch  `json:"batches"`
}

// Slots returns how many slots the plan moves.
func (r Rebalance) Slots() int {
	n := 0
	for _, m := range r.Moves {
		n += m.Range.Len()
	}
	return n
}

// Layout is a saved slot layout (what `slotshift snapshot` writes and
// `rebalance --target-layout` plans toward). Owners map a master's address
// to its slot ranges; node ids are kept to detect replaced nodes.
type Layout struct {
	FormatVersion string         `json:"format_version"`
	Cluster       string         `json:"cluster,omitempty"`
	Fingerprint   string         `json:"fingerprint"`
	Masters       []LayoutMaster `json:"masters"`
}

// LayoutMaster is one master's slots in a Layout.
type LayoutMaster struct {
	Addr   string          `json:"addr"`
	ID     string          `json:"id"`
	Ranges []cluster.Range `json:"ranges"`
}
