package plan

import (
	"math/rand/v2"
	"testing"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// balanced1000 is 999 masters with redis-cli's create split plus one new
// empty master.
func balanced1000(b *testing.B) []Master { return created(b, 999, 1) }

// skewed1000 is 1000 masters owning 3000 random segments with a strong skew:
// a few masters hold most slots, many hold none.
func skewed1000() []Master {
	rng := rand.New(rand.NewPCG(1, 1000))
	ms := make([]Master, 1000)
	for i := range ms {
		ms[i] = Master{ID: id(i), Addr: addr(i), Weight: 1}
	}
	owner := 0
	for s := range cluster.NumSlots {
		if s%5 == 0 && rng.IntN(2) == 0 {
			u := rng.Float64()
			owner = int(1000 * u * u * u)
		}
		ms[owner].Slots.Add(s)
	}
	return ms
}

func BenchmarkPlan1000Masters(b *testing.B) {
	for _, bc := range []struct {
		name    string
		masters []Master
	}{
		{"balanced+1", balanced1000(b)},
		{"skewed", skewed1000()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var moved int
			for b.Loop() {
				p, err := PlanRebalance(bc.masters, Options{})
				if err != nil {
					b.Fatal(err)
				}
				moved = p.Slots()
			}
			b.ReportMetric(float64(moved), "slots/plan")
		})
	}
}
