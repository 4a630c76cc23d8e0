package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// progressEvent is one "progress" line of --log-format json.
type progressEvent struct {
	Level      string  `json:"level"`
	Msg        string  `json:"msg"`
	Batch      int     `json:"batch"`
	Batches    int     `json:"batches"`
	SlotsDone  int     `json:"slots_done"`
	SlotsTotal int     `json:"slots_total"`
	Keys       int64   `json:"keys"`
	KeysPerSec float64 `json:"keys_per_sec"`
	ETASeconds float64 `json:"eta_seconds"`
	Gates      string  `json:"gates"`
}

var progressKeys = []string{"batch", "batches", "slots_done", "slots_total", "keys", "keys_per_sec", "eta_seconds", "gates"}

// progressEvents parses every "progress" event out of stderr; any other
// line that looks like JSON must parse too.
func progressEvents(t *testing.T, stderr string) []progressEvent {
	t.Helper()
	var out []progressEvent
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // the human summary printed after the run
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Errorf("stderr line is not JSON: %v\n%s", err, line)
			continue
		}
		if fields["msg"] != "progress" {
			continue
		}
		for _, k := range progressKeys {
			if _, ok := fields[k]; !ok {
				t.Errorf("progress event without %q: %s", k, line)
			}
		}
		var ev progressEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Errorf("progress event %s: %v", line, err)
			continue
		}
		out = append(out, ev)
	}
	return out
}

// TestRebalanceProgressEventsJSON runs the real binary with --log-format
// json: the status line becomes JSON "progress" events on stderr, from the
// same snapshots, and the last one accounts for exactly what the report
// says moved.
func TestRebalanceProgressEventsJSON(t *testing.T) {
	t.Parallel()
	f := newCrashFixture(t, 5000)
	inv := f.inventory(t, nil, crashGreen+"rebalance: {batch_slots: 100}\n")
	dir := f.reportDir("json-progress")
	st, out := runChild(t, f.env, "rebalance", "--log-format", "json", "--inventory", inv, "--report-dir", dir)
	if st.ExitCode() != 0 {
		t.Fatalf("rebalance --log-format json: exit %d\n%s", st.ExitCode(), out)
	}
	if strings.Contains(out, " keys/s · ETA ") {
		t.Errorf("the human status line was printed with --log-format json:\n%s", out)
	}
	r := readReport(t, dir, "rebalance")
	sec := r.Rebalance
	if sec == nil || !sec.Done || sec.SlotsMoved == 0 || sec.SlotsMoved != sec.Plan.SlotsToMove {
		t.Fatalf("report: %+v", sec)
	}
	// The gates have latency hold thresholds: the sources were paced. A
	// run shorter than the pacer's window (0.4s once a group's slots were
	// announced once, not per slot) decides nothing after the start.
	if sec.Pace == nil || sec.Pace.Sources == 0 || (sec.Pace.Decisions > 0 && sec.Pace.MinLevel <= 0) || len(sec.Batches[0].Pace) == 0 || sec.Batches[0].Pace[0].Level <= 0 {
		t.Errorf("no pace in the report: summary %+v, first batch %+v", sec.Pace, sec.Batches[0].Pace)
	}
	events := progressEvents(t, out)
	if len(events) == 0 {
		t.Fatalf("no progress event on stderr:\n%s", out)
	}
	t.Logf("%d progress event(s); last %+v", len(events), events[len(events)-1])
	var prev progressEvent
	for i, ev := range events {
		if ev.Level != "INFO" || ev.SlotsTotal != sec.Plan.SlotsToMove || ev.Batches != sec.Plan.Batches ||
			ev.SlotsDone < prev.SlotsDone || ev.SlotsDone > ev.SlotsTotal || ev.Keys < prev.Keys ||
			ev.Batch < prev.Batch || ev.Batch > ev.Batches || ev.KeysPerSec < 0 || ev.ETASeconds < -1 {
			t.Errorf("event %d %+v inconsistent with the plan (%d slots, %d batches) or the event before it %+v",
				i, ev, sec.Plan.SlotsToMove, sec.Plan.Batches, prev)
		}
		prev = ev
	}
	last := events[len(events)-1]
	if last.SlotsDone != sec.SlotsMoved || last.Keys != sec.KeysMoved || last.Batch != sec.Plan.Batches || last.ETASeconds != 0 || last.Gates != "green" {
		t.Errorf("last progress event %+v; report: %d slots, %d keys moved in %d batches", last, sec.SlotsMoved, sec.KeysMoved, sec.Plan.Batches)
	}
}
