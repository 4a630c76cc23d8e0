package migrate

import (
	"context"
	"testing"
	"time"
)

// TestListingRestsAtTheSourcesPace: listing a group's keys in several
// pipelines rests between them when the source's pace rests, and not at
// full duty.
func TestListingRestsAtTheSourcesPace(t *testing.T) {
	t.Parallel()
	tc := startWithEmptyMaster(t, 2, 0)
	tc.Load(t, 2000, 16)
	src := tc.Addrs()[0]
	for _, c := range []struct {
		name   string
		gentle bool // start resting 1000×: every rest passes minRest
		rests  int
	}{
		{"resting", true, 15},
		{"full duty", false, 0},
	} {
		src0 := &fakeLatency{}
		src0.set(100*time.Microsecond, time.Now(), true)
		p := NewPacer(src0, PacerOptions{BudgetP99: time.Millisecond, Window: time.Hour, Gentle: c.gentle, MaxRest: 1000, GentleRest: 1000, MaxPause: time.Second})
		var slept []time.Duration
		p.sleep = func(_ context.Context, d time.Duration) { slept = append(slept, d) }
		if pc := p.Current(src); (pc.Rest > 0) != c.gentle {
			t.Fatalf("%s: pace %+v", c.name, pc)
		}
		l := NewLegacy(tc.pool, tc.Addrs(), LegacyOptions{Pacer: p, ListsPerPipeline: 1})
		keys, err := l.list(context.Background(), src, span(0, 16))
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			t.Fatalf("%s: no keys listed in slots 0-15", c.name)
		}
		if len(slept) != c.rests {
			t.Errorf("%s: %d rests between 16 listing pipelines (%v), want %d", c.name, len(slept), slept, c.rests)
		}
	}
}
