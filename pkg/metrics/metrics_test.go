package metrics_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/metrics"
	"github.com/slotshift/slotshift/pkg/metrics/metricstest"
	"github.com/slotshift/slotshift/pkg/migrate"
)

var fixedNow = func() time.Time { return time.Unix(1700000000, 500e6) }

func hold(gateName, node string) gate.Decision {
	return gate.Decision{Verdict: gate.Hold, Reasons: []string{gateName + " on " + node},
		Readings: []gate.Reading{
			{Gate: gateName, Node: node, Value: 30, Hold: 20, Abort: 200, Decision: "hold"},
			{Gate: gate.GateCPU, Node: node, Value: 10, Hold: 80, Decision: "proceed"},
		}}
}

var green = gate.Decision{Verdict: gate.Proceed, Readings: []gate.Reading{
	{Gate: gate.GateLatencyP99, Node: "10.0.0.1:7000", Value: 1, Hold: 20, Abort: 200, Decision: "proceed"},
	{Gate: gate.GateCPU, Node: "10.0.0.1:7000", Value: 10, Hold: 80, Decision: "proceed"},
}}

// sampleRun feeds a collector a run with two holds of the latency gate
// and one finished result.
func sampleRun() *metrics.Rebalance {
	r := metrics.NewRebalance(`prod "eu"\1`, fixedNow)
	p := migrate.Progress{Batch: 1, Batches: 3, Slots: 50, SlotsTotal: 300, Keys: 1200, KeysPerSec: 600, ETA: 10 * time.Second, Elapsed: 2 * time.Second}
	r.Progress(p, green)
	r.Progress(p, hold(gate.GateLatencyP99, "10.0.0.1:7000"))
	r.Progress(p, hold(gate.GateLatencyP99, "10.0.0.1:7000")) // the same hold
	r.Progress(p, green)
	p.Batch, p.Slots = 2, 150
	r.Progress(p, hold(gate.GateLatencyP99, "10.0.0.1:7000"))
	r.Finish(migrate.Result{
		Stats:            migrate.Stats{Slots: 300, Keys: 4000, Bytes: 90000},
		Batches:          []migrate.BatchResult{{Number: 1, Duration: 700 * time.Millisecond}, {Number: 2, Duration: 3 * time.Second}, {Number: 3, Duration: 1500 * time.Second}},
		Done:             true,
		Duration:         8 * time.Second,
		BatchesRemaining: 0,
	})
	return r
}

func newCollector(cluster string) *metrics.Rebalance { return metrics.NewRebalance(cluster, fixedNow) }

func encode(t *testing.T, r *metrics.Rebalance) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestPromtoolAcceptsOutput runs the real promtool's linter on what the
// collector writes, before any progress, mid-run and at the end.
func TestPromtoolAcceptsOutput(t *testing.T) {
	bin := metricstest.NeedBin(t, "promtool", "prometheus")
	mid := metrics.NewRebalance("c1", nil)
	mid.Progress(migrate.Progress{Batch: 1, Batches: 2, ETA: -1, Pace: &migrate.PaceStatus{Level: 0.42, Keys: 100, BudgetUsed: 0.63}},
		hold(gate.GateReplLag, "127.0.0.1:7001"))
	for name, r := range map[string]*metrics.Rebalance{"empty": metrics.NewRebalance("c1", nil), "mid-run": mid, "finished": sampleRun()} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "check", "metrics")
			cmd.Stdin = strings.NewReader(encode(t, r))
			out, err := cmd.CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Fatalf("promtool check metrics: %v\n%s\ninput:\n%s", err, out, encode(t, r))
			}
		})
	}
	// The linter must be able to fail: a counter without _total is a lint.
	bad := "# HELP x_moved Moved.\n# TYPE x_moved counter\nx_moved 1\n"
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = strings.NewReader(bad)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("promtool accepted a counter without _total:\n%s", out)
	}
}

// TestRebalanceValues checks the numbers: the result wins over the last
// snapshot, holds are counted per episode and gate, and the histogram is
// cumulative.
func TestRebalanceValues(t *testing.T) {
	out := encode(t, sampleRun())
	cl := `cluster="prod \"eu\"\\1"`
	for _, want := range []string{
		"slotshift_rebalance_batch{" + cl + "} 2\n",
		"slotshift_rebalance_batches{" + cl + "} 3\n",
		"slotshift_rebalance_slots_planned{" + cl + "} 300\n",
		"slotshift_rebalance_slots_moved_total{" + cl + "} 300\n",
		"slotshift_rebalance_keys_moved_total{" + cl + "} 4000\n",
		"slotshift_rebalance_keys_per_second{" + cl + "} 500\n",
		"slotshift_rebalance_elapsed_seconds{" + cl + "} 8\n",
		"slotshift_rebalance_eta_seconds{" + cl + "} 0\n",
		"slotshift_rebalance_gate_state{" + cl + `,state="proceed"} 0` + "\n",
		"slotshift_rebalance_gate_state{" + cl + `,state="hold"} 1` + "\n",
		"slotshift_rebalance_gate_state{" + cl + `,state="abort"} 0` + "\n",
		"slotshift_rebalance_gate_red{" + cl + `,gate="cpu_percent",node="10.0.0.1:7000"} 0` + "\n",
		"slotshift_rebalance_gate_red{" + cl + `,gate="latency_p99_ms",node="10.0.0.1:7000"} 1` + "\n",
		"slotshift_rebalance_gate_holds_total{" + cl + `,gate="latency_p99_ms"} 2` + "\n",
		"slotshift_rebalance_batch_duration_seconds_bucket{" + cl + `,le="0.5"} 0` + "\n",
		"slotshift_rebalance_batch_duration_seconds_bucket{" + cl + `,le="1"} 1` + "\n",
		"slotshift_rebalance_batch_duration_seconds_bucket{" + cl + `,le="5"} 2` + "\n",
		"slotshift_rebalance_batch_duration_seconds_bucket{" + cl + `,le="600"} 2` + "\n",
		"slotshift_rebalance_batch_duration_seconds_bucket{" + cl + `,le="+Inf"} 3` + "\n",
		"slotshift_rebalance_batch_duration_seconds_sum{" + cl + "} 1503.7\n",
		"slotshift_rebalance_batch_duration_seconds_count{" + cl + "} 3\n",
		"slotshift_rebalance_done{" + cl + "} 1\n",
		"slotshift_rebalance_batches_remaining{" + cl + "} 0\n",
		"slotshift_rebalance_bytes_moved_total{" + cl + "} 90000\n",
		"slotshift_rebalance_last_update_timestamp_seconds{" + cl + "} 1.7000000005e+09\n",
		"# TYPE slotshift_rebalance_batch_duration_seconds histogram\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, `holds_total{`+cl+`,gate="cpu_percent"}`) {
		t.Errorf("a gate that never held has a hold count:\n%s", out)
	}
}

