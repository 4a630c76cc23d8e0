package cli_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/report/reporttest"
)

const testPassword = "cli-test-password-0123456789"

// readReport reads and schema-validates <dir>/<stage>.json and validates
// the JUnit file next to it against junit-10.xsd.
func readReport(t *testing.T, dir, stage string) report.Report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, stage+".json"))
	if err != nil {
		t.Fatalf("JSON report not written: %v", err)
	}
	reporttest.CheckJSON(t, data)
	var r report.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	junit, err := os.ReadFile(filepath.Join(dir, stage+".junit.xml"))
	if err != nil {
		t.Fatalf("JUnit report not written: %v", err)
	}
	if _, err := lookPathXMLLint(); err == nil {
		reporttest.CheckJUnit(t, junit)
	}
	return r
}

func TestHelpListsCommandsAndEnvVars(t *testing.T) {
	res := runBin(t, t.TempDir(), nil, "--help")
	if res.code != 0 {
		t.Fatalf("--help exit %d: %s", res.code, res.stderr)
	}
	for _, cmd := range []string{"validate", "provision", "join", "plan", "rebalance", "verify", "snapshot", "sandbox", "version"} {
		if !regexp.MustCompile(`(?m)^\s+` + cmd + `\b`).MatchString(res.stdout) {
			t.Errorf("--help does not list %s:\n%s", cmd, res.stdout)
		}
	}
	res = runBin(t, t.TempDir(), nil, "validate", "--help")
	for _, want := range []string{"--offline", "$SLOTSHIFT_OFFLINE", "--base", "$SLOTSHIFT_BASE", "--inventory", "$SLOTSHIFT_INVENTORY_FILE", "--report-dir", "$SLOTSHIFT_REPORT_DIR"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("validate --help lacks %q:\n%s", want, res.stdout)
		}
	}
	res = runBin(t, t.TempDir(), nil, "rebalance", "--help")
	for _, want := range []string{"--max-batches", "$SLOTSHIFT_MAX_BATCHES", "--target-layout", "--dry-run", "--mover", "$SLOTSHIFT_MOVER"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("rebalance --help lacks %q", want)
		}
	}
	if strings.Contains(res.stdout, "fault-kill-at") {
		t.Error("the fault-injection flag must stay hidden")
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{{"nosuchcommand"}, {}, {"validate", "--no-such-flag"}, {"rebalance", "--max-batches", "x"}} {
		res := runBin(t, t.TempDir(), nil, args...)
		if res.code != 2 {
			t.Errorf("slotshift %v: exit %d, want 2\nstderr: %s", args, res.code, res.stderr)
		}
	}
}

// TestMoverValueExit2: a --mover (or SLOTSHIFT_MOVER) other than legacy,
// atomic or auto is a usage error that names the flag, before any node is
// contacted.
func TestMoverValueExit2(t *testing.T) {
	inv := testdataPath(t, "inventories", "sandbox-3x2.yaml")
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"rebalance", "--mover", "sideways"}},
		{[]string{"SLOTSHIFT_MOVER=fast"}, []string{"rebalance"}},
	} {
		env := append([]string{"SLOTSHIFT_PASSWORD=" + testPassword}, c.env...)
		res := runBin(t, t.TempDir(), env, append(c.args, "--inventory", inv, "--report-dir", "out")...)
		if res.code != 2 || !strings.Contains(res.stderr, "--mover") {
			t.Errorf("%v %v: exit %d, want 2 naming --mover\nstderr: %s", c.env, c.args, res.code, res.stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	res := runBin(t, t.TempDir(), nil, "version")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "slotshift ") {
		t.Fatalf("version: exit %d, %q", res.code, res.stdout)
	}
}

func TestValidateOfflinePassWritesValidReports(t *testing.T) {
	dir := t.TempDir()
	res := runBin(t, dir, []string{"SLOTSHIFT_PASSWORD=" + testPassword}, "validate", "--offline", "--inventory", testdataPath(t, "inventories", "sandbox-3x2.yaml"), "--report-dir", "out")
	if res.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", res.code, res.stderr)
	}
	r := readReport(t, filepath.Join(dir, "out"), "validate")
	if r.Outcome != report.OutcomePass || r.ExitCode != 0 || r.Stage != "validate" || len(r.Checks) == 0 {
		t.Errorf("report: outcome %s exit %d stage %s, %d checks", r.Outcome, r.ExitCode, r.Stage, len(r.Checks))
	}
	if r.Cluster.InventoryFile == "" || r.FormatVersion != "1.0" {
		t.Errorf("report misses identity: %+v", r.Cluster)
	}
}

