package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/report"
)

// Mode names accepted by -modes.
const (
	modeCLI       = "cli"
	modeCLI1000   = "cli1000"
	modeSlotshift = "slotshift"
	modeSeed      = "seed"
	modeBare      = "bare"
	// modeIdle moves nothing: in place of a rebalance the run sleeps for
	// -idle under the same client load, so the table shows what the
	// impact measurement reads when nothing happens. A ratio within that
	// spread is not a difference.
	modeIdle = "idle"
	// modeWatch moves nothing either, but runs slotshift's gate monitor
	// for -idle under the client load (see watchEnv): what watching alone
	// costs a client.
	modeWatch = "watch"
)

// The seed profile's gates: slotshift's absolute gates (the defaults) plus
// a hold when the client latency varies from its baseline. The variation
// gate is newer than the absolute ones; seedGates checks that the inventory
// parser knows it and falls back to the absolute gates alone when not.
const variationGate = true

// seedHoldPercent is the seed's latency variation target, percent: the
// seed mode's hold unless -seed-hold gives another.
const seedHoldPercent = 10

// variationGateYAML is the seed mode's gates block: a variation hold at
// hold percent (the seed's 10 by default) and an abort at abort percent
// (the inventory's default is 100; the seed itself names no abort).
func variationGateYAML(hold, abort float64) string {
	return fmt.Sprintf("gates:\n  latency_variation_percent: {hold: %g, abort: %g}\n", hold, abort)
}

// passwordEnv carries the cluster's password to slotshift (the
// inventory's password_env) and to the bare mover.
const passwordEnv = inventory.DefaultPasswordEnv

// modeLabels are the names the table prints.
var modeLabels = map[string]string{
	modeCLI:       "redis-cli",
	modeCLI1000:   "redis-cli p1000",
	modeSlotshift: "slotshift fast",
	modeSeed:      "slotshift seed",
	modeBare:      "bare MIGRATE",
	modeIdle:      "nothing (idle)",
	modeWatch:     "slotshift's probes (watch)",
}

// parseModes splits and checks the -modes flag.
func parseModes(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, m := range strings.Split(s, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if m == "fast" { // the table's name for the default gates
			m = modeSlotshift
		}
		if _, ok := modeLabels[m]; !ok {
			return nil, fmt.Errorf("-modes: unknown mode %q (want cli, cli1000, seed, slotshift or fast, bare, idle, watch)", m)
		}
		if seen[m] {
			return nil, fmt.Errorf("-modes: %q given twice", m)
		}
		seen[m] = true
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-modes: no mode given")
	}
	return out, nil
}

// timedRun is one timed rebalance.
type timedRun struct {
	Seconds float64 `json:"seconds"`
	// KeysMoved is the new master's DBSIZE afterwards.
	KeysMoved int64 `json:"keys_moved"`
	// NewMasterSlots is how many slots the new master owns afterwards.
	NewMasterSlots int `json:"new_master_slots"`
	// MaxRSSKB is the tool's peak resident set (rusage ru_maxrss), KiB,
	// measured through the wrapper (see measureEnv).
	MaxRSSKB int64 `json:"max_rss_kb"`
	// RSSBiasKB bounds how much of MaxRSSKB may be the wrapper's, KiB.
	RSSBiasKB int64 `json:"rss_bias_kb"`
	// ReportKeysMoved is what slotshift's report says it moved (slotshift
	// mode only).
	ReportKeysMoved int64 `json:"report_keys_moved,omitempty"`
	// BatchSeconds is the time from the first batch's start to the last
	// batch's end in slotshift's report (batches overlap, so not the sum of
	// their durations): the time spent moving slots, without start-up, waits for the
	// first gate readings and gate holds (slotshift mode only).
	BatchSeconds float64 `json:"batch_seconds,omitempty"`
	// Holds and HeldSeconds are how often, and how long in all, slotshift
	// held at a batch or slot boundary, on its gates or on an exhausted
	// pace (its report's rebalance.gates check; slotshift modes only).
	Holds       int     `json:"holds"`
	HeldSeconds float64 `json:"held_s,omitempty"`
	// DippedSeconds is how long slotshift's sources spent slowed below
	// their steady floor, summed over sources (its report's
	// rebalance.pace.dipped_s): the controller slowing down rather than
	// holding (slotshift modes only).
	DippedSeconds float64 `json:"dipped_s,omitempty"`
	// CPUSeconds is the tool's user + system CPU time.
	CPUSeconds float64 `json:"cpu_s"`
	// PingsPerMasterS is the PINGs per second the watch mode's gate
	// monitor sent each master (watch mode only).
	PingsPerMasterS float64 `json:"pings_per_master_s,omitempty"`
	// Impact is what the client load saw; nil when run without load.
	Impact *impact `json:"impact,omitempty"`
}

