package main

import (
	"fmt"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/plan"
)

// planResult is the planner benchmark for one topology.
type planResult struct {
	Scenario   string    `json:"scenario"`
	Masters    int       `json:"masters"`
	Iterations int       `json:"iterations"`
	MedianMS   float64   `json:"median_ms"`
	RunsMS     []float64 `json:"runs_ms"`
	SlotsMoved int       `json:"slots_moved"`
	Batches    int       `json:"batches"`
}

// planTopology returns total masters of which the first holders own every
// slot in contiguous, even ranges and the rest are new and empty.
func planTopology(total, holders int) []plan.Master {
	ms := make([]plan.Master, total)
	for i := range ms {
		ms[i] = plan.Master{
			ID:     fmt.Sprintf("%040x", i+1),
			Addr:   fmt.Sprintf("10.%d.%d.%d:7000", i/65536, (i/256)%256, i%256),
			Server: fmt.Sprintf("server%d", i+1),
			Weight: 1,
		}
	}
	for h := range holders {
		lo := h * cluster.NumSlots / holders
		hi := (h+1)*cluster.NumSlots/holders - 1
		ms[h].Slots = cluster.NewSlotSet(cluster.Range{Start: lo, End: hi})
	}
	return ms
}

// benchPlanner times plan.PlanRebalance in-process on a topology of total
// masters, holders of which own the slots: one untimed warm-up call, then
// iterations timed calls. Each call gets a fresh copy of the input so that
// no call can profit from another's work.
func benchPlanner(scenario string, total, holders, iterations int) (planResult, error) {
	r := planResult{Scenario: scenario, Masters: total, Iterations: iterations}
	call := func() (plan.Rebalance, time.Duration, error) {
		ms := planTopology(total, holders)
		start := time.Now()
		p, err := plan.PlanRebalance(ms, plan.Options{Fingerprint: "bench"})
		return p, time.Since(start), err
	}
	p, _, err := call()
	if err != nil {
		return r, fmt.Errorf("plan %s: %w", scenario, err)
	}
	r.SlotsMoved, r.Batches = p.Slots(), len(p.Batches)
	if r.SlotsMoved == 0 {
		return r, fmt.Errorf("plan %s: moves no slots", scenario)
	}
	for range iterations {
		_, d, err := call()
		if err != nil {
			return r, fmt.Errorf("plan %s: %w", scenario, err)
		}
		r.RunsMS = append(r.RunsMS, float64(d.Microseconds())/1000)
	}
	r.MedianMS = median(r.RunsMS)
	return r, nil
}