func TestValidateOfflineExitCodes(t *testing.T) {
	cases := []struct {
		file     string
		code     int
		outcome  report.Outcome
		check    string
		line     string // "file:line" fragment in stderr
		contains string
	}{
		{"invalid/unknown-key.yaml", 2, report.OutcomeUsage, "inventory.parse", "unknown-key.yaml:15", `did you mean "port"`},
		{"invalid/duplicate-address.yaml", 2, report.OutcomeUsage, "inventory.unique_address", "duplicate-address.yaml:15", "127.0.0.1:7000"},
		{"invalid/replica-same-server.yaml", 2, report.OutcomeUsage, "inventory.anti_affinity", "replica-same-server.yaml:11", "same server"},
		{"invalid/replica-of-nothing.yaml", 2, report.OutcomeUsage, "inventory.replica_of", "replica-of-nothing.yaml:16", "server9:7000"},
		{"invalid/malformed.yaml", 2, report.OutcomeUsage, "inventory.parse", "malformed.yaml:9", "malformed YAML"},
		{"invalid/two-masters.yaml", 1, report.OutcomeFail, "inventory.masters_min", "two-masters.yaml:6", "at least 3 masters"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			dir := t.TempDir()
			res := runBin(t, dir, []string{"SLOTSHIFT_PASSWORD=" + testPassword}, "validate", "--offline", "-i", testdataPath(t, "inventories", c.file), "--report-dir", dir)
			if res.code != c.code {
				t.Fatalf("exit %d, want %d\n%s", res.code, c.code, res.stderr)
			}
			if !strings.Contains(res.stderr, c.line) || !strings.Contains(res.stderr, c.contains) {
				t.Errorf("stderr does not name %s and %q:\n%s", c.line, c.contains, res.stderr)
			}
			r := readReport(t, dir, "validate")
			if r.Outcome != c.outcome || r.ExitCode != c.code {
				t.Errorf("report outcome %s exit %d, want %s %d", r.Outcome, r.ExitCode, c.outcome, c.code)
			}
			found := false
			for _, ch := range r.Checks {
				if ch.ID == c.check && ch.Status == report.Fail && ch.Line > 0 && strings.HasSuffix(ch.File, filepath.Base(c.file)) {
					found = true
				}
			}
			if !found {
				t.Errorf("no failed %s check with file and line in %+v", c.check, r.Checks)
			}
		})
	}
}

func TestGlobalFlagsBeforeOrAfterCommandAndFromEnv(t *testing.T) {
	inv := testdataPath(t, "inventories", "sandbox-3x2.yaml")
	env := []string{"SLOTSHIFT_PASSWORD=" + testPassword}
	for name, args := range map[string][]string{
		"before": {"--report-dir", "before", "--inventory", inv, "validate", "--offline"},
		"after":  {"validate", "--offline", "--report-dir=after", "-i", inv},
	} {
		dir := t.TempDir()
		res := runBin(t, dir, env, args...)
		if res.code != 0 {
			t.Fatalf("%s: exit %d\n%s", name, res.code, res.stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, name, "validate.json")); err != nil {
			t.Errorf("%s: report not in the --report-dir given: %v", name, err)
		}
	}
	// Every flag reads SLOTSHIFT_<FLAG>; the inventory may come inline.
	text, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res := runBin(t, dir, append(env, "SLOTSHIFT_INVENTORY="+string(text), "SLOTSHIFT_REPORT_DIR=fromenv", "SLOTSHIFT_OFFLINE=true"), "validate")
	if res.code != 0 {
		t.Fatalf("env-only run: exit %d\n%s", res.code, res.stderr)
	}
	r := readReport(t, filepath.Join(dir, "fromenv"), "validate")
	if r.Cluster.InventoryFile != "SLOTSHIFT_INVENTORY" {
		t.Errorf("inline inventory source = %q", r.Cluster.InventoryFile)
	}
	for _, c := range r.Checks {
		if strings.HasPrefix(c.ID, "node.") {
			t.Errorf("SLOTSHIFT_OFFLINE=true was ignored: online check %s ran", c.ID)
		}
	}
}

func TestNoInventoryIsUsageError(t *testing.T) {
	dir := t.TempDir()
	res := runBin(t, dir, nil, "validate", "--offline", "--report-dir", dir)
	if res.code != 2 || !strings.Contains(res.stderr, "SLOTSHIFT_INVENTORY") {
		t.Fatalf("exit %d, want 2 naming SLOTSHIFT_INVENTORY:\n%s", res.code, res.stderr)
	}
	if r := readReport(t, dir, "validate"); r.Outcome != report.OutcomeUsage {
		t.Errorf("outcome %s, want usage", r.Outcome)
	}
}

