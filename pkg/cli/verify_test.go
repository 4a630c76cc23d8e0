package cli_test

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/backup"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
	"github.com/slotshift/slotshift/pkg/stage"
)

// TestBackupGateAndEndpointsCommands runs, against a sandbox cluster, what
// the scale-out workflow runs around a rebalance: backup, validate
// --backup-manifest, rebalance --require-backup refusing a stale manifest
// (exit 1, nothing moved), and verify publishing the client endpoints.
func TestBackupGateAndEndpointsCommands(t *testing.T) {
	if _, err := exec.LookPath("redis-check-rdb"); err != nil {
		t.Skip("redis-check-rdb not in PATH (Debian: redis-tools)")
	}
	c := sandboxtest.Start(t, 6, sandboxtest.Options{NodeTimeoutMS: 1000})
	c.Form(t, 3)
	c.Load(t, 300, 16)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yml")
	text := sandboxtest.CrossInventory(c.Ports(), 3, sandboxtest.InventoryOptions{Name: "gate",
		Weights: map[string]string{"server1": "2"}, Extra: sandboxtest.GenerousGates})
	if err := os.WriteFile(inv, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	outFile := filepath.Join(dir, "github_output")
	env := []string{"SLOTSHIFT_PASSWORD=" + c.Password, "SLOTSHIFT_INVENTORY_FILE=" + inv,
		"GITHUB_ACTIONS=true", "GITHUB_OUTPUT=" + outFile}
	reports := filepath.Join(dir, "reports")
	run := func(code int, args ...string) report.Report {
		t.Helper()
		res := runBin(t, dir, env, append(args, "--report-dir", reports)...)
		if res.code != code {
			t.Fatalf("slotshift %v: exit %d, want %d\n%s", args, res.code, code, res.stderr)
		}
		for _, line := range strings.Split(res.stdout+res.stderr, "\n") {
			if strings.Contains(line, c.Password) && !strings.HasPrefix(line, "::add-mask::") {
				t.Errorf("slotshift %v printed the password: %q", args, line)
			}
		}
		return readReport(t, reports, args[0])
	}

	r := run(0, "backup", "--output", "backups")
	manifest := filepath.Join(dir, r.Outputs["manifest"])
	m, err := backup.Load(manifest)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Entries {
		m.Entries[i].LastSave = m.Entries[i].LastSave.Add(-48 * time.Hour)
	}
	data, _ := json.Marshal(m)
	staleManifest := filepath.Join(filepath.Dir(manifest), "stale.json")
	if err := os.WriteFile(staleManifest, data, 0o644); err != nil {
		t.Fatal(err)
	}

	// validate reads the manifest from its flag.
	r = run(0, "validate", "--offline", "--backup-manifest", manifest)
	gate := checkIDs(r, "backup.manifest")
	if len(gate) != 1 || gate[0].Status != report.Pass {
		t.Errorf("validate backup.manifest checks %+v, want one pass", gate)
	}

	// rebalance reads it from SLOTSHIFT_REQUIRE_BACKUP too: stale, refused.
	before := slotCounts(t, c)
	env = append(env, "SLOTSHIFT_REQUIRE_BACKUP="+staleManifest)
	r = run(1, "rebalance")
	gate = checkIDs(r, "backup.manifest")
	if len(gate) != 3 || gate[0].Status != report.Fail || !strings.Contains(gate[0].Message, "older than backup.max_age 24h0m0s") {
		t.Errorf("rebalance backup.manifest checks %+v, want one failure per stale file", gate)
	}
	if r.Outcome != report.OutcomeFail || r.Rebalance == nil || r.Rebalance.SlotsMoved != 0 || len(checkIDs(r, "rebalance.plan")) != 0 {
		t.Errorf("refused rebalance: outcome %s, section %+v", r.Outcome, r.Rebalance)
	}
	if after := slotCounts(t, c); !maps.Equal(before, after) {
		t.Errorf("slots moved by a refused rebalance: %v -> %v", before, after)
	}
	env = env[:len(env)-1]

	// The slots are not where the weights want them (the rebalance was
	// refused): verify fails, and still writes what it observed.
	r = run(1, "verify", "--no-canary")
	for _, ch := range r.Checks {
		if ch.Status != report.Pass && ch.Status != report.Skip && ch.ID != "slots.distribution" {
			t.Errorf("verify: %s %s: %s", ch.ID, ch.Status, ch.Message)
		}
	}
	path := filepath.Join(reports, stage.EndpointsName)
	if r.Outputs["endpoints-file"] != path {
		t.Errorf("output endpoints-file %q, want %q", r.Outputs["endpoints-file"], path)
	}
	var e stage.Endpoints
	data, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	masters := strings.Join(slices.Sorted(slices.Values(c.Addrs()[:3])), ",")
	if e.Cluster != "gate" || len(e.Masters) != 3 || len(e.Replicas) != 3 || r.Outputs["masters"] != masters {
		t.Errorf("endpoints %s, outputs %v; want masters %s", data, r.Outputs, masters)
	}
	outputs, _ := os.ReadFile(outFile)
	for _, want := range []string{"endpoints-file<<", path, "masters<<", masters} {
		if !strings.Contains(string(outputs), want) {
			t.Errorf("GITHUB_OUTPUT lacks %q:\n%s", want, outputs)
		}
	}
}
