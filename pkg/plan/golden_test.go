package plan

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGoldenPlan pins the JSON of one plan (3 masters from redis-cli's
// create split plus one new master, batches of 1000 slots) so that a change
// in the planner's choices or in the plan format shows up in review.
// Regenerate with: go test ./pkg/plan -run Golden -update
func TestGoldenPlan(t *testing.T) {
	ms := created(t, 3, 1)
	p, err := PlanRebalance(ms, Options{BatchSlots: 1000, Fingerprint: "910bcf109ddb9f0d"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "rebalance_3to4.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("plan differs from %s (run with -update if the change is intended):\n%s", path, got)
	}
}
