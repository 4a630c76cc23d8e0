package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cli"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// runInProcess runs slotshift in this process with stderr a terminal or
// not and the given environment, and returns stderr.
func runInProcess(t *testing.T, terminal bool, env map[string]string, args ...string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := cli.Run(ctx, append([]string{"slotshift"}, args...), cli.IO{
		Stdout: &stdout, Stderr: &stderr, Terminal: terminal,
		Getenv: func(k string) string { return env[k] },
	})
	return stderr.String(), cli.ExitCode(err)
}

// modeCase is one way of running: who reads stderr.
type modeCase struct {
	name     string
	terminal bool
	env      map[string]string
	args     []string
	// human: the human line is printed and the record is not; otherwise
	// the record is printed and the human line is not.
	human bool
	json  bool
}

func modeCases() []modeCase {
	return []modeCase{
		{name: "terminal", terminal: true, human: true},
		{name: "pipe", terminal: false},
		{name: "terminal in CI", terminal: true, env: map[string]string{"CI": "true"}},
		{name: "terminal in GitHub Actions", terminal: true, env: map[string]string{"GITHUB_ACTIONS": "true"}},
		{name: "json on a terminal", terminal: true, args: []string{"--log-format", "json"}, json: true},
		{name: "json in CI", terminal: false, env: map[string]string{"CI": "true"}, args: []string{"--log-format", "json"}, json: true},
	}
}

// run runs command in this mode on the inline inventory inv.
func (m modeCase) run(t *testing.T, inv, command string) (string, int) {
	t.Helper()
	env := map[string]string{"SLOTSHIFT_PASSWORD": testPassword, "SLOTSHIFT_INVENTORY": inv}
	for k, v := range m.env {
		env[k] = v
	}
	return runInProcess(t, m.terminal, env, append([]string{command, "--report-dir", t.TempDir()}, m.args...)...)
}

// checkOnce asserts that an event was printed exactly once, as the human
// line or as the record the mode calls for.
func checkOnce(t *testing.T, m modeCase, stderr, humanLine, record string) {
	t.Helper()
	humans, records := strings.Count(stderr, humanLine), strings.Count(stderr, record)
	switch {
	case m.human && (humans != 1 || records != 0):
		t.Errorf("%s: %d human lines %q and %d records %q, want 1 and 0:\n%s", m.name, humans, humanLine, records, record, stderr)
	case !m.human && (humans != 0 || records != 1):
		t.Errorf("%s: %d human lines %q and %d records %q, want 0 and 1:\n%s", m.name, humans, humanLine, records, record, stderr)
	}
	if !m.json {
		return
	}
	finished := 0
	for _, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("%s: stderr line is not JSON: %q", m.name, line)
			continue
		}
		if rec["msg"] == "stage finished" {
			finished++
		}
	}
	if finished != 1 {
		t.Errorf("%s: %d 'stage finished' records, want 1:\n%s", m.name, finished, stderr)
	}
}

// TestOutputModesValidate: an online validate against nodes that are not
// running prints its observation once in every mode.
func TestOutputModesValidate(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\ncluster: {name: down}\nservers:\n")
	for s := range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		fmt.Fprintf(&b, "  - name: server%d\n    address: 127.0.0.1\n    nodes: [{port: %d, role: master}]\n", s+1, port)
	}
	for _, m := range modeCases() {
		stderr, code := m.run(t, b.String(), "validate")
		if code != cli.CodeFail && code != cli.CodeUsage {
			t.Fatalf("%s: exit %d, want a failed validate\n%s", m.name, code, stderr)
		}
		checkOnce(t, m, stderr, "validate: 3 nodes observed", "validate observed the cluster")
		if !m.json && !strings.Contains(stderr, "slotshift validate: ") {
			t.Errorf("%s: no verdict:\n%s", m.name, stderr)
		}
		if m.json && !strings.Contains(stderr, `"fail node.reachable [127.0.0.1:`) {
			t.Errorf("%s: the JSON verdict does not name the unreachable nodes:\n%s", m.name, stderr)
		}
	}
}

// TestOutputModesJoin: join on real redis-server processes prints its
// convergence once in every mode (the first run creates the cluster, the
// others find nothing to change and wait for convergence all the same).
func TestOutputModesJoin(t *testing.T) {
	c := sandboxtest.Start(t, 3, sandboxtest.Options{Password: testPassword})
	var b strings.Builder
	b.WriteString("version: 1\ncluster: {name: modes, node_timeout_ms: 1000}\nservers:\n")
	for i, n := range c.Nodes {
		fmt.Fprintf(&b, "  - name: server%d\n    address: 127.0.0.1\n    nodes: [{port: %d, role: master}]\n", i+1, n.Port)
	}
	for i, m := range modeCases() {
		stderr, code := m.run(t, b.String(), "join")
		if code != cli.CodePass {
			t.Fatalf("%s: exit %d\n%s", m.name, code, stderr)
		}
		when := "(no change needed)"
		if i == 0 {
			when = "after MEET"
		}
		checkOnce(t, m, stderr, "join: converged "+when, "join converged")
	}
}

// TestErrorPrintedOnce: a stage's error is in its verdict, and main does
// not print it a second time.
func TestErrorPrintedOnce(t *testing.T) {
	dir := t.TempDir()
	res := runBin(t, dir, nil, "validate", "--offline", "--inventory", filepath.Join(dir, "missing.yml"), "--report-dir", dir)
	if res.code != cli.CodeUsage {
		t.Fatalf("exit %d, want %d\n%s", res.code, cli.CodeUsage, res.stderr)
	}
	if n := strings.Count(res.stderr, "missing.yml: no such file"); n != 1 {
		t.Errorf("the error is printed %d times, want once:\n%s", n, res.stderr)
	}
	// An error outside any stage still reaches stderr, once.
	res = runBin(t, dir, nil, "validate", "--no-such-flag")
	if res.code != cli.CodeUsage || strings.Count(res.stderr, "slotshift: flag provided but not defined: -no-such-flag") != 1 {
		t.Errorf("unknown flag: exit %d, stderr:\n%s", res.code, res.stderr)
	}
}
