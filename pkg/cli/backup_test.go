package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slotshift/slotshift/pkg/backup"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// TestBackupCommand runs slotshift backup end to end against a sandbox
// cluster: exit codes, reports, Actions outputs, the manifest and its
// files, and no password anywhere it wrote.
func TestBackupCommand(t *testing.T) {
	if _, err := exec.LookPath("redis-check-rdb"); err != nil {
		t.Skip("redis-check-rdb not in PATH (Debian: redis-tools)")
	}
	c := sandboxtest.Start(t, 6, sandboxtest.Options{})
	c.Form(t, 3)
	c.Load(t, 500, 16)
	var b strings.Builder
	b.WriteString("version: 1\ncluster: {name: bk, node_timeout_ms: 1000}\nservers:\n")
	for s := range 3 {
		fmt.Fprintf(&b, "  - name: server%d\n    address: 127.0.0.1\n    nodes:\n      - {port: %d, role: master}\n      - {port: %d, role: replica, replica_of: \"server%d:%d\"}\n",
			s+1, c.Nodes[s].Port, c.Nodes[3+s].Port, (s+1)%3+1, c.Nodes[(s+1)%3].Port)
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yml")
	if err := os.WriteFile(inv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	outFile := filepath.Join(dir, "github_output")
	if err := os.WriteFile(outFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"SLOTSHIFT_PASSWORD=" + c.Password, "SLOTSHIFT_INVENTORY_FILE=" + inv,
		"GITHUB_ACTIONS=true", "GITHUB_OUTPUT=" + outFile, "SLOTSHIFT_LOG_LEVEL=debug"}

	reports := filepath.Join(dir, "reports-pass")
	res := runBin(t, dir, env, "backup", "--output", "backups", "--report-dir", reports)
	if res.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", res.code, res.stderr)
	}
	r := readReport(t, reports, "backup")
	if r.Outcome != report.OutcomePass || r.Stage != "backup" || r.Cluster.Name != "bk" {
		t.Errorf("report: outcome %s stage %s cluster %q", r.Outcome, r.Stage, r.Cluster.Name)
	}
	manifest := r.Outputs["manifest"]
	if !strings.HasPrefix(manifest, filepath.Join("backups", "bk-")) {
		t.Fatalf("manifest output %q is not under --output", manifest)
	}
	outputs, _ := os.ReadFile(outFile)
	if !strings.Contains(string(outputs), "manifest<<") || !strings.Contains(string(outputs), manifest) {
		t.Errorf("GITHUB_OUTPUT lacks the manifest path:\n%s", outputs)
	}
	m, err := backup.Load(filepath.Join(dir, manifest))
	if err != nil {
		t.Fatal(err)
	}
	if f := backup.VerifyFiles(filepath.Dir(filepath.Join(dir, manifest)), m); len(f) != 0 || len(m.Entries) != 3 {
		t.Errorf("%d entries, file findings %+v", len(m.Entries), f)
	}
	if f := backup.CheckManifest(m, r.FinishedAt, 0, backup.AllSlots()); len(f) != 0 {
		t.Errorf("manifest findings %+v", f)
	}
	ids := map[string]int{}
	for _, ch := range r.Checks {
		ids[ch.ID]++
	}
	for id, n := range map[string]int{"backup.save": 3, "backup.copy": 3, "backup.verify": 3, "backup.manifest": 1, "backup.coverage": 1} {
		if ids[id] != n {
			t.Errorf("%d %s checks, want %d", ids[id], id, n)
		}
	}
	printed := res.stdout + res.stderr

	// A checker that refuses every file: the backup ran, its checks say
	// no (exit 1), and the manifest marks every file bad.
	refuse := filepath.Join(dir, "refuse.sh")
	if err := os.WriteFile(refuse, []byte("#!/bin/sh\necho '--- RDB ERROR DETECTED ---'\necho 'bad checksum'\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	reports = filepath.Join(dir, "reports-fail")
	res = runBin(t, dir, env, "backup", "--output", "backups", "--report-dir", reports, "--redis-check-rdb", refuse)
	if res.code != 1 {
		t.Fatalf("refusing checker: exit %d, want 1\n%s", res.code, res.stderr)
	}
	r = readReport(t, reports, "backup")
	failed := 0
	for _, ch := range r.Checks {
		if ch.ID == "backup.verify" && ch.Status == report.Fail && strings.Contains(ch.Message, "bad checksum") && ch.Node != "" {
			failed++
		}
	}
	if r.Outcome != report.OutcomeFail || failed != 3 || r.Outputs["files-bad"] != "3" {
		t.Errorf("outcome %s, %d verify failures, outputs %v", r.Outcome, failed, r.Outputs)
	}
	printed += res.stdout + res.stderr

	// Usage (2) and could-not-finish (3), each with its reports.
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--transfer", "ftp"}, 2},
		{[]string{"--timeout", "soon"}, 2},
		{[]string{"--redis-check-rdb", filepath.Join(dir, "no-such-checker")}, 3},
	} {
		reports := filepath.Join(dir, "reports-"+strings.Join(tc.args, ""))
		args := append([]string{"backup", "--output", "backups", "--report-dir", reports}, tc.args...)
		res := runBin(t, dir, env, args...)
		if res.code != tc.code {
			t.Errorf("backup %v: exit %d, want %d\n%s", tc.args, res.code, tc.code, res.stderr)
			continue
		}
		if tc.args[0] != "--timeout" { // a flag parse error comes before the stage frame
			readReport(t, reports, "backup")
		}
		printed += res.stdout + res.stderr
	}

	// The password is only ever in ::add-mask::.
	var written strings.Builder
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasSuffix(p, ".rdb") && p != inv {
			data, _ := os.ReadFile(p)
			written.Write(data)
		}
		return nil
	})
	for _, line := range strings.Split(printed+written.String(), "\n") {
		if strings.Contains(line, c.Password) && !strings.HasPrefix(line, "::add-mask::") {
			t.Errorf("password leaked: %q", line)
		}
	}
}