// runConfig is what every mode needs besides the cluster.
type runConfig struct {
	// self is this program, re-executed as the measuring wrapper.
	self          string
	slotshiftBin  string
	nodeTimeoutMS int
	slotshiftArgs []string
	timeout       time.Duration
	// seedGates is the gates block of the seed mode's inventory.
	seedGates string
	// cpuProfileDir is passed to slotshift as SLOTSHIFT_CPUPROFILE.
	cpuProfileDir string
	// idle is how long the idle mode sleeps.
	idle time.Duration
}

// runMode times one rebalance of c in mode. The returned error means the run
// is not a result (the tool failed, or its output says it did not finish);
// the caller verifies the cluster for every run that returned nil. The
// tool's output goes to <c.dir>/<mode>.log, slotshift's reports to
// <c.dir>/reports.
func runMode(ctx context.Context, c *benchCluster, mode string, rc runConfig) (timedRun, error) {
	ctx, cancel := context.WithTimeout(ctx, rc.timeout)
	defer cancel()
	var (
		args   []string
		env    []string
		report string
	)
	switch mode {
	case modeCLI, modeCLI1000:
		args = []string{"redis-cli", "--cluster", "rebalance", c.nodes[0].Addr, "--cluster-use-empty-masters"}
		if mode == modeCLI1000 {
			args = append(args, "--cluster-pipeline", "1000")
		}
		// redis-cli reads the password from REDISCLI_AUTH and uses it for
		// both its connections and MIGRATE ... AUTH; never -a (argv).
		env = childEnv("REDISCLI_AUTH=" + c.password)
	case modeBare:
		// This program again, as the bare mover (see bareEnv).
		args = append([]string{rc.self}, c.addrs()...)
		env = childEnv(bareEnv+"=1", passwordEnv+"="+c.password)
	case modeIdle:
		args = []string{"sleep", strconv.FormatFloat(rc.idle.Seconds(), 'f', 3, 64)}
		env = childEnv()
	case modeWatch:
		// This program again, as slotshift's gate monitor (see watchEnv).
		args = append([]string{rc.self}, c.addrs()...)
		env = childEnv(watchEnv+"="+rc.idle.String(), passwordEnv+"="+c.password)
	case modeSlotshift, modeSeed:
		inv := filepath.Join(c.dir, "inventory.yml")
		yml := inventoryYAML(c, rc.nodeTimeoutMS)
		if mode == modeSeed {
			yml = append(yml, rc.seedGates...)
		}
		if err := os.WriteFile(inv, yml, 0o600); err != nil {
			return timedRun{}, fmt.Errorf("write inventory %s: %w", inv, err)
		}
		report = filepath.Join(c.dir, "reports")
		args = append([]string{rc.slotshiftBin, "rebalance", "--inventory", inv, "--report-dir", report}, rc.slotshiftArgs...)
		env = childEnv(passwordEnv + "=" + c.password)
		if rc.cpuProfileDir != "" {
			env = append(env, "SLOTSHIFT_CPUPROFILE="+rc.cpuProfileDir)
		}
	default:
		return timedRun{}, fmt.Errorf("unknown mode %q", mode)
	}
	logPath := filepath.Join(c.dir, mode+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return timedRun{}, fmt.Errorf("tool log %s: %w", logPath, err)
	}
	defer logFile.Close()
	mPath := filepath.Join(c.dir, mode+".measure.json")
	cmd := measured(ctx, rc.self, mPath, args, env)
	cmd.Stdout, cmd.Stderr = logFile, logFile

	runErr := cmd.Run()
	m, err := readMeasurement(mPath)
	if err != nil {
		return timedRun{}, fmt.Errorf("%s: %w (run: %v)", strings.Join(args, " "), err, runErr)
	}
	r := timedRun{Seconds: m.Seconds, MaxRSSKB: m.MaxRSSKB, RSSBiasKB: m.BiasKB, CPUSeconds: m.CPUSeconds}
	if runErr != nil || m.ExitCode != 0 || m.Err != "" {
		why := fmt.Sprintf("exit code %d", m.ExitCode)
		if m.Err != "" {
			why = m.Err
		}
		if ctx.Err() != nil {
			why += " (" + ctx.Err().Error() + ")"
		}
		return r, fmt.Errorf("%s: %s\n--- last lines of its output (%s) ---\n%s", strings.Join(args, " "), why, logPath, tailFile(logPath, 25))
	}
	if report != "" {
		rep, err := readRebalanceReport(filepath.Join(report, "rebalance.json"))
		if err != nil {
			return r, fmt.Errorf("%w\n--- last lines of slotshift's output (%s) ---\n%s", err, logPath, tailFile(logPath, 25))
		}
		r.ReportKeysMoved = rep.Rebalance.KeysMoved
		r.BatchSeconds = batchSpan(rep.Rebalance.Batches)
		r.Holds, r.HeldSeconds = gateHolds(rep.Checks)
		if p := rep.Rebalance.Pace; p != nil {
			r.DippedSeconds = float64(p.Dipped)
		}
	}
	if mode == modeWatch {
		b, err := os.ReadFile(logPath)
		if err != nil {
			return r, err
		}
		if r.PingsPerMasterS, err = watchRate(string(b)); err != nil {
			return r, fmt.Errorf("%w (%s)", err, logPath)
		}
	}
	return r, nil
}

