package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// LayoutFormatVersion is the format_version FromMasters writes. Readers
// accept any 1.x: minor versions only add fields.
const LayoutFormatVersion = "1.0"

// FromMasters returns the layout of masters (what `slotshift snapshot`
// saves), masters sorted by address.
func FromMasters(masters []Master, clusterName, fingerprint string) Layout {
	l := Layout{FormatVersion: LayoutFormatVersion, Cluster: clusterName, Fingerprint: fingerprint,
		Masters: make([]LayoutMaster, 0, len(masters))}
	for _, m := range masters {
		rs := m.Slots.Ranges()
		if rs == nil {
			rs = []cluster.Range{}
		}
		l.Masters = append(l.Masters, LayoutMaster{Addr: m.Addr, ID: m.ID, Ranges: rs})
	}
	slices.SortFunc(l.Masters, func(a, b LayoutMaster) int {
		return cmp.Or(cmp.Compare(a.Addr, b.Addr), cmp.Compare(a.ID, b.ID))
	})
	return l
}

// PlanToLayout plans the moves that give every slot back to the master the
// layout names (a rollback). Layout masters are matched to current masters by
// address, else by node id, so a node that was replaced at the same address
// still matches. Every slot owned by another master than the layout says
// moves; moves are maximal contiguous ranges per (source, target) and are
// batched like PlanRebalance's. The layout must name every slot exactly once
// and only current masters, except that a layout master without slots that
// is no longer a master is ignored. Options.ThresholdPercent is ignored.
func PlanToLayout(masters []Master, layout Layout, opts Options) (Rebalance, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return Rebalance{}, fmt.Errorf("plan to layout: %w", err)
	}
	if major, _, _ := strings.Cut(layout.FormatVersion, "."); major != "1" {
		return Rebalance{}, fmt.Errorf("plan to layout: format_version %q: want 1.x", layout.FormatVersion)
	}
	tp, err := newTopology(masters)
	if err != nil {
		return Rebalance{}, fmt.Errorf("plan to layout: %w", err)
	}
	byAddr := map[string]int32{}
	byID := map[string]int32{}
	for i, m := range tp.ms {
		if m.Addr != "" {
			byAddr[m.Addr] = int32(i)
		}
		byID[m.ID] = int32(i)
	}
	var want [cluster.NumSlots]int32
	for s := range want {
		want[s] = -1
	}
	used := map[int32]string{}
	for _, lm := range layout.Masters {
		i, ok := byAddr[lm.Addr]
		if !ok {
			i, ok = byID[lm.ID]
		}
		if !ok && len(lm.Ranges) == 0 {
			// It is to own nothing, and owns nothing: a master that gave
			// away its last slot may have become a replica (Redis'
			// cluster-allow-replica-migration) or left the cluster.
			continue
		}
		if !ok {
			return Rebalance{}, fmt.Errorf("plan to layout: layout master %s (id %s) is not a current master", lm.Addr, lm.ID)
		}
		if prev, dup := used[i]; dup {
			return Rebalance{}, fmt.Errorf("plan to layout: layout masters %s and %s are both master %s", prev, lm.Addr, tp.ms[i].Addr)
		}
		used[i] = lm.Addr
		for _, r := range lm.Ranges {
			if !validRange(r) {
				return Rebalance{}, fmt.Errorf("plan to layout: layout master %s: slot range %v out of bounds", lm.Addr, r)
			}
			for s := r.Start; s <= r.End; s++ {
				if want[s] >= 0 {
					return Rebalance{}, fmt.Errorf("plan to layout: layout gives slot %d to both %s and %s", s, used[want[s]], lm.Addr)
				}
				want[s] = i
			}
		}
	}
	tgt := make([]int, len(tp.ms))
	for s, i := range want {
		if i < 0 {
			return Rebalance{}, fmt.Errorf("plan to layout: layout gives slot %d to no master", s)
		}
		tgt[i]++
	}
	r := Rebalance{
		Fingerprint: opts.Fingerprint,
		BatchSlots:  opts.BatchSlots,
		Targets:     tp.targetList(tp.counts(), tgt),
		Moves:       tp.moveTo(want),
	}
	r.Batches = makeBatches(r.Moves, opts.BatchSlots)
	if err := r.Verify(masters); err != nil {
		return Rebalance{}, fmt.Errorf("plan to layout: invariant check: %w", err)
	}
	return r, nil
}