func TestGitHubActionsOutputsSummaryAndAnnotations(t *testing.T) {
	dir := t.TempDir()
	outFile := filepath.Join(dir, "github_output")
	sumFile := filepath.Join(dir, "step_summary")
	for _, f := range []string{outFile, sumFile} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"GITHUB_ACTIONS=true", "GITHUB_OUTPUT=" + outFile, "GITHUB_STEP_SUMMARY=" + sumFile, "SLOTSHIFT_PASSWORD=" + testPassword}
	bad := testdataPath(t, "inventories", "invalid", "replica-same-server.yaml")
	res := runBin(t, dir, env, "validate", "--offline", "-i", bad, "--report-dir", "reports")
	if res.code != 2 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if !strings.HasPrefix(lines[0], "::add-mask::") || !strings.Contains(lines[0], testPassword) {
		t.Errorf("the password must be masked before anything else is printed; stdout starts %q", lines[0])
	}
	if !regexp.MustCompile(`(?m)^::error file=[^,]*replica-same-server\.yaml,line=11,title=inventory\.anti_affinity::.*same server`).MatchString(res.stdout) {
		t.Errorf("no ::error annotation on the offending line:\n%s", res.stdout)
	}
	outputs, _ := os.ReadFile(outFile)
	for _, want := range []string{"outcome<<", "\nusage\n", "exit-code<<", "\n2\n", "json-report<<", "reports/validate.json", "junit-report<<", "reports/validate.junit.xml"} {
		if !strings.Contains(string(outputs), want) {
			t.Errorf("GITHUB_OUTPUT lacks %q:\n%s", want, outputs)
		}
	}
	summary, _ := os.ReadFile(sumFile)
	if !strings.Contains(string(summary), "inventory.anti_affinity") || !strings.Contains(string(summary), "validate") {
		t.Errorf("step summary lacks the failed check:\n%s", summary)
	}
	if strings.Contains(string(outputs)+string(summary), testPassword) {
		t.Error("the password leaked into outputs or summary")
	}
}

func TestActionsUnsetFilesDoNotPanic(t *testing.T) {
	dir := t.TempDir()
	res := runBin(t, dir, []string{"GITHUB_ACTIONS=true", "SLOTSHIFT_PASSWORD=" + testPassword}, "validate", "--offline", "-i", testdataPath(t, "inventories", "sandbox-3x2.yaml"), "--report-dir", dir)
	if res.code != 0 || strings.Contains(res.stderr, "panic") {
		t.Fatalf("exit %d with GITHUB_OUTPUT unset:\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stdout, "::group::slotshift validate\n") || !strings.Contains(res.stdout, "::endgroup::") {
		t.Errorf("the stage's output is not folded in a group:\n%s", res.stdout)
	}
}

// TestUnreachableNodesFailCleanly: validate against nodes that are not
// running fails (exit 1) with a check naming each node, quickly, and the
// driver's own dial errors do not spill onto stderr.
func TestUnreachableNodesFailCleanly(t *testing.T) {
	var ports []int
	for range 6 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	var b strings.Builder
	b.WriteString("version: 1\ncluster: {name: down}\nservers:\n")
	for s := range 3 {
		fmt.Fprintf(&b, "  - name: server%d\n    address: 127.0.0.1\n    nodes:\n      - {port: %d, role: master}\n      - {port: %d, role: replica, replica_of: \"server%d:%d\"}\n",
			s+1, ports[s], ports[3+s], (s+1)%3+1, ports[(s+1)%3])
	}
	dir := t.TempDir()
	start := time.Now()
	res := runBin(t, dir, []string{"SLOTSHIFT_PASSWORD=" + testPassword, "SLOTSHIFT_INVENTORY=" + b.String()}, "validate", "--report-dir", dir)
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("validate took %s against unreachable nodes", d)
	}
	if strings.Contains(res.stderr, "pool.go") || strings.Contains(res.stderr, "redis: 20") {
		t.Errorf("driver log lines on stderr:\n%s", res.stderr)
	}
	r := readReport(t, dir, "validate")
	for _, p := range ports {
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		found := false
		for _, c := range r.Checks {
			if c.ID == "node.reachable" && c.Node == addr && c.Status == report.Fail {
				found = true
			}
		}
		if !found {
			t.Errorf("no failed node.reachable check for %s", addr)
		}
	}
}
