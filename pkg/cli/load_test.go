package cli_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/report/reporttest"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// loadKeys counts the keys under prefix on the masters (nodes 0..2).
func loadKeys(t *testing.T, c *sandboxtest.Cluster, prefix string) int {
	t.Helper()
	n := 0
	for i := range 3 {
		keys, err := c.Client(i).Keys(context.Background(), prefix+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		n += len(keys)
	}
	return n
}

// waitKeys waits until at least n keys under prefix exist.
func waitKeys(t *testing.T, c *sandboxtest.Cluster, prefix string, n int, ch *child) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for loadKeys(t, c, prefix) < n {
		select {
		case <-ch.done:
			t.Fatalf("slotshift load ended before writing %d keys:\n%s", n, ch.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d keys written within 20s:\n%s", n, ch.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readLoadReport reads load.json (validated against the schema) and
// load.junit.xml (validated against junit-10.xsd when xmllint and the XSD
// are there; parsed, with a testcase per check, in any case). Unlike
// readReport it never skips the rest of the test.
func readLoadReport(t *testing.T, dir string) report.Report {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "load.json"))
	if err != nil {
		t.Fatalf("JSON report not written: %v", err)
	}
	reporttest.CheckJSON(t, data)
	var r report.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	junit, err := os.ReadFile(filepath.Join(dir, "load.junit.xml"))
	if err != nil {
		t.Fatalf("JUnit report not written: %v", err)
	}
	if bin, err := lookPathXMLLint(); err == nil {
		if _, err := os.Stat(reporttest.XSDPath()); err == nil {
			if err := reporttest.RunXMLLint(t, bin, reporttest.XSDPath(), reporttest.StripFileLine(junit)); err != nil {
				t.Errorf("load.junit.xml does not validate: %v", err)
			}
		}
	}
	var suites struct {
		Cases []struct {
			Name string `xml:"name,attr"`
		} `xml:"testsuite>testcase"`
	}
	if err := xml.Unmarshal(junit, &suites); err != nil {
		t.Fatalf("load.junit.xml: %v", err)
	}
	names := map[string]bool{}
	for _, c := range suites.Cases {
		names[c.Name] = true
	}
	for _, c := range r.Checks {
		if !names[c.ID] {
			t.Errorf("load.junit.xml has no testcase %s", c.ID)
		}
	}
	return r
}

// noSecret fails the test when the password shows up in what slotshift
// printed or wrote.
func noSecret(t *testing.T, password, printed, dir string) {
	t.Helper()
	texts := map[string]string{"output": printed}
	for _, f := range []string{"load.json", "load.junit.xml"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		texts[f] = string(b)
	}
	for what, text := range texts {
		if strings.Contains(text, password) {
			t.Errorf("the password leaked into %s", what)
		}
	}
}

func checkStatus(t *testing.T, r report.Report, id string, st report.Status) {
	t.Helper()
	for _, c := range r.Checks {
		if c.ID == id {
			if c.Status != st {
				t.Errorf("%s: %s, want %s: %s", id, c.Status, st, c.Message)
			}
			return
		}
	}
	t.Errorf("no %s check in %+v", id, r.Checks)
}

func TestLoadCommand(t *testing.T) {
	t.Parallel()
	c := sandboxtest.Start(t, 6, sandboxtest.Options{})
	c.Form(t, 3)
	var ports []int
	for _, n := range c.Nodes {
		ports = append(ports, n.Port)
	}
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yml")
	if err := os.WriteFile(inv, []byte(clusterInventory(ports, 22)), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"SLOTSHIFT_PASSWORD=" + c.Password, "SLOTSHIFT_INVENTORY_FILE=" + inv}

	t.Run("pass", func(t *testing.T) {
		out := filepath.Join(dir, "pass")
		start := time.Now()
		// Settings from flags and from SLOTSHIFT_<FLAG> alike.
		res := runBin(t, dir, append(env, "SLOTSHIFT_CLIENTS=4", "SLOTSHIFT_READ_PERCENT=30"),
			"load", "--duration", "2s", "--rate", "800", "--keys", "500", "--value-size", "16-64", "--prefix", "cli:pass:", "--report-dir", out)
		t.Logf("TIMING slotshift load --duration 2s: exit %d in %s", res.code, time.Since(start).Round(time.Millisecond))
		if res.code != 0 {
			t.Fatalf("exit %d\n%s", res.code, res.stderr)
		}
		r := readLoadReport(t, out)
		if r.Outcome != report.OutcomePass || r.ExitCode != 0 || r.Load == nil {
			t.Fatalf("outcome %s exit %d, load section %v", r.Outcome, r.ExitCode, r.Load)
		}
		for _, id := range []string{"load.ops", "load.lost", "load.stale", "load.errors"} {
			checkStatus(t, r, id, report.Pass)
		}
		l := r.Load
		if l.Settings.Clients != 4 || l.Settings.ReadPercent != 30 || l.Settings.ValueMin != 16 || l.Settings.ValueMax != 64 || l.Settings.Rate != 800 {
			t.Errorf("settings %+v", l.Settings)
		}
		if l.Ops == 0 || l.Verify.Keys == 0 || len(l.Seconds) < 2 || l.Latency.P99 <= 0 {
			t.Errorf("load section: %d ops, %d keys read back, %d seconds, latency %+v", l.Ops, l.Verify.Keys, len(l.Seconds), l.Latency)
		}
		noSecret(t, c.Password, res.stdout+res.stderr, out)
		if n := loadKeys(t, c, "cli:pass:"); n != 0 {
			t.Errorf("%d keys left behind", n)
		}
	})

	t.Run("lost keys exit 1", func(t *testing.T) {
		out := filepath.Join(dir, "lost")
		ch := startChild(t, env, "load", "--duration", "3s", "--rate", "200", "--keys", "10000", "--read-percent", "0",
			"--prefix", "cli:lost:", "--report-dir", out)
		// Flush every master once 50 writes landed: most of those keys are
		// not written again in the rest of the run, and so are lost.
		waitKeys(t, c, "cli:lost:", 50, ch)
		for i := range 3 {
			if err := c.Client(i).FlushAll(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
		}
		st := ch.wait(t, 30*time.Second)
		if st.ExitCode() != 1 {
			t.Fatalf("exit %d, want 1\n%s", st.ExitCode(), ch.stderr)
		}
		r := readLoadReport(t, out)
		if r.Outcome != report.OutcomeFail || r.Load == nil || r.Load.Verify.Lost == 0 {
			t.Fatalf("outcome %s, load %+v", r.Outcome, r.Load)
		}
		checkStatus(t, r, "load.lost", report.Fail)
		checkStatus(t, r, "load.stale", report.Pass)
		if !strings.Contains(ch.stderr.String(), "load.lost") {
			t.Errorf("stderr does not name the failed check:\n%s", ch.stderr)
		}
		noSecret(t, c.Password, ch.stderr.String(), out)
	})

	for _, sg := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(sg.sig.String(), func(t *testing.T) {
			out := filepath.Join(dir, sg.sig.String())
			prefix := "cli:" + strings.ToLower(sg.sig.String()) + ":"
			ch := startChild(t, env, "load", "--duration", "1m", "--rate", "500", "--keys", "1000", "--prefix", prefix, "--report-dir", out)
			waitKeys(t, c, prefix, 20, ch)
			sent := time.Now()
			if err := ch.cmd.Process.Signal(sg.sig); err != nil {
				t.Fatal(err)
			}
			st := ch.wait(t, 15*time.Second)
			t.Logf("TIMING %s: exit %d after %s", sg.sig, st.ExitCode(), time.Since(sent).Round(time.Millisecond))
			if st.ExitCode() != sg.code {
				t.Fatalf("exit %d, want %d\n%s", st.ExitCode(), sg.code, ch.stderr)
			}
			r := readLoadReport(t, out)
			if r.Outcome != report.OutcomeInterrupted || r.ExitCode != sg.code || r.Load == nil {
				t.Fatalf("outcome %s exit %d, load %v", r.Outcome, r.ExitCode, r.Load)
			}
			// The read-back ran after the signal, and the keys were deleted.
			if r.Load.Verify.Keys == 0 || r.Load.Verify.Lost != 0 || r.Load.Duration > 10 {
				t.Errorf("after %s: %.1fs of load, verify %+v", sg.sig, r.Load.Duration, r.Load.Verify)
			}
			checkStatus(t, r, "load.lost", report.Pass)
			if n := loadKeys(t, c, prefix); n != 0 {
				t.Errorf("%d keys left behind", n)
			}
		})
	}

	t.Run("usage errors exit 2", func(t *testing.T) {
		for _, args := range [][]string{
			{"--value-size", "0"}, {"--value-size", "64-8"}, {"--read-percent", "101"},
			{"--keys", "2", "--clients", "4"}, {"--duration", "0s"}, {"--rate", "x"},
		} {
			out := filepath.Join(dir, "usage")
			res := runBin(t, dir, env, append([]string{"load", "--report-dir", out}, args...)...)
			if res.code != 2 {
				t.Errorf("load %v: exit %d, want 2\n%s", args, res.code, res.stderr)
			}
		}
	})
}

func TestLoadHelpListsFlagsAndEnvVars(t *testing.T) {
	res := runBin(t, t.TempDir(), nil, "load", "--help")
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stderr)
	}
	for _, f := range []string{"duration", "rate", "clients", "keys", "value-size", "read-percent", "prefix"} {
		env := "$SLOTSHIFT_" + strings.ToUpper(strings.ReplaceAll(f, "-", "_"))
		if !strings.Contains(res.stdout, "--"+f) || !strings.Contains(res.stdout, env) {
			t.Errorf("load --help lacks --%s or %s", f, env)
		}
	}
}
