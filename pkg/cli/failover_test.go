package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// nodeRoles returns INFO replication's role of each harness node.
func nodeRoles(t *testing.T, c *sandboxtest.Cluster) []string {
	t.Helper()
	out := make([]string, len(c.Nodes))
	for i := range c.Nodes {
		info, err := c.Client(i).Info(context.Background(), "replication").Result()
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(info, "role:")
		out[i], _, _ = strings.Cut(rest, "\r\n")
	}
	return out
}

// wantFormRoles asserts that nodes 0..2 lead and 3..5 follow, as Form
// built them: failover-test put every shard back.
func wantFormRoles(t *testing.T, c *sandboxtest.Cluster) {
	t.Helper()
	for i, r := range nodeRoles(t, c) {
		if want := map[bool]string{true: "master", false: "slave"}[i < 3]; r != want {
			t.Errorf("node %d (%s): role %s, want %s", i, c.Nodes[i].Addr, r, want)
		}
	}
}

// noLeak fails the test when the password shows up in texts or in the
// failover-test reports in dir.
func noLeak(t *testing.T, password, dir string, texts ...string) {
	t.Helper()
	for _, f := range []string{"failover-test.json", "failover-test.junit.xml"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		texts = append(texts, string(b))
	}
	for _, text := range texts {
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, password) && !strings.HasPrefix(line, "::add-mask::") {
				t.Errorf("the password leaked: %.120q", line)
			}
		}
	}
}

