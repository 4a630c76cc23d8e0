package stage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/metrics/metricstest"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// TestRebalanceMetricsWhileHeld: gates that hold on every reading keep
// the run out of its first batch until the hold timeout; the metrics file
// then says so (gate state hold, the p99 gate red and counted as a hold)
// and that nothing moved.
func TestRebalanceMetricsWhileHeld(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 6, sandboxtest.Options{NodeTimeoutMS: 1000})
	c.Form(t, 3)
	c.AddNodes(t, 1)
	p := ports(c)
	inv := crossYAML(p[:6], sandboxtest.Server("server4", "", p[6], 0, "")+sandboxtest.Gates("0.001", "3s"))
	rbJoin(t, c, inv)
	file := filepath.Join(t.TempDir(), "slotshift.prom")
	res := rbRebalance(t, c, inv, RebalanceInput{MetricsFile: file}, "rebalance held with metrics")
	want(t, res.Checks, IDGates, "", report.Hold)
	if ms := find(res.Checks, IDMetrics, ""); len(ms) != 0 {
		t.Errorf("metrics warning: %+v", ms)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	cl := `cluster="test"`
	for series, v := range map[string]float64{
		"slotshift_rebalance_gate_state{" + cl + `,state="hold"}`:    1,
		"slotshift_rebalance_gate_state{" + cl + `,state="proceed"}`: 0,
		"slotshift_rebalance_slots_moved_total{" + cl + "}":          0,
		"slotshift_rebalance_done{" + cl + "}":                       0,
	} {
		if got, ok := metricstest.Value(text, series); !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v\n%s", series, got, ok, v, text)
		}
	}
	if got, ok := metricstest.Value(text, "slotshift_rebalance_gate_holds_total{"+cl+`,gate="latency_p99_ms"}`); !ok || got < 1 {
		t.Errorf("latency_p99_ms holds %v (present %v), want at least 1\n%s", got, ok, text)
	}
	if !strings.Contains(text, `slotshift_rebalance_gate_red{`+cl+`,gate="latency_p99_ms",node="`+c.Nodes[0].Addr+`"} 1`) {
		t.Errorf("p99 gate not red on %s:\n%s", c.Nodes[0].Addr, text)
	}
}