// TestUnknownValuesLeftOut: before the first tick there is no ETA, no gate
// reading and no final result, and the output says nothing about them.
func TestUnknownValuesLeftOut(t *testing.T) {
	out := encode(t, metrics.NewRebalance("c1", fixedNow))
	for _, absent := range []string{"eta_seconds", "pace_", "gate_red", "gate_holds_total", "batches_remaining", "bytes_moved_total"} {
		if strings.Contains(out, absent) {
			t.Errorf("%s written before it is known:\n%s", absent, out)
		}
	}
	if !strings.Contains(out, `slotshift_rebalance_done{cluster="c1"} 0`) {
		t.Errorf("want done 0 before the end:\n%s", out)
	}
}

// TestPaceWhenKnown: the controller's pace shows while a source sends.
func TestPaceWhenKnown(t *testing.T) {
	r := newCollector("c1")
	r.Progress(migrate.Progress{ETA: -1, Pace: &migrate.PaceStatus{Level: 0.42, Keys: 100, BudgetUsed: 0.63}}, green)
	out := encode(t, r)
	for _, want := range []string{
		`slotshift_rebalance_pace_ratio{cluster="c1"} 0.42` + "\n",
		`slotshift_rebalance_pace_keys_per_migrate{cluster="c1"} 100` + "\n",
		`slotshift_rebalance_pace_budget_used_ratio{cluster="c1"} 0.63` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestEncodeRefusesInvalidNames(t *testing.T) {
	for name, f := range map[string]metrics.Family{
		"metric name": {Name: "1bad", Type: metrics.Gauge, Samples: []metrics.Sample{{Value: 1}}},
		"label name":  {Name: "ok", Type: metrics.Gauge, Samples: []metrics.Sample{{Labels: []metrics.Label{{Name: "a-b", Value: "x"}}, Value: 1}}},
		"reserved":    {Name: "ok", Type: metrics.Gauge, Samples: []metrics.Sample{{Labels: []metrics.Label{{Name: "__x", Value: "x"}}, Value: 1}}},
		"no samples":  {Name: "ok", Type: metrics.Gauge},
	} {
		if err := metrics.Encode(&bytes.Buffer{}, []metrics.Family{f}); err == nil {
			t.Errorf("%s: Encode accepted %+v", name, f)
		}
	}
}

func TestWriteFileReplacesAtomically(t *testing.T) {
	path := filepath.Join(t.TempDir(), "textfile", "slotshift.prom")
	r := metrics.NewRebalance("c1", fixedNow)
	if err := r.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	r.Progress(migrate.Progress{Batch: 1, Batches: 1, Slots: 7, ETA: -1}, green)
	if err := r.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `slotshift_rebalance_slots_moved_total{cluster="c1"} 7`+"\n") {
		t.Errorf("file holds an old state:\n%s", b)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644 (the collector runs as another user)", st.Mode().Perm())
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("want only the metrics file in the directory, got %d entries", len(ents))
	}
}

func TestPushURL(t *testing.T) {
	for _, c := range []struct{ base, cluster, want string }{
		{"http://127.0.0.1:9091", "prod", "http://127.0.0.1:9091/metrics/job/slotshift/cluster/prod"},
		{"http://gw:9091/", "a b", "http://gw:9091/metrics/job/slotshift/cluster/a%20b"},
		{"https://gw/prefix", "eu/1", "https://gw/prefix/metrics/job/slotshift/cluster@base64/ZXUvMQ"},
		{"http://gw", "", "http://gw/metrics/job/slotshift/cluster@base64/="},
	} {
		got, err := metrics.PushURL(c.base, c.cluster)
		if err != nil || got != c.want {
			t.Errorf("PushURL(%q, %q) = %q, %v; want %q", c.base, c.cluster, got, err, c.want)
		}
	}
	for _, bad := range []string{"gw:9091", "ftp://gw", "http://"} {
		if _, err := metrics.PushURL(bad, "c"); err == nil {
			t.Errorf("PushURL(%q) accepted", bad)
		}
	}
}
