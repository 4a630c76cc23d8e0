package cli_test

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/certgen"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// tlsPreamble is the cluster.tls block (under cluster:) of the TLS tests.
const tlsPreamble = "  tls: {ca_env: SLOTSHIFT_TLS_CA, cert_env: SLOTSHIFT_TLS_CERT, key_env: SLOTSHIFT_TLS_KEY}\n"

// scaleOutFixture is a formed 3+3 cluster with keys, plus four empty
// nodes for server4 and server5, and the inventory of all of them.
type scaleOutFixture struct {
	c    *sandboxtest.Cluster
	dir  string
	inv  string
	keys int
}

func newScaleOut(t *testing.T, opts sandboxtest.Options, preamble string) scaleOutFixture {
	t.Helper()
	c := sandboxtest.Start(t, 6, opts)
	c.Form(t, 3)
	const keys = 2000
	c.Load(t, keys, 32)
	c.AddNodes(t, 4)
	ports := c.Ports()
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yml")
	text := sandboxtest.CrossInventory(ports[:6], 3, sandboxtest.InventoryOptions{Name: "scale",
		Preamble: preamble, Extra: sandboxtest.CrossPair("server4", "server5", [4]int(ports[6:10])) + sandboxtest.GenerousGates})
	if err := os.WriteFile(inv, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return scaleOutFixture{c: c, dir: dir, inv: inv, keys: keys}
}

func (f scaleOutFixture) tlsEnv(ca string) []string {
	return []string{
		"SLOTSHIFT_PASSWORD=" + f.c.Password,
		"SLOTSHIFT_INVENTORY_FILE=" + f.inv,
		"SLOTSHIFT_TLS_CA=" + ca,
		"SLOTSHIFT_TLS_CERT=" + f.c.TLS.Cert,
		"SLOTSHIFT_TLS_KEY=" + f.c.TLS.Key,
	}
}

// run runs one stage and returns its report, failing the test on another
// exit code.
func (f scaleOutFixture) run(t *testing.T, env []string, code int, args ...string) (report.Report, result) {
	t.Helper()
	reports := filepath.Join(f.dir, "reports")
	res := runBin(t, f.dir, env, append(args, "--report-dir", reports)...)
	if res.code != code {
		t.Fatalf("slotshift %v: exit %d, want %d\n%s", args, res.code, code, res.stderr)
	}
	return readReport(t, reports, args[0]), res
}

// scaleOut runs join → rebalance → verify, each expected to pass, and
// checks that keys moved and that the cluster is healthy with every key.
func (f scaleOutFixture) scaleOut(t *testing.T, env []string) {
	t.Helper()
	f.run(t, env, 0, "join")
	r, _ := f.run(t, env, 0, "rebalance")
	if r.Rebalance == nil || r.Rebalance.KeysMoved == 0 || !r.Rebalance.Done {
		t.Fatalf("rebalance moved no keys: %+v", r.Rebalance)
	}
	f.run(t, env, 0, "verify")
	f.c.Healthy(t, f.keys, 32)
}

// TestTLSClusterPipeline takes a TLS-only sandbox cluster (tls-port, port
// 0, tls-cluster, tls-replication) through validate → join → rebalance →
// verify, then load, with the real binary: every stage dials TLS, MIGRATE
// moves keys between nodes over TLS, and every key reads back.
func TestTLSClusterPipeline(t *testing.T) {
	t.Parallel()
	f := newScaleOut(t, sandboxtest.Options{TLS: true}, tlsPreamble)
	env := f.tlsEnv(f.c.TLS.CA)

	r, _ := f.run(t, env, 0, "validate")
	if v := checkIDs(r, "tls.validity"); len(v) != 2 || v[0].Status != report.Pass || v[1].Status != report.Pass {
		t.Errorf("tls.validity checks %+v, want the CA and the certificate passing", v)
	}
	if a := checkIDs(r, "acl.permissions"); len(a) != 1 || a[0].Status != report.Pass {
		t.Errorf("acl.permissions %+v, want one pass for the default user", a)
	}
	f.scaleOut(t, env)
	for addr, n := range slotCounts(t, f.c) {
		if n < 3000 || n > 3600 {
			t.Errorf("%s owns %d slots after rebalance to 5 masters", addr, n)
		}
	}
	// The load generator's cluster client dials TLS too.
	r, _ = f.run(t, env, 0, "load", "--duration", "1s", "--rate", "500")
	if l := r.Load; l == nil || l.WritesAcked == 0 || l.Errors["connection"] != 0 {
		t.Errorf("load over TLS: %+v", l)
	}
}

// TestTLSWrongCAFailsNamingTheNode gives slotshift a CA that did not sign
// the nodes' certificates: validate fails (exit 1) naming each node and
// the certificate problem, and join refuses (exit 2) with nothing changed.
func TestTLSWrongCAFailsNamingTheNode(t *testing.T) {
	t.Parallel()
	f := newScaleOut(t, sandboxtest.Options{TLS: true}, tlsPreamble)
	before := slotCounts(t, f.c)
	env := f.tlsEnv(sandboxtest.TLSMaterial(t).CA)

	r, res := f.run(t, env, 1, "validate")
	var failed []report.Check
	for _, c := range checkIDs(r, "node.auth") {
		if c.Status == report.Fail && strings.Contains(c.Message, "certificate signed by unknown authority") {
			failed = append(failed, c)
		}
	}
	if len(failed) != 10 {
		t.Fatalf("want node.auth failing on the certificate for each of the 10 nodes, got %d:\n%s", len(failed), res.stderr)
	}
	for _, c := range failed {
		if c.Node == "" || !strings.Contains(c.Message, "server") {
			t.Errorf("check does not name the node: %+v", c)
		}
		if !strings.Contains(c.Hint, "cluster.tls.ca_env") {
			t.Errorf("hint does not point at the CA: %+v", c)
		}
	}
	t.Logf("wrong CA: %s", failed[0].Message)
	join := runBin(t, f.dir, env, "join", "--report-dir", filepath.Join(f.dir, "reports"))
	// join refuses unreachable nodes before changing anything (exit 2,
	// as for every refusal).
	if join.code != 2 || !strings.Contains(join.stderr, "certificate") || !strings.Contains(join.stderr, "nothing changed") {
		t.Errorf("join with a wrong CA: exit %d, want 2 and a refusal naming the certificate:\n%s", join.code, join.stderr)
	}
	if after := slotCounts(t, f.c); !maps.Equal(after, before) {
		t.Errorf("slot owners changed: %v → %v", before, after)
	}
}

// TestTLSOfflineValidate covers the TLS rules that need no node: a
// certificate expiring within min_validity fails validate (exit 1), a PR
// run without the TLS variables still validates offline, an online stage
// without them is a usage error naming them (exit 2), and
// insecure_skip_verify is a warning in the report and the log.
func TestTLSOfflineValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, preamble string) string {
		p := filepath.Join(dir, name)
		text := sandboxtest.CrossInventory([]int{7000, 7002, 7004, 7001, 7003, 7005}, 3, sandboxtest.InventoryOptions{Preamble: preamble})
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca, err := certgen.NewCA("offline CA")
	if err != nil {
		t.Fatal(err)
	}
	soon, err := ca.Issue(certgen.Options{NotAfter: time.Now().Add(72 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	tlsVars := []string{"SLOTSHIFT_TLS_CA=" + ca.CertPEM, "SLOTSHIFT_TLS_CERT=" + soon.CertPEM, "SLOTSHIFT_TLS_KEY=" + soon.KeyPEM}
	reports := filepath.Join(dir, "reports")
	validate := func(inv string, env []string, code int, args ...string) (report.Report, result) {
		t.Helper()
		res := runBin(t, dir, append(env, "SLOTSHIFT_INVENTORY_FILE="+inv), append([]string{"validate", "--report-dir", reports}, args...)...)
		if res.code != code {
			t.Fatalf("validate %v: exit %d, want %d\n%s", args, res.code, code, res.stderr)
		}
		return readReport(t, reports, "validate"), res
	}

	inv := write("expiring.yml", tlsPreamble)
	r, _ := validate(inv, tlsVars, 1, "--offline")
	v := checkIDs(r, "tls.validity")
	if len(v) != 2 || v[0].Status != report.Pass || v[1].Status != report.Fail || !strings.Contains(v[1].Message, "min_validity") || v[1].Line != 5 {
		t.Errorf("tls.validity = %+v, want the CA passing and the 3-day certificate failing on line 5", v)
	}
	inv = write("short.yml", "  tls: {ca_env: SLOTSHIFT_TLS_CA, cert_env: SLOTSHIFT_TLS_CERT, key_env: SLOTSHIFT_TLS_KEY, min_validity: 48h}\n")
	validate(inv, tlsVars, 0, "--offline")

	r, _ = validate(inv, nil, 0, "--offline")
	if v := checkIDs(r, "tls.validity"); len(v) != 1 || v[0].Status != report.Skip {
		t.Errorf("offline without the variables: %+v, want one skip", v)
	}
	_, res := validate(inv, []string{"SLOTSHIFT_PASSWORD=" + sandboxtest.DefaultPassword, tlsVars[0]}, 2)
	if !strings.Contains(res.stderr, "SLOTSHIFT_TLS_CERT, SLOTSHIFT_TLS_KEY not set") {
		t.Errorf("online without the variables: stderr does not name them:\n%s", res.stderr)
	}

	inv = write("insecure.yml", "  tls: {ca_env: SLOTSHIFT_TLS_CA, cert_env: SLOTSHIFT_TLS_CERT, key_env: SLOTSHIFT_TLS_KEY, min_validity: 1h, insecure_skip_verify: true}\n")
	r, res = validate(inv, tlsVars, 0, "--offline")
	if w := checkIDs(r, "tls.verify"); len(w) != 1 || w[0].Status != report.Warn || !strings.Contains(res.stderr, "NOT verified") {
		t.Errorf("insecure_skip_verify: checks %+v; stderr:\n%s", w, res.stderr)
	}
}

// TestSandboxUpTLS: `sandbox up` runs a TLS inventory's nodes TLS-only
// from the PEM in the environment, `sandbox status` reads them over TLS,
// join forms the cluster, and `sandbox down` stops them.
func TestSandboxUpTLS(t *testing.T) {
	t.Parallel()
	if _, err := sandbox.LookBin(""); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ports := make([]int, 6)
	for i := range ports {
		p, err := sandbox.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yml")
	text := sandboxtest.CrossInventory(ports, 3, sandboxtest.InventoryOptions{Preamble: tlsPreamble, Extra: sandboxtest.GenerousGates})
	if err := os.WriteFile(inv, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	m := sandboxtest.TLSMaterial(t)
	env := []string{"SLOTSHIFT_PASSWORD=" + sandboxtest.DefaultPassword, "SLOTSHIFT_INVENTORY_FILE=" + inv,
		"SLOTSHIFT_TLS_CA=" + m.CA, "SLOTSHIFT_TLS_CERT=" + m.Cert, "SLOTSHIFT_TLS_KEY=" + m.Key}
	sb := filepath.Join(dir, "sb")
	t.Cleanup(func() { runBin(t, dir, env, "sandbox", "down", "--dir", sb) })
	if res := runBin(t, dir, env, "sandbox", "up", "--dir", sb); res.code != 0 {
		t.Fatalf("sandbox up: exit %d\n%s", res.code, res.stderr)
	}
	res := runBin(t, dir, env, "sandbox", "status", "--dir", sb)
	if res.code != 0 || strings.Count(res.stdout, " true ") != 6 || strings.Contains(res.stdout, "error") {
		t.Fatalf("sandbox status: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := runBin(t, dir, env, "join", "--report-dir", filepath.Join(dir, "reports")); res.code != 0 {
		t.Fatalf("join: exit %d\n%s", res.code, res.stderr)
	}
	res = runBin(t, dir, env, "sandbox", "status", "--dir", sb)
	if strings.Count(res.stdout, " ok ") != 6 {
		t.Errorf("after join, want cluster_state ok on 6 nodes:\n%s", res.stdout)
	}
	if res := runBin(t, dir, env, "sandbox", "down", "--dir", sb); res.code != 0 {
		t.Errorf("sandbox down: exit %d\n%s", res.code, res.stderr)
	}
}
