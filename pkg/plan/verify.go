package plan

import (
	"fmt"
	"slices"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// String names a move for messages: "5461-6826 10.0.0.1:7000→10.0.0.4:7000".
func (m Move) String() string {
	from, to := orID(m.FromAddr, m.From), orID(m.ToAddr, m.To)
	return fmt.Sprintf("%v %s→%s", m.Range, from, to)
}

// orID returns the address a, or the node id b when the address is unknown.
func orID(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func validRange(r cluster.Range) bool {
	return r.Start >= 0 && r.End < cluster.NumSlots && r.Start <= r.End
}

// Apply returns the masters as they would be after moves, applied in order.
// It does no I/O and does not change its input. A move naming an unknown node
// id, or a slot its source does not own at that point, is an error.
func Apply(masters []Master, moves []Move) ([]Master, error) {
	out := slices.Clone(masters)
	idx := make(map[string]int, len(out))
	for i, m := range out {
		if _, dup := idx[m.ID]; dup {
			return nil, fmt.Errorf("apply: node id %s is used twice", m.ID)
		}
		idx[m.ID] = i
	}
	for _, m := range moves {
		f, ok := idx[m.From]
		if !ok {
			return nil, fmt.Errorf("apply move %v: unknown source node %s", m, m.From)
		}
		t, ok := idx[m.To]
		if !ok {
			return nil, fmt.Errorf("apply move %v: unknown target node %s", m, m.To)
		}
		if !validRange(m.Range) {
			return nil, fmt.Errorf("apply move %v: invalid slot range", m)
		}
		for s := m.Range.Start; s <= m.Range.End; s++ {
			if !out[f].Slots.Has(s) {
				return nil, fmt.Errorf("apply move %v: slot %d is not owned by %s", m, s, orID(out[f].Addr, m.From))
			}
			out[f].Slots.Remove(s)
			out[t].Slots.Add(s)
		}
	}
	return out, nil
}

// Verify checks the plan's invariants against the masters it was computed
// from: the input gives every slot exactly one owner; every move takes slots
// its source owns in the input, and no slot moves twice; after the moves every
// slot still has exactly one owner and every master holds its target (unless
// the plan is WithinThreshold, which moves nothing); the batches are numbered
// from 1, hold at most BatchSlots slots each and move exactly the plan's slots.
func (r Rebalance) Verify(masters []Master) error {
	tp, err := newTopology(masters)
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	idx := make(map[string]int32, len(tp.ms))
	for i, m := range tp.ms {
		idx[m.ID] = int32(i)
	}
	// pair[s] is 1 + the index of the move that takes slot s, 0 if none.
	var pair [cluster.NumSlots]int32
	for i, m := range r.Moves {
		if !validRange(m.Range) {
			return fmt.Errorf("move %v: invalid slot range", m)
		}
		if m.From == m.To {
			return fmt.Errorf("move %v: source and target are the same node", m)
		}
		if _, ok := idx[m.To]; !ok {
			return fmt.Errorf("move %v: unknown target node %s", m, m.To)
		}
		for s := m.Range.Start; s <= m.Range.End; s++ {
			if pair[s] != 0 {
				return fmt.Errorf("move %v: slot %d already moves in %v", m, s, r.Moves[pair[s]-1])
			}
			if owner := tp.ms[tp.owner[s]]; owner.ID != m.From {
				return fmt.Errorf("move %v: slot %d is owned by %s, not the source", m, s, orID(owner.Addr, owner.ID))
			}
			pair[s] = int32(i) + 1
		}
	}
	final, err := Apply(masters, r.Moves)
	if err != nil {
		return err
	}
	after, err := newTopology(final)
	if err != nil {
		return fmt.Errorf("after the moves: %w", err)
	}
	if len(r.Targets) != len(tp.ms) {
		return fmt.Errorf("%d targets for %d masters", len(r.Targets), len(tp.ms))
	}
	counts := after.counts()
	sum := 0
	for _, t := range r.Targets {
		i, ok := idx[t.ID]
		if !ok {
			return fmt.Errorf("target for unknown node %s", t.ID)
		}
		sum += t.Target
		if !r.WithinThreshold && counts[i] != t.Target {
			return fmt.Errorf("master %s ends with %d slots, target %d", orID(t.Addr, t.ID), counts[i], t.Target)
		}
	}
	if sum != cluster.NumSlots {
		return fmt.Errorf("targets sum to %d, want %d", sum, cluster.NumSlots)
	}
	if r.WithinThreshold && len(r.Moves) > 0 {
		return fmt.Errorf("plan is within threshold but has %d moves", len(r.Moves))
	}
	return r.verifyBatches(&pair)
}

func (r Rebalance) verifyBatches(pair *[cluster.NumSlots]int32) error {
	var seen cluster.SlotSet
	for i, b := range r.Batches {
		if b.Number != i+1 {
			return fmt.Errorf("batch %d is numbered %d", i+1, b.Number)
		}
		if len(b.Moves) == 0 {
			return fmt.Errorf("batch %d is empty", b.Number)
		}
		if r.BatchSlots > 0 && b.Slots() > r.BatchSlots {
			return fmt.Errorf("batch %d moves %d slots, more than %d", b.Number, b.Slots(), r.BatchSlots)
		}
		for _, m := range b.Moves {
			if !validRange(m.Range) {
				return fmt.Errorf("batch %d move %v: invalid slot range", b.Number, m)
			}
			for s := m.Range.Start; s <= m.Range.End; s++ {
				if seen.Has(s) {
					return fmt.Errorf("batch %d move %v: slot %d is in two batches", b.Number, m, s)
				}
				seen.Add(s)
				p := pair[s]
				if p == 0 {
					return fmt.Errorf("batch %d move %v: slot %d is not in the plan's moves", b.Number, m, s)
				}
				if pm := r.Moves[p-1]; pm.From != m.From || pm.To != m.To {
					return fmt.Errorf("batch %d move %v: slot %d goes %v in the plan", b.Number, m, s, pm)
				}
			}
		}
	}
	moved := 0
	for _, m := range r.Moves {
		moved += m.Range.Len()
	}
	if seen.Len() != moved {
		return fmt.Errorf("batches move %d slots, the plan %d", seen.Len(), moved)
	}
	return nil
}
