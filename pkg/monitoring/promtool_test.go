package monitoring

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/inventory"
)

// needPromtool returns promtool's path. Without it the test is skipped on
// a developer's machine (scripts/install-deps.sh installs it) and fails in
// CI, where a skip would hide that nothing was checked.
func needPromtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool not found in CI (scripts/install-deps.sh installs the prometheus package): %v", err)
		}
		t.Skipf("skipping: promtool not found (install the prometheus package, or run scripts/install-deps.sh): %v", err)
	}
	return path
}

// promtool runs promtool in dir and returns its output (stdout, then
// stderr).
func promtool(t *testing.T, bin, dir string, args ...string) (string, error) {
	stdout, stderr, err := promtoolSplit(t, bin, dir, args...)
	return stdout + stderr, err
}

func promtoolSplit(t *testing.T, bin, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// TestPromtoolChecksGeneratedFiles runs the real promtool on the generated
// files: the rules and the config must be valid, the config must find its
// rule and targets files, and service discovery must yield one target per
// node with the node's labels.
func TestPromtoolChecksGeneratedFiles(t *testing.T) {
	bin := needPromtool(t)
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"prod-5x2.yaml", Options{}},
		{"sandbox-3x2.yaml", Options{ScrapeInterval: 5 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := load(t, tc.name)
			dir, _ := generate(t, inv, tc.opts)
			out, err := promtool(t, bin, dir, "check", "rules", RulesFile)
			if err != nil || !strings.Contains(out, "SUCCESS") {
				t.Fatalf("promtool check rules: %v\n%s", err, out)
			}
			out, err = promtool(t, bin, dir, "check", "config", ConfigFile)
			if err != nil || strings.Contains(out, "WARNING") {
				t.Fatalf("promtool check config: %v\n%s", err, out)
			}
			checkDiscovery(t, bin, dir, inv)
		})
	}
}

// checkDiscovery runs promtool's service discovery on the scrape job and
// compares each discovered target's labels with the inventory's nodes.
func checkDiscovery(t *testing.T, bin, dir string, inv *inventory.Inventory) {
	t.Helper()
	out, logs, err := promtoolSplit(t, bin, dir, "check", "service-discovery", "--timeout=2s", ConfigFile, JobName(inv))
	if err != nil || strings.Contains(logs, "level=error") {
		t.Fatalf("promtool check service-discovery: %v\n%s%s", err, out, logs)
	}
	var got []struct {
		Labels map[string]string `json:"labels"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("service discovery output is not a JSON list: %v\n%s", err, out)
	}
	byInstance := map[string]map[string]string{}
	for _, g := range got {
		byInstance[g.Labels["instance"]] = g.Labels
	}
	ports := inv.ExporterPorts()
	nodes := inv.Nodes()
	if len(got) != len(nodes) {
		t.Fatalf("discovered %d targets, want %d (one per node)", len(got), len(nodes))
	}
	for i, r := range nodes {
		inst := net.JoinHostPort(r.Address, strconv.Itoa(ports[i]))
		l, ok := byInstance[inst]
		if !ok {
			t.Errorf("node %s: no target %s", r.Name(), inst)
			continue
		}
		want := map[string]string{"cluster": inv.Cluster.Name, "server": r.Server, "node": r.Addr(), "inventory_role": string(r.Role), "job": JobName(inv)}
		for k, v := range want {
			if l[k] != v {
				t.Errorf("target %s: label %s = %q, want %q", inst, k, l[k], v)
			}
		}
	}
}

// TestPromtoolChecksDashboardQueries parses every dashboard query with
// promtool, as recording rules: Grafana's $__rate_interval stands for a
// range.
func TestPromtoolChecksDashboardQueries(t *testing.T) {
	bin := needPromtool(t)
	inv := load(t, "prod-5x2.yaml")
	data, _, err := Dashboard(inv)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			expr := strings.ReplaceAll(q.Expr, rateWindow, "1m")
			fmt.Fprintf(&b, "      - record: dashboard:panel_%d_%s\n        expr: %s\n", p.ID, q.RefID, strconv.Quote(expr))
			n++
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard-rules.yml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := promtool(t, bin, dir, "check", "rules", "dashboard-rules.yml")
	if err != nil || !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", n)) {
		t.Fatalf("promtool check rules on %d dashboard queries: %v\n%s", n, err, out)
	}
}

// TestPromtoolRejectsBrokenFiles makes sure the checks above can fail: a
// rule with a broken expression, a config naming a missing rule file and
// an invalid target label are all refused.
func TestPromtoolRejectsBrokenFiles(t *testing.T) {
	bin := needPromtool(t)
	inv := load(t, "sandbox-3x2.yaml")
	for name, edit := range map[string]func(files map[string][]byte){
		"broken expression": func(f map[string][]byte) {
			f[RulesFile] = []byte(strings.Replace(string(f[RulesFile]), "redis_up{", "redis_up{{", 1))
		},
		"missing rule file": func(f map[string][]byte) { delete(f, RulesFile) },
		"bad target label": func(f map[string][]byte) {
			f[TargetsFile] = []byte(strings.Replace(string(f[TargetsFile]), `"inventory_role"`, `"0role"`, 1))
		},
	} {
		t.Run(name, func(t *testing.T) {
			files, err := Generate(inv, Options{})
			if err != nil {
				t.Fatal(err)
			}
			m := map[string][]byte{}
			for _, f := range files {
				m[f.Name] = f.Data
			}
			edit(m)
			dir := t.TempDir()
			for _, n := range slices.Sorted(maps.Keys(m)) {
				if err := os.WriteFile(filepath.Join(dir, n), m[n], 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if name == "bad target label" {
				out, _ := promtool(t, bin, dir, "check", "service-discovery", "--timeout=2s", ConfigFile, JobName(inv))
				if !strings.Contains(out, "not a valid label name") {
					t.Fatalf("service discovery accepted a bad label:\n%s", out)
				}
				return
			}
			if out, err := promtool(t, bin, dir, "check", "config", ConfigFile); err == nil {
				t.Fatalf("promtool check config accepted it:\n%s", out)
			}
		})
	}
}
