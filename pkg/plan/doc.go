// Package plan computes cluster plans: the slot split of a new cluster
// (Create), the minimal set of slot moves that rebalances a cluster toward
// weighted targets (PlanRebalance), and the moves back to a saved layout
// (PlanToLayout). It is pure: it does no I/O, and every plan is deterministic
// for a given input and ends with an invariant check (Rebalance.Verify).
//
// # Targets
//
// Each master's target slot count is its share of the 16384 slots by weight
// (Master.Weight; 0 drains the master). Shares are rounded with the largest
// remainder method so that targets sum to 16384 exactly; equal remainders are
// broken by node id, so the result does not depend on input order.
//
// # Threshold
//
// When every master is within Options.ThresholdPercent of its target
// (|current-target| <= threshold% of target, which also means a drained master
// must hold no slot and a master with weight > 0 and a non-zero target must
// hold some), the plan has no moves and WithinThreshold is set.
//
// # Which slots move
//
// The plan is minimal: a master above its target (a giver) gives exactly
// current-target slots, a master below (a receiver) receives exactly
// target-current, no slot moves twice and no slot moves between two masters
// that are already on target. Slots are chosen to keep ranges contiguous:
//
//  1. A receiver first grows its existing ranges into a neighbouring giver's
//     slots (the giver shrinks from one end of a range, so both stay
//     contiguous), repeatedly across several neighbouring givers.
//  2. Otherwise the receiver with the largest remaining need takes a whole
//     contiguous block from the top of the highest range of the giver with
//     the largest remaining surplus (ties by node id), and then grows that
//     block into neighbouring givers as in step 1.
//
// Moves are maximal contiguous ranges per (source, target) pair, so a
// fragmented giver yields several moves.
//
// # Batches
//
// Moves are cut into batches of at most Options.BatchSlots slots. Each batch
// shares its slots evenly among every receiver still needing slots (and
// within a receiver, among its sources), so every batch spreads load over the
// cluster and the moves of one batch can run in parallel.
package plan
