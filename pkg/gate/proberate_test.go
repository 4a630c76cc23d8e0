package gate

import (
	"fmt"
	"testing"
	"time"
)

func TestProbeInterval(t *testing.T) {
	tests := []struct {
		masters int
		floor   time.Duration
		want    time.Duration
	}{
		{0, 10 * time.Millisecond, 10 * time.Millisecond},
		{3, 10 * time.Millisecond, 10 * time.Millisecond},
		{20, 10 * time.Millisecond, 10 * time.Millisecond}, // 2,000/s exactly
		{21, 10 * time.Millisecond, 10500 * time.Microsecond},
		{53, 10 * time.Millisecond, 26500 * time.Microsecond},
		{100, 10 * time.Millisecond, 50 * time.Millisecond},
		{500, 10 * time.Millisecond, 250 * time.Millisecond},
		{100, 100 * time.Millisecond, 100 * time.Millisecond}, // a slower floor wins
	}
	for _, tc := range tests {
		got := ProbeInterval(tc.masters, tc.floor)
		if got != tc.want {
			t.Errorf("ProbeInterval(%d, %v) = %v, want %v", tc.masters, tc.floor, got, tc.want)
		}
		if tc.masters > 0 {
			if rate := float64(tc.masters) / got.Seconds(); rate > MaxProbesPerSecond+1e-6 {
				t.Errorf("%d masters at %v: %.0f probes/s, over %d", tc.masters, got, rate, MaxProbesPerSecond)
			}
		}
	}
}

func TestMonitorProbeRate(t *testing.T) {
	masters := make([]string, 100)
	for i := range masters {
		masters[i] = fmt.Sprintf("10.0.0.1:%d", 7000+i)
	}
	m := NewMonitor(nil, masters, nil, MonitorOptions{})
	if got := m.LatencyInterval(); got != 50*time.Millisecond {
		t.Errorf("LatencyInterval = %v, want 50ms", got)
	}
	if got := m.ProbeRate(); got != 20 {
		t.Errorf("ProbeRate = %v per master, want 20", got)
	}

	// With a replica each: 100 lag probes a second over 100 replicas, and
	// 10 CLUSTER NODES views a second over 200 nodes.
	replicas := map[string]string{}
	for i, a := range masters {
		replicas[fmt.Sprintf("10.0.0.2:%d", 7000+i)] = a
	}
	m = NewMonitor(nil, masters, replicas, MonitorOptions{})
	if got := m.LagInterval(); got != time.Second {
		t.Errorf("LagInterval = %v with 100 replicas, want 1s", got)
	}
	if got := m.viewEvery(); got != 20 {
		t.Errorf("viewEvery = %d with 200 nodes, want 20 (a view per node every 20s)", got)
	}
	// A small cluster keeps the floors: every replica 10 times a second,
	// every node's view on every INFO probe.
	small := NewMonitor(nil, masters[:3], map[string]string{"10.0.0.2:1": masters[0]}, MonitorOptions{})
	if got, every := small.LagInterval(), small.viewEvery(); got != 100*time.Millisecond || every != 1 {
		t.Errorf("3 masters: LagInterval %v, viewEvery %d; want 100ms and 1", got, every)
	}
}

// TestTakesView: each node reads CLUSTER NODES on its first probe, then
// once per every probes, and the nodes take turns, so no probe round
// has more than its share of views.
func TestTakesView(t *testing.T) {
	const nodes, every = 200, 20
	perNode := make([]int, nodes)
	for call := 0; call < 3*every; call++ {
		views := 0
		for i := range nodes {
			if takesView(i, call, every) {
				views++
				perNode[i]++
			}
		}
		switch {
		case call == 0 && views != nodes:
			t.Errorf("first round: %d views, want every node's %d", views, nodes)
		case call > 0 && views > (nodes+every-1)/every:
			t.Errorf("round %d: %d views, over %d", call, views, (nodes+every-1)/every)
		}
	}
	for i, n := range perNode {
		if n < 3 || n > 4 { // the first, and one in each of the 3 spans of every rounds
			t.Errorf("node %d: %d views in %d rounds, want 3 or 4", i, n, 3*every)
		}
	}
	for call := range 5 {
		if !takesView(7, call, 1) {
			t.Errorf("every 1: node 7 skipped its view in round %d", call)
		}
	}
}

// The window forgets a sub-histogram per rotation and merges without
// keeping stale counts.
func TestWindow(t *testing.T) {
	w := newWindow(3)
	w.record(1000)
	w.rotate()
	w.record(2000)
	if h := w.merge(); h.TotalCount() != 2 || h.Max() < 1990 {
		t.Fatalf("merged %d samples, max %d; want 2, ~2000", h.TotalCount(), h.Max())
	}
	w.rotate()
	w.rotate() // the 1000µs bucket is reused and reset
	if h := w.merge(); h.TotalCount() != 1 || h.Min() < 1990 {
		t.Fatalf("after rotating out: %d samples, min %d; want 1, ~2000", h.TotalCount(), h.Min())
	}
	w.rotate()
	if h := w.merge(); h.TotalCount() != 0 {
		t.Fatalf("after a full rotation: %d samples", h.TotalCount())
	}
	// 2 significant figures: p99 within 1%.
	if got := newProbeHistogram(); got.ByteSize() > 32<<10 {
		t.Errorf("probe histogram is %d bytes, want under 32 KiB", got.ByteSize())
	}
}

// The kept sum gives the mean hdrhistogram's Mean would (to its bucket
// precision), through records, merges, rotations and resets.
func TestLatHistSummary(t *testing.T) {
	w := newWindow(2)
	for _, us := range []int64{100, 300, 2000} {
		w.record(us)
	}
	w.rotate()
	w.record(600)
	h := w.merge()
	l := h.summary()
	if l.Samples != 4 || l.AvgMS != 0.75 {
		t.Errorf("summary = %+v, want 4 samples averaging 0.75ms", l)
	}
	if hm := h.Mean() / 1000; hm < 0.74 || hm > 0.76 {
		t.Errorf("hdrhistogram's own mean %.4fms disagrees with 0.75ms", hm)
	}
	if l.P99MS < 1.98 || l.P99MS > 2.02 {
		t.Errorf("p99 %.3fms, want ~2ms", l.P99MS)
	}
	w.rotate() // drops the first three
	if l := w.merge().summary(); l.Samples != 1 || l.AvgMS != 0.6 {
		t.Errorf("after a rotation: %+v, want 1 sample of 0.6ms", l)
	}
	if l := newProbeHistogram().summary(); l != (Latency{}) {
		t.Errorf("empty summary = %+v", l)
	}
}
