package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/metrics/metricstest"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox"
)

// wantMetric fails the test unless text has series with value want.
func wantMetric(t *testing.T, where, text, series string, want float64) {
	t.Helper()
	got, ok := metricstest.Value(text, series)
	if !ok || got != want {
		t.Errorf("%s: %s = %v (present %v), want %v\n%s", where, series, got, ok, want, text)
	}
}

// TestRebalanceMetrics runs the real binary twice on a sandbox cluster.
// First one batch, with the metrics file from the environment and a
// Pushgateway nobody listens on: the run passes, with a warning, and the
// file holds the report's numbers. Then the rest, with --metrics-file and
// a real Pushgateway: the file and the gateway both end with the report's
// slots and keys, and the run marked done.
func TestRebalanceMetrics(t *testing.T) {
	t.Parallel()
	gw := metricstest.StartPushgateway(t)
	f := newCrashFixture(t, 3000)
	inv := f.inventory(t, nil, crashGreen+"rebalance: {batch_slots: 200}\n")
	file := filepath.Join(f.dir, "textfile", "slotshift.prom")
	port, err := sandbox.FreePort()
	if err != nil {
		t.Fatal(err)
	}

	dir := f.reportDir("metrics-1")
	env := append([]string{"SLOTSHIFT_METRICS_FILE=" + file}, f.env...)
	st, out := runChild(t, env, "rebalance", "--max-batches", "1", "--inventory", inv, "--report-dir", dir,
		"--pushgateway", "http://127.0.0.1:"+strconv.Itoa(port))
	if st.ExitCode() != 0 {
		t.Fatalf("rebalance --max-batches 1 with a dead Pushgateway: exit %d\n%s", st.ExitCode(), out)
	}
	r := readReport(t, dir, "rebalance")
	if ws := checkIDs(r, "rebalance.metrics"); len(ws) != 1 || ws[0].Status != report.Warn || !strings.Contains(ws[0].Message, "push") {
		t.Errorf("want one warning about the failed push, got %+v", ws)
	}
	text := readFile(t, file)
	cl := `{cluster="crash"}`
	sec := r.Rebalance
	wantMetric(t, "first run's file", text, "slotshift_rebalance_slots_moved_total"+cl, float64(sec.SlotsMoved))
	wantMetric(t, "first run's file", text, "slotshift_rebalance_keys_moved_total"+cl, float64(sec.KeysMoved))
	wantMetric(t, "first run's file", text, "slotshift_rebalance_batches_remaining"+cl, float64(sec.BatchesRemaining))
	wantMetric(t, "first run's file", text, "slotshift_rebalance_done"+cl, 0)
	wantMetric(t, "first run's file", text, "slotshift_rebalance_batch_duration_seconds_count"+cl, 1)
	if sec.SlotsMoved == 0 || sec.BatchesRemaining == 0 {
		t.Fatalf("first run moved %d slots and left %d batches: the test needs a partial run", sec.SlotsMoved, sec.BatchesRemaining)
	}

	dir = f.reportDir("metrics-2")
	st, out = runChild(t, f.env, "rebalance", "--inventory", inv, "--report-dir", dir, "--metrics-file", file, "--pushgateway", gw)
	if st.ExitCode() != 0 {
		t.Fatalf("rebalance: exit %d\n%s", st.ExitCode(), out)
	}
	r = readReport(t, dir, "rebalance")
	sec = r.Rebalance
	if ws := checkIDs(r, "rebalance.metrics"); len(ws) != 0 {
		t.Errorf("metrics warning with a working gateway: %+v", ws)
	}
	if !sec.Done || sec.SlotsMoved == 0 || sec.KeysMoved == 0 {
		t.Fatalf("second run: %+v", sec)
	}
	// What node_exporter would read passes Prometheus' own linter.
	lint := exec.Command(metricstest.NeedBin(t, "promtool", "prometheus"), "check", "metrics")
	lint.Stdin = strings.NewReader(readFile(t, file))
	if out, err := lint.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics on the run's file: %v\n%s", err, out)
	}
	pushed := metricstest.Scrape(t, gw+"/metrics")
	for where, series := range map[string]func(string) string{
		"file":        func(n string) string { return n + cl },
		"pushgateway": func(n string) string { return n + `{cluster="crash",instance="",job="slotshift"}` },
	} {
		text := readFile(t, file)
		if where == "pushgateway" {
			text = pushed
		}
		wantMetric(t, where, text, series("slotshift_rebalance_slots_moved_total"), float64(sec.SlotsMoved))
		wantMetric(t, where, text, series("slotshift_rebalance_keys_moved_total"), float64(sec.KeysMoved))
		wantMetric(t, where, text, series("slotshift_rebalance_bytes_moved_total"), float64(sec.BytesMoved))
		wantMetric(t, where, text, series("slotshift_rebalance_slots_planned"), float64(sec.Plan.SlotsToMove))
		wantMetric(t, where, text, series("slotshift_rebalance_batches"), float64(sec.Plan.Batches))
		wantMetric(t, where, text, series("slotshift_rebalance_batch_duration_seconds_count"), float64(len(sec.Batches)))
		wantMetric(t, where, text, series("slotshift_rebalance_done"), 1)
		wantMetric(t, where, text, series("slotshift_rebalance_batches_remaining"), 0)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRebalanceBadPushgatewayURLIsUsage: a URL that cannot be pushed to
// is a usage error (exit 2) before anything is touched.
func TestRebalanceBadPushgatewayURLIsUsage(t *testing.T) {
	t.Parallel()
	res := runBin(t, t.TempDir(), []string{"SLOTSHIFT_PUSHGATEWAY=gateway:9091"}, "rebalance", "--inventory", testdataPath(t, "inventories", "prod-3x2.yaml"))
	if res.code != 2 || !strings.Contains(res.stderr, "--pushgateway") {
		t.Errorf("exit %d, want 2 naming --pushgateway\n%s", res.code, res.stderr)
	}
}
