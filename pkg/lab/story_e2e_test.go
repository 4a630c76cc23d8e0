//go:build e2e

package lab_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/lab"
	"github.com/slotshift/slotshift/pkg/lab/labtest"
	"github.com/slotshift/slotshift/pkg/load"
	"github.com/slotshift/slotshift/pkg/report/reporttest"
)

// storyExtra adds to the lab's inventory: gates for a shared machine
// (this test is about the life-cycle, not throttling) and the seeds' odd
// server count rule.
const storyExtra = lab.SharedMachineGates +
	"rebalance: {batch_slots: 200, pause_between_batches: 0s, threshold_percent: 2}\n" +
	"validate: {require_odd_servers: true}\n"

// TestStory runs the seeds' story on five systemd hosts, over SSH and the
// lab's bridge, with the load generator running from this machine the
// whole time: three servers are provisioned, joined and loaded; then
// server4 and server5 are added as a pair (validate --base → provision →
// validate → join → snapshot → rebalance → verify). No acknowledged write
// may be lost, no slot may stay open and redis-cli must find the cluster
// clean. The reports of every step stay in the directory the test logs.
func TestStory(t *testing.T) {
	l := labtest.Start(t, 5)
	out := labtest.OutDir(t)
	labtest.KeepLogs(t, l, out)
	inv3 := l.Inventory(lab.InventoryOptions{Servers: 3, Extra: storyExtra})
	inv5 := l.Inventory(lab.InventoryOptions{Servers: 5, Extra: storyExtra})
	base := writeFile(t, out, "inventory-base.yml", inv3)
	writeFile(t, out, "inventory.yml", inv5)
	cli := labtest.NewCLI(t, l, inv3, out)
	t.Cleanup(func() {
		writeFile(t, out, "timings.txt", cli.Timings())
		writeJSON(t, out, "steps.json", cli.Steps)
		t.Logf("steps:\n%s", cli.Timings())
	})

	// Three servers, as the production set-up seed builds them.
	cli.Must(t, "validate-offline", "validate", "--offline")
	provision := cli.Must(t, "provision", "provision")
	checkUnits(t, l.Hosts[:3])
	cli.Must(t, "join", "join")
	cli.Must(t, "verify-3", "verify")
	gen := startLoad(t, l, 3)
	cli.Must(t, "load-data", "load", "--duration", "8s", "--keys", "20000", "--value-size", "64-512",
		"--read-percent", "0", "--keep-keys", "--prefix", "story:data:")
	dataKeys := labtest.CountKeys(t, masterAddrs(l, 3), "story:data:*")

	// The pair server4 + server5, as the scale-out seed adds it.
	cli.SetInventory(inv5)
	cli.Must(t, "validate-pr", "validate", "--offline", "--base", base)
	cli.Must(t, "provision-pair", "provision")
	checkUnits(t, l.Hosts[3:5])
	// The hosts share this machine's kernel: a container cannot set
	// vm.overcommit_memory. Validation passes, saying so once per host.
	notSettable(t, cli.Must(t, "validate-pair", "validate", "--base", base), "kernel.overcommit", 5)
	cli.Must(t, "join-pair", "join")
	cli.Must(t, "snapshot", "snapshot", "--output", filepath.Join(out, "layout-before.json"))
	rebalance := cli.Must(t, "rebalance", "rebalance")
	verify := cli.Must(t, "verify", "verify")

	res, err := gen.Stop()
	if err != nil {
		t.Errorf("load generator: %v", err)
	}
	writeJSON(t, out, "load-background.json", loadSummary(res))
	t.Logf("background load: %d ops, %d writes acknowledged, %d unknown, errors %v, moved %d, ask %d; read back %d keys: lost %d, stale %d, foreign %d, unverified %d",
		res.Ops, res.WritesAcked, res.WritesUnknown, res.Errors, res.Moved, res.Ask,
		res.Verify.Keys, res.Verify.Lost, res.Verify.Stale, res.Verify.Foreign, res.Verify.Unverified)
	if res.WritesAcked == 0 || res.Verify.Keys == 0 {
		t.Errorf("the background load acknowledged no write: it proves nothing")
	}
	if res.Verify.Lost != 0 || res.Verify.Stale != 0 || res.Verify.Foreign != 0 || res.Verify.Unverified != 0 {
		t.Errorf("acknowledged writes not read back intact: %+v", res.Verify)
	}

	addrs := nodeAddrs(l, 5)
	if open := labtest.OpenSlots(t, addrs); len(open) > 0 {
		t.Errorf("open slots after the story: %v", open)
	}
	check := labtest.ClusterCheck(t, addrs[0])
	writeFile(t, out, "redis-cli-check.txt", check)
	plain := regexp.MustCompile(`\x1b\[[0-9;]*m`).ReplaceAllString(check, "")
	if m, s := regexp.MustCompile(`(?m)^M: `).FindAllString(plain, -1), regexp.MustCompile(`(?m)^S: `).FindAllString(plain, -1); len(m) != 5 || len(s) != 5 {
		t.Errorf("redis-cli --cluster check does not show 5 masters with 5 replicas:\n%s", check)
	}
	if after := labtest.CountKeys(t, masterAddrs(l, 5), "story:data:*"); after != dataKeys || dataKeys == 0 {
		t.Errorf("the loaded data: %d keys before the scale-out, %d after", dataKeys, after)
	} else {
		t.Logf("the loaded data: %d keys before the scale-out and after", after)
	}

	for _, s := range cli.Steps {
		checkReports(t, s)
	}
	var reb struct {
		Rebalance struct {
			SlotsMoved int  `json:"slots_moved"`
			KeysMoved  int  `json:"keys_moved"`
			Done       bool `json:"done"`
		} `json:"rebalance"`
	}
	readJSON(t, filepath.Join(rebalance.ReportDir, "rebalance.json"), &reb)
	// 3 → 5 even masters: each new master takes about 16384/5 slots.
	if r := reb.Rebalance; !r.Done || r.SlotsMoved < 6000 || r.KeysMoved == 0 {
		t.Errorf("rebalance moved %d slots and %d keys (done %v); want about 6554 slots with keys", r.SlotsMoved, r.KeysMoved, r.Done)
	}
	t.Logf("rebalance moved %d slots, %d keys", reb.Rebalance.SlotsMoved, reb.Rebalance.KeysMoved)
	t.Logf("provision took %s, rebalance %s, verify %s; reports in %s",
		provision.Took.Round(time.Millisecond), rebalance.Took.Round(time.Millisecond), verify.Took.Round(time.Millisecond), out)
}