func TestFailoverTestCommand(t *testing.T) {
	c := sandboxtest.Start(t, 6, sandboxtest.Options{})
	c.Form(t, 3)
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yml")
	text := clusterInventory(c.Ports(), 22)
	if err := os.WriteFile(inv, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	tiny := filepath.Join(dir, "tiny.yml")
	if err := os.WriteFile(tiny, []byte(text+"failover: {max_write_outage: 1ms}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"SLOTSHIFT_PASSWORD=" + c.Password, "SLOTSHIFT_INVENTORY_FILE=" + inv, "SLOTSHIFT_RATE=300", "SLOTSHIFT_SETTLE=300ms"}

	t.Run("every shard passes", func(t *testing.T) {
		out, outFile := filepath.Join(dir, "pass"), filepath.Join(dir, "gh-output")
		start := time.Now()
		res := runBin(t, dir, append(env, "GITHUB_ACTIONS=true", "GITHUB_OUTPUT="+outFile), "failover-test", "--report-dir", out)
		t.Logf("TIMING slotshift failover-test (3 shards): exit %d in %s", res.code, time.Since(start).Round(time.Millisecond))
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		r := readReport(t, out, "failover-test")
		if r.Outcome != report.OutcomePass || r.ExitCode != 0 || r.Failover == nil || len(r.Failover.Shards) != 3 {
			t.Fatalf("outcome %s exit %d, failover %+v", r.Outcome, r.ExitCode, r.Failover)
		}
		masters := c.Addrs()[:3]
		for i, fs := range r.Failover.Shards {
			t.Logf("MEASURED shard %s: write outage %.1f ms, failback outage %.1f ms, promotion %.1f ms, failback %.1f ms, %d acked, %d failed, %d lost",
				fs.Master, fs.WriteOutageMS, fs.FailbackOutageMS, fs.PromotionMS, fs.FailbackMS, fs.WritesAcked, fs.WritesFailed, fs.WritesLost)
			if !slices.Contains(masters, fs.Master) || fs.Duration <= 0 || fs.Status != report.Pass || !fs.RolesRestored || fs.WriteOutageMS <= 0 || fs.WritesAcked == 0 || fs.WritesLost != 0 {
				t.Errorf("shard %d: %+v", i, fs)
			}
		}
		if n := len(checkIDs(r, "failover.shard")); n != 3 {
			t.Errorf("%d failover.shard checks, want one per shard", n)
		}
		outputs, _ := os.ReadFile(outFile)
		for _, want := range []string{"outcome<<", "max-write-outage-ms<<", "lost<<", "shards<<"} {
			if !strings.Contains(string(outputs), want) {
				t.Errorf("GITHUB_OUTPUT lacks %q:\n%s", want, outputs)
			}
		}
		noLeak(t, c.Password, out, res.stdout, res.stderr, string(outputs))
		wantFormRoles(t, c)
	})

	t.Run("an outage over failover.max_write_outage exits 1", func(t *testing.T) {
		time.Sleep(c.FailoverCooldown()) // its shard failed over in the last subtest
		out := filepath.Join(dir, "tiny")
		res := runBin(t, dir, append(env, "SLOTSHIFT_INVENTORY_FILE="+tiny), "failover-test", "--shard", c.Nodes[2].Addr, "--report-dir", out)
		if res.code != 1 {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stderr)
		}
		r := readReport(t, out, "failover-test")
		cs := checkIDs(r, "failover.shard")
		if r.Outcome != report.OutcomeFail || len(cs) != 1 || cs[0].Status != report.Fail || !strings.Contains(cs[0].Message, "over failover.max_write_outage 1ms") {
			t.Fatalf("outcome %s, checks %+v", r.Outcome, cs)
		}
		if !strings.Contains(res.stderr, "failover.shard") {
			t.Errorf("stderr does not name the failed check:\n%s", res.stderr)
		}
		wantFormRoles(t, c)
	})

	t.Run("SIGINT restores the roles, exit 130", func(t *testing.T) {
		time.Sleep(c.FailoverCooldown()) // its shard failed over in the last subtest
		out := filepath.Join(dir, "sigint")
		ch := startChild(t, append(env, "SLOTSHIFT_SETTLE=3s"), "failover-test", "--shard", c.Nodes[0].Addr, "--report-dir", out)
		ch.waitOutput(t, "failover-test replica promoted", 30*time.Second)
		if err := ch.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		st := ch.wait(t, 30*time.Second)
		if st.ExitCode() != 130 {
			t.Fatalf("exit %d, want 130\n%s", st.ExitCode(), ch.stderr)
		}
		r := readReport(t, out, "failover-test")
		if r.Outcome != report.OutcomeInterrupted || !strings.Contains(r.Error, "roles restored") || r.Failover == nil || !r.Failover.Shards[0].RolesRestored {
			t.Fatalf("outcome %s, error %q, failover %+v", r.Outcome, r.Error, r.Failover)
		}
		if !strings.Contains(ch.stderr.String(), "roles restored") {
			t.Errorf("slotshift did not say it restored the roles:\n%s", ch.stderr)
		}
		wantFormRoles(t, c)
	})

	t.Run("usage errors exit 2", func(t *testing.T) {
		for _, args := range [][]string{{"--shard", "server9:1"}, {"--shard", c.Nodes[3].Addr}, {"--rate", "-1"}} {
			res := runBin(t, dir, env, append([]string{"failover-test", "--report-dir", filepath.Join(dir, "usage")}, args...)...)
			if res.code != 2 {
				t.Errorf("failover-test %v: exit %d, want 2\n%s", args, res.code, res.stderr)
			}
		}
		wantFormRoles(t, c)
	})
}

func TestFailoverTestHelpListsFlagsAndEnvVars(t *testing.T) {
	res := runBin(t, t.TempDir(), nil, "failover-test", "--help")
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	for _, f := range []string{"shard", "rate", "clients", "timeout", "settle"} {
		env := "$SLOTSHIFT_" + strings.ToUpper(f)
		if !strings.Contains(res.stdout, "--"+f) || !strings.Contains(res.stdout, env) {
			t.Errorf("failover-test --help lacks --%s or %s", f, env)
		}
	}
	res = runBin(t, t.TempDir(), nil, "--help")
	if !strings.Contains(res.stdout, "failover-test") {
		t.Errorf("--help does not list failover-test:\n%s", res.stdout)
	}
}
