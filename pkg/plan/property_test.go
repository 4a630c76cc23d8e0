package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// randomTopology builds 1..1000 masters with skewed, often fragmented slot
// ownership (some masters empty) and random weights, some zero.
func randomTopology(rng *rand.Rand) []Master {
	var n int
	switch rng.IntN(3) {
	case 0:
		n = 1 + rng.IntN(8)
	case 1:
		n = 1 + rng.IntN(100)
	default:
		n = 1 + rng.IntN(1000)
	}
	ms := make([]Master, n)
	seen := map[string]bool{}
	for i := range ms {
		for {
			ms[i].ID = fmt.Sprintf("%016x%016x%08x", rng.Uint64(), rng.Uint64(), rng.Uint32())
			if !seen[ms[i].ID] {
				seen[ms[i].ID] = true
				break
			}
		}
		ms[i].Addr = addr(i)
		weights := []float64{0, 0.5, 1, 1, 1, 1, 2, 3.7}
		ms[i].Weight = weights[rng.IntN(len(weights))]
	}
	ms[rng.IntN(n)].Weight = 1 // someone must keep the slots
	if rng.IntN(3) == 0 {
		// A created cluster plus new empty masters.
		k := 1 + rng.IntN(n)
		rs, _ := Create(make([]string, k))
		for i, r := range rs {
			ms[i].Slots.AddRange(r)
		}
		return ms
	}
	segments := 1 + rng.IntN(3000)
	cuts := map[int]bool{}
	for range segments - 1 {
		cuts[1+rng.IntN(cluster.NumSlots-1)] = true
	}
	skew := 1 + 3*rng.Float64()
	owner := 0
	for s := range cluster.NumSlots {
		if s == 0 || cuts[s] {
			owner = int(float64(n) * math.Pow(rng.Float64(), skew))
		}
		ms[owner].Slots.Add(s)
	}
	return ms
}

func planJSON(t *testing.T, ms []Master, opts Options) []byte {
	t.Helper()
	p, err := PlanRebalance(ms, opts)
	if err != nil {
		t.Fatalf("%d masters: %v", len(ms), err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPlanRebalanceProperties(t *testing.T) {
	iterations := 200
	if testing.Short() || raceEnabled {
		iterations = 40
	}
	rng := rand.New(rand.NewPCG(2026, 7))
	for it := range iterations {
		ms := randomTopology(rng)
		opts := Options{
			BatchSlots:       []int{0, 1, 7, 100, 500}[rng.IntN(5)],
			ThresholdPercent: []float64{-1, 0, 2, 10}[rng.IntN(4)],
			Fingerprint:      fmt.Sprintf("fp%d", it),
		}
		p, err := PlanRebalance(ms, opts)
		if err != nil {
			t.Fatalf("iteration %d (%d masters): %v", it, len(ms), err)
		}
		norm, _ := opts.withDefaults()
		checkPlan(t, ms, p, norm.BatchSlots)
		if p.Fingerprint != opts.Fingerprint {
			t.Fatalf("fingerprint %q", p.Fingerprint)
		}
		if opts.ThresholdPercent < 0 && p.WithinThreshold {
			for _, tg := range p.Targets {
				if tg.Current != tg.Target {
					t.Fatalf("iteration %d: no threshold, yet %s is off target", it, tg.Addr)
				}
			}
		}
		// Determinism: same input, and the same input in another order.
		a, _ := json.Marshal(p)
		if b := planJSON(t, ms, opts); !bytes.Equal(a, b) {
			t.Fatalf("iteration %d: two plans of the same input differ", it)
		}
		shuffled := append([]Master(nil), ms...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if b := planJSON(t, shuffled, opts); !bytes.Equal(a, b) {
			t.Fatalf("iteration %d: input order changed the plan", it)
		}
		// Rolling back to the saved layout restores it exactly.
		if it%10 == 0 && len(p.Moves) > 0 {
			after, err := Apply(ms, p.Moves)
			if err != nil {
				t.Fatal(err)
			}
			back, err := PlanToLayout(after, FromMasters(ms, "c", ""), opts)
			if err != nil {
				t.Fatalf("iteration %d rollback: %v", it, err)
			}
			if back.Slots() != p.Slots() {
				t.Fatalf("iteration %d: rollback moves %d, forward %d", it, back.Slots(), p.Slots())
			}
		}
	}
}