// startLoad runs the load generator against the first servers' masters
// until the test stops it (at most 15 minutes); it finds the new masters
// through redirects.
func startLoad(t *testing.T, l *lab.Lab, servers int) *load.Generator {
	t.Helper()
	var seeds []string
	for _, h := range l.Hosts[:servers] {
		seeds = append(seeds, net.JoinHostPort(h.Addr, strconv.Itoa(lab.MasterPort)))
	}
	gen, err := load.New(load.Options{
		Seeds: seeds, Password: labtest.Password,
		Duration: 15 * time.Minute, Rate: 400, Clients: 8, Keys: 5000,
		Prefix: "story:load:", ReadPercent: 50, VerifyTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gen.Start(ctx)
	t.Cleanup(func() {
		cancel()
		<-gen.Done()
	})
	return gen
}

// checkUnits asserts what provision must leave on a systemd host: both
// Redis units active and enabled (they come back after a reboot), and the
// distribution's own redis-server stopped and disabled.
func checkUnits(t *testing.T, hosts []*lab.Host) {
	t.Helper()
	ctx := context.Background()
	for _, h := range hosts {
		units := []string{"redis_" + strconv.Itoa(lab.MasterPort), "redis_" + strconv.Itoa(lab.ReplicaPort)}
		for _, query := range []string{"is-active", "is-enabled"} {
			// systemctl exits non-zero unless every unit is active (enabled).
			if _, err := h.Exec(ctx, append([]string{"systemctl", query}, units...)...); err != nil {
				t.Errorf("%s: %v", h.Name, err)
			}
		}
		out, _ := h.Exec(ctx, "systemctl", "is-active", "redis-server")
		out2, _ := h.Exec(ctx, "systemctl", "is-enabled", "redis-server")
		if state := strings.Fields(string(out) + " " + string(out2)); len(state) != 2 || state[0] != "inactive" || state[1] != "disabled" {
			t.Errorf("%s: the distribution's redis-server is %v, want inactive and disabled", h.Name, state)
		}
	}
}

// masterAddrs lists the master addresses of the first n hosts (no
// failover happens in the story: the inventory's masters are the masters).
func masterAddrs(l *lab.Lab, n int) []string {
	var addrs []string
	for _, h := range l.Hosts[:n] {
		addrs = append(addrs, net.JoinHostPort(h.Addr, strconv.Itoa(lab.MasterPort)))
	}
	return addrs
}

// nodeAddrs lists the master and replica addresses of the first n hosts.
func nodeAddrs(l *lab.Lab, n int) []string {
	var addrs []string
	for _, h := range l.Hosts[:n] {
		for _, p := range []int{lab.MasterPort, lab.ReplicaPort} {
			addrs = append(addrs, net.JoinHostPort(h.Addr, strconv.Itoa(p)))
		}
	}
	return addrs
}

// checkReports asserts that a step left its JSON and JUnit reports and
// that the JSON's exit code is the process's.
func checkReports(t *testing.T, s labtest.Step) {
	t.Helper()
	stage := s.Args[0]
	var rep struct {
		Stage    string `json:"stage"`
		Outcome  string `json:"outcome"`
		ExitCode int    `json:"exit_code"`
		Checks   []struct {
			ID      string `json:"id"`
			Status  string `json:"status"`
			Message string `json:"message"`
			Node    string `json:"node"`
		} `json:"checks"`
	}
	readJSON(t, filepath.Join(s.ReportDir, stage+".json"), &rep)
	if b, err := os.ReadFile(filepath.Join(s.ReportDir, stage+".json")); err == nil {
		reporttest.CheckJSON(t, b)
	}
	if rep.Stage != stage || rep.ExitCode != s.Code {
		t.Errorf("%s: report says stage %q exit %d; the run was %s exit %d", s.Name, rep.Stage, rep.ExitCode, stage, s.Code)
	}
	warns := 0
	for _, c := range rep.Checks {
		if c.Status == "warn" {
			warns++
		}
	}
	t.Logf("%s: %s, %d checks, %d warnings", s.Name, rep.Outcome, len(rep.Checks), warns)
	b, err := os.ReadFile(filepath.Join(s.ReportDir, stage+".junit.xml"))
	if err != nil {
		t.Errorf("%s: %v", s.Name, err)
		return
	}
	var suites struct {
		XMLName xml.Name `xml:"testsuites"`
	}
	if err := xml.Unmarshal(b, &suites); err != nil {
		t.Errorf("%s: JUnit report: %v", s.Name, err)
	}
	// Against Jenkins' schema when xmllint and the XSD are here (without
	// skipping the story when they are not).
	bin, err := exec.LookPath("xmllint")
	if _, serr := os.Stat(reporttest.XSDPath()); err == nil && serr == nil {
		if err := reporttest.RunXMLLint(t, bin, reporttest.XSDPath(), reporttest.StripFileLine(b)); err != nil {
			t.Errorf("%s: JUnit report does not validate against junit-10.xsd: %v", s.Name, err)
		}
	}
}

// notSettable fails t unless step s's report warns, for want distinct
// nodes, that check id is "not settable here".
func notSettable(t *testing.T, s labtest.Step, id string, want int) {
	t.Helper()
	var rep struct {
		Checks []struct {
			ID, Status, Node, Message string
		} `json:"checks"`
	}
	readJSON(t, filepath.Join(s.ReportDir, s.Args[0]+".json"), &rep)
	nodes := map[string]bool{}
	for _, c := range rep.Checks {
		if c.ID == id && c.Status == "warn" && strings.Contains(c.Message, "not settable here") {
			nodes[c.Node] = true
		}
	}
	if len(nodes) < want {
		t.Fatalf("step %s: %d node(s) warn that %s is not settable here, want %d (reports in %s)", s.Name, len(nodes), id, want, s.ReportDir)
	}
	t.Logf("step %s: %s not settable here on %d node(s), a warning", s.Name, id, len(nodes))
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeJSON(t *testing.T, dir, name string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, name, string(b)+"\n")
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// loadSummary is the part of a load result worth keeping in a file.
func loadSummary(r load.Result) map[string]any {
	return map[string]any{
		"run": r.Run, "elapsed_s": r.Elapsed.Seconds(), "ops": r.Ops, "reads": r.Reads, "writes": r.Writes,
		"writes_acked": r.WritesAcked, "writes_unknown": r.WritesUnknown, "moved": r.Moved, "ask": r.Ask,
		"errors": r.Errors, "latency": r.Latency, "verify": r.Verify,
		"rate": r.Options.Rate, "clients": r.Options.Clients, "keys": r.Options.Keys,
	}
}