// inventoryYAML is the slotshift inventory for c: one server per master,
// default gates and rebalance settings. The replica of server i's master
// runs on the next loaded server, as cross-replication places it.
func inventoryYAML(c *benchCluster, nodeTimeoutMS int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ncluster:\n  name: bench\n  password_env: %s\n  node_timeout_ms: %d\nservers:\n", passwordEnv, nodeTimeoutMS)
	for i, n := range c.nodes {
		fmt.Fprintf(&b, "  - name: server%d\n    address: 127.0.0.1\n    nodes:\n      - {port: %d, role: master}\n", i+1, n.Port)
		if i < c.masters && len(c.replicas) > 0 {
			m := (i + c.masters - 1) % c.masters // the master this server's replica follows
			fmt.Fprintf(&b, "      - {port: %d, role: replica, replica_of: \"server%d:%d\"}\n", c.replicas[m].Port, m+1, c.nodes[m].Port)
		}
	}
	return []byte(b.String())
}

// parseReport reads slotshift's report at path.
func parseReport(path string) (*report.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("slotshift report: %w", err)
	}
	var rep report.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("slotshift report %s: %w", path, err)
	}
	return &rep, nil
}

// readRebalanceReport checks slotshift's rebalance report: outcome passed,
// rebalance section done and keys moved. It returns the report.
func readRebalanceReport(path string) (*report.Report, error) {
	rep, err := parseReport(path)
	if err != nil {
		return nil, err
	}
	if rep.ExitCode != 0 {
		return nil, fmt.Errorf("slotshift report %s: exit_code %d, outcome %s: %s", path, rep.ExitCode, rep.Outcome, rep.Error)
	}
	if rep.Rebalance == nil {
		return nil, fmt.Errorf("slotshift report %s: no rebalance section", path)
	}
	if !rep.Rebalance.Done {
		return nil, fmt.Errorf("slotshift report %s: rebalance.done is false (%d batches remaining)", path, rep.Rebalance.BatchesRemaining)
	}
	if rep.Rebalance.KeysMoved <= 0 || rep.Rebalance.SlotsMoved <= 0 {
		return nil, fmt.Errorf("slotshift report %s: rebalance moved %d slots, %d keys", path, rep.Rebalance.SlotsMoved, rep.Rebalance.KeysMoved)
	}
	return rep, nil
}

// gatesCheckID is the ID of slotshift's report check on its gates.
const gatesCheckID = "rebalance.gates"

// heldRe matches what the rebalance.gates check says after a run that its
// gates held: "...; held 3 time(s) at a boundary, 12.5s in all" ("before
// batches", in earlier versions).
var heldRe = regexp.MustCompile(`held (\d+) time\(s\) (?:at a boundary|before batches), ([0-9.]+)s in all`)

// gateHolds returns how often, and for how many seconds in all, the gates
// held the run, from the report's rebalance.gates check.
func gateHolds(checks []report.Check) (int, float64) {
	for _, c := range checks {
		if c.ID != gatesCheckID {
			continue
		}
		if m := heldRe.FindStringSubmatch(c.Message); m != nil {
			n, _ := strconv.Atoi(m[1])
			s, _ := strconv.ParseFloat(m[2], 64)
			return n, s
		}
	}
	return 0, 0
}

// seedGates returns the gates block of the seed mode's inventory and, when
// the variation gate had to be left out, why.
func seedGates(hold, abort float64) (string, string) {
	if !variationGate {
		return "", "the variation gate is off (variationGate); the seed mode runs the absolute gates only"
	}
	probe := "version: 1\ncluster:\n  name: probe\nservers:\n  - name: s1\n    address: 127.0.0.1\n    nodes:\n      - {port: 7000, role: master}\n" + variationGateYAML(hold, abort)
	if _, err := inventory.Parse("probe.yml", []byte(probe)); err != nil && strings.Contains(err.Error(), "latency_variation_percent") {
		return "", "the inventory does not know gates.latency_variation_percent yet; the seed mode runs the absolute gates only"
	}
	return variationGateYAML(hold, abort), ""
}

// batchSpan is the seconds from the first batch's start to the last batch's
// end; the sum of the durations when a batch has no start time.
func batchSpan(batches []report.Batch) float64 {
	var first, last time.Time
	var sum float64
	spans := true
	for _, b := range batches {
		d := time.Duration(float64(b.Duration) * float64(time.Second))
		sum += d.Seconds()
		if b.StartedAt.IsZero() {
			spans = false
			continue
		}
		if first.IsZero() || b.StartedAt.Before(first) {
			first = b.StartedAt
		}
		if end := b.StartedAt.Add(d); end.After(last) {
			last = end
		}
	}
	if !spans {
		return sum
	}
	return last.Sub(first).Seconds() // 0 without batches
}

// tailFile returns the last n lines of path, for failure messages.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	// redis-cli prints a dot per key batch on one line; keep lines short.
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "…"
		}
	}
	return strings.Join(lines, "\n")
}
