package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/report"
)

func TestMonitoringCommandWritesFilesReportsAndOutputs(t *testing.T) {
	dir := t.TempDir()
	outFile := filepath.Join(dir, "github_output")
	if err := os.WriteFile(outFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"GITHUB_ACTIONS=true", "GITHUB_OUTPUT=" + outFile, "SLOTSHIFT_PASSWORD=" + testPassword,
		"SLOTSHIFT_OUTPUT=mon"} // the flag's variable, with global flags before the command
	res := runBin(t, dir, env, "--report-dir", "reports", "monitoring", "-i", testdataPath(t, "inventories", "sandbox-3x2.yaml"))
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	r := readReport(t, filepath.Join(dir, "reports"), "monitoring")
	if r.Outcome != report.OutcomePass || r.Stage != "monitoring" || len(r.Checks) != 4 || r.Cluster.Masters != 3 {
		t.Fatalf("report: outcome %s stage %s masters %d, checks %+v", r.Outcome, r.Stage, r.Cluster.Masters, r.Checks)
	}
	for _, c := range r.Checks {
		if c.Status != report.Pass || !strings.HasPrefix(c.ID, "monitoring.") {
			t.Errorf("check %+v", c)
		}
	}
	outputs, _ := os.ReadFile(outFile)
	for _, name := range []string{"targets.json", "alerts.yml", "dashboard.json", "prometheus.yml"} {
		data, err := os.ReadFile(filepath.Join(dir, "mon", name))
		if err != nil || len(data) == 0 {
			t.Errorf("%s not written: %v", name, err)
		}
		if strings.Contains(string(data), testPassword) {
			t.Errorf("%s holds the password", name)
		}
		if !strings.Contains(string(outputs), filepath.Join("mon", name)) {
			t.Errorf("GITHUB_OUTPUT does not name %s:\n%s", name, outputs)
		}
	}
	for _, want := range []string{"targets-file<<", "rules-file<<", "dashboard-file<<", "prometheus-config<<", "targets<<", "\n6\n"} {
		if !strings.Contains(string(outputs), want) {
			t.Errorf("GITHUB_OUTPUT lacks %q:\n%s", want, outputs)
		}
	}
}

func TestMonitoringExitCodes(t *testing.T) {
	sandbox, err := os.ReadFile(testdataPath(t, "inventories", "sandbox-3x2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		inventory string // "" = sandbox-3x2.yaml as it is
		args      []string
		code      int
		outcome   report.Outcome
		stderr    string
	}{
		{"no output", "", nil, 2, report.OutcomeUsage, "no output directory"},
		{"exporter ports clash", string(sandbox) + "monitoring: {exporter_port: 7003}\n", []string{"--output", "mon"}, 2, report.OutcomeUsage,
			"127.0.0.1:7003 is already taken by node server2:7003"},
		{"no cluster name", strings.Replace(string(sandbox), "  name: sandbox\n", "", 1), []string{"--output", "mon"}, 2, report.OutcomeUsage,
			"cluster.name is required"},
		{"output is a file", "", []string{"--output", "inventory.yml"}, 3, report.OutcomeError, "not written"},
		{"bad interval", "", []string{"--output", "mon", "--scrape-interval", "often"}, 2, "", "invalid value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			text := tc.inventory
			if text == "" {
				text = string(sandbox)
			}
			if err := os.WriteFile(filepath.Join(dir, "inventory.yml"), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"monitoring", "-i", "inventory.yml", "--report-dir", "reports"}, tc.args...)
			res := runBin(t, dir, []string{"SLOTSHIFT_PASSWORD=" + testPassword}, args...)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.stderr) {
				t.Fatalf("exit %d, want %d with %q in stderr:\n%s", res.code, tc.code, tc.stderr, res.stderr)
			}
			if tc.outcome == "" {
				return // a flag error: urfave/cli stops before the stage
			}
			r := readReport(t, filepath.Join(dir, "reports"), "monitoring")
			if r.Outcome != tc.outcome || r.ExitCode != tc.code {
				t.Errorf("report: outcome %s exit %d, want %s %d", r.Outcome, r.ExitCode, tc.outcome, tc.code)
			}
			if entries, _ := os.ReadDir(filepath.Join(dir, "mon")); len(entries) != 0 {
				t.Errorf("files written on %s: %v", tc.name, entries)
			}
		})
	}
}

func TestMonitoringAnnotatesExporterClash(t *testing.T) {
	dir := t.TempDir()
	sandbox, err := os.ReadFile(testdataPath(t, "inventories", "sandbox-3x2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(sandbox), "{port: 7004, role: master}", "{port: 7004, role: master, exporter_port: 9121}", 1)
	if err := os.WriteFile(filepath.Join(dir, "inventory.yml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	res := runBin(t, dir, []string{"GITHUB_ACTIONS=true", "SLOTSHIFT_PASSWORD=" + testPassword},
		"monitoring", "-i", "inventory.yml", "--output", "mon", "--report-dir", "reports")
	if res.code != 2 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	if !regexp.MustCompile(`(?m)^::error file=inventory\.yml,line=24,title=inventory\.exporter_ports::127\.0\.0\.1:7004: node server3:7004: exporter address 127\.0\.0\.1:9121`).MatchString(res.stdout) {
		t.Errorf("no ::error annotation on the node's line:\n%s", res.stdout)
	}
}
