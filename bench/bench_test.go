package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"log/slog"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/load"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox"
)

// TestMain lets the test binary act as the measuring wrapper, as the
// benchmark program does when it re-executes itself.
func TestMain(m *testing.M) {
	if out := os.Getenv(measureEnv); out != "" {
		os.Exit(measureMain(out, os.Args[1:]))
	}
	if os.Getenv(bareEnv) != "" {
		os.Exit(bareMain(os.Args[1:]))
	}
	if d := os.Getenv(watchEnv); d != "" {
		os.Exit(watchMain(d, os.Args[1:]))
	}
	os.Exit(m.Run())
}

var ballast []byte

// TestMeasureIsNotInflatedByParent checks the reason the wrapper exists: a
// tool's peak RSS must not include the benchmark's own (here 200 MB of
// ballast), while a tool that does use memory must show it.
func TestMeasureIsNotInflatedByParent(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs Linux /proc")
	}
	ballast = make([]byte, 200<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	defer func() { ballast = nil }()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) measurement {
		t.Helper()
		out := filepath.Join(t.TempDir(), "m.json")
		cmd := measured(context.Background(), self, out, args, os.Environ())
		_ = cmd.Run()
		m, err := readMeasurement(out)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := run("true")
	if m.ExitCode != 0 || m.Err != "" || m.Seconds <= 0 {
		t.Fatalf("true: %+v", m)
	}
	if m.MaxRSSKB > 50*1024 {
		t.Fatalf("true peaked at %d KiB: the parent's 200 MB leaked into the measurement", m.MaxRSSKB)
	}
	if m.BiasKB <= 0 || m.BiasKB > 50*1024 {
		t.Fatalf("wrapper bias %d KiB, want a few MB", m.BiasKB)
	}
	// A 64 MB shell variable must show as at least 64 MB.
	big := run("sh", "-c", `x=$(head -c 67108864 /dev/zero | tr '\0' a); test ${#x} -eq 67108864`)
	if big.ExitCode != 0 || big.MaxRSSKB < 64*1024 {
		t.Fatalf("64 MB shell: %+v, want exit 0 and >= 65536 KiB", big)
	}
	if m := run("sh", "-c", "exit 3"); m.ExitCode != 3 {
		t.Fatalf("exit 3: got %+v", m)
	}
	if m := run("/nonexistent/tool"); m.ExitCode != 127 || m.Err == "" {
		t.Fatalf("missing tool: got %+v", m)
	}
}

func TestValueSizesCoverRangeDeterministically(t *testing.T) {
	seen := map[int]bool{}
	for i := range 100000 {
		n := valueSize(i)
		if n < minValueSize || n > maxValueSize {
			t.Fatalf("valueSize(%d) = %d, want %d..%d", i, n, minValueSize, maxValueSize)
		}
		seen[n] = true
		v := appendValue(nil, i)
		if len(v) != n {
			t.Fatalf("len(appendValue(%d)) = %d, want valueSize %d", i, len(v), n)
		}
		if i < 100 && !bytes.Equal(v, appendValue(nil, i)) {
			t.Fatalf("appendValue(%d) differs between calls", i)
		}
	}
	if len(seen) != maxValueSize-minValueSize+1 {
		t.Fatalf("100000 keys use %d distinct sizes, want all %d", len(seen), maxValueSize-minValueSize+1)
	}
}

func TestAppendSetRESP(t *testing.T) {
	got := string(appendSetRESP(nil, 7))
	v := string(appendValue(nil, 7))
	want := "*3\r\n$3\r\nSET\r\n$5\r\nkey:7\r\n$" + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n"
	if got != want {
		t.Fatalf("appendSetRESP(7) = %q, want %q", got, want)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{9, 1, 5}, 5},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseModes(t *testing.T) {
	got, err := parseModes(" cli, slotshift ,")
	if err != nil || strings.Join(got, ",") != "cli,slotshift" {
		t.Fatalf("parseModes = %v, %v; want [cli slotshift]", got, err)
	}
	if got, err := parseModes("seed,fast"); err != nil || strings.Join(got, ",") != "seed,slotshift" {
		t.Fatalf("parseModes(seed,fast) = %v, %v; want [seed slotshift]", got, err)
	}
	if got, err := parseModes("idle,cli"); err != nil || strings.Join(got, ",") != "idle,cli" {
		t.Fatalf("parseModes(idle,cli) = %v, %v; want [idle cli]", got, err)
	}
	for _, bad := range []string{"", "cli,cli", "redis", "fast,slotshift"} {
		if _, err := parseModes(bad); err == nil {
			t.Errorf("parseModes(%q): no error", bad)
		}
	}
}

func TestParseFlagsRejectsNonsense(t *testing.T) {
	for _, args := range [][]string{{"-keys", "10"}, {"-runs", "0"}, {"-modes", "x"}, {"extra"}, {"-idle", "500ms"},
		{"-seed-hold", "0"}, {"-seed-hold", "100"}, {"-seed-hold", "50", "-seed-abort", "40"}} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%v): no error", args)
		}
	}
	cfg, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil || cfg.keys != 1000000 || cfg.runs != 3 || cfg.nodeTimeoutMS != 1000 || len(cfg.modes) != 7 || !cfg.load || cfg.idle != 10*time.Second ||
		cfg.seedHold != 10 || cfg.seedAbort != 100 {
		t.Fatalf("defaults = %+v, %v", cfg, err)
	}
}

func TestSummariseAndPrint(t *testing.T) {
	r := &results{Keys: 1000, Runs: 3, NodeTimeoutMS: 1000, Modes: []modeResult{
		{Mode: modeCLI, Label: modeLabels[modeCLI], Runs: []timedRun{{Seconds: 12, KeysMoved: 250}, {Seconds: 10, KeysMoved: 250}, {Seconds: 14, KeysMoved: 250}}},
		{Mode: modeCLI1000, Label: modeLabels[modeCLI1000], Runs: []timedRun{{Seconds: 6, KeysMoved: 250}}},
		{Mode: modeSlotshift, Label: modeLabels[modeSlotshift], Runs: []timedRun{{Seconds: 2, KeysMoved: 250, MaxRSSKB: 40 * 1024, BatchSeconds: 0.5}, {Seconds: 1, KeysMoved: 250, MaxRSSKB: 50 * 1024, BatchSeconds: 0.25}}},
		{Mode: modeBare, Label: modeLabels[modeBare], Runs: []timedRun{{Seconds: 1.2, KeysMoved: 250}}},
	}, Floor: &floorResult{Keys: 250, RunsS: []float64{0.5}}}
	r.summarise()
	if r.Modes[0].MedianS != 12 || r.Modes[2].MedianS != 1.5 {
		t.Fatalf("medians %v %v, want 12 1.5", r.Modes[0].MedianS, r.Modes[2].MedianS)
	}
	if v := r.Ratios.CLIOverSlotshift; v == nil || *v != 8 {
		t.Fatalf("cli/slotshift ratio %v, want 8", v)
	}
	if v := r.Ratios.CLI1000OverSlotshift; v == nil || *v != 4 {
		t.Fatalf("cli1000/slotshift ratio %v, want 4", v)
	}
	if v := r.Ratios.SlotshiftOverFloor; v == nil || *v != 3 {
		t.Fatalf("slotshift/floor ratio %v, want 3", v)
	}
	if v := r.Ratios.CLIOverBare; v == nil || *v != 10 {
		t.Fatalf("cli/bare ratio %v, want 10", v)
	}
	if v := r.Ratios.SlotshiftOverBare; v == nil || math.Abs(*v-1.25) > 1e-9 {
		t.Fatalf("slotshift/bare ratio %v, want 1.25", v)
	}
	if r.SlotshiftPeakRSSMB != 50 {
		t.Fatalf("peak RSS %v MB, want 50", r.SlotshiftPeakRSSMB)
	}
	var out bytes.Buffer
	r.print(&out)
	wantOutput(t, out.String(),
		"redis-cli / slotshift       =    8.0x  (goal >= 10x, minimum 5x)  below goal, above minimum",
		"redis-cli p1000 / slotshift =    4.0x  (goal >= 5x)  MISSED",
		"slotshift peak RSS: 50 MB (goal < 100 MB)  met",
		"slotshift moving slots (first batch start to last batch end): 0.38 s median of 1.50 s",
		"12.00 10.00 14.00",
		"floor (--pipe)",
		"bare MIGRATE",
		"redis-cli / bare MIGRATE    =   10.0x",
		"slotshift / bare MIGRATE    =    1.2x",
		"cluster-node-timeout 1000 ms",
	)
}

// A ratio next to its bound is printed with the decimals it takes to sit
// on the bound's side: a median of 4.97 read "5.0x (minimum 5x) MISSED".
func TestBoundedRatio(t *testing.T) {
	for _, c := range []struct {
		v      float64
		prec   int
		bounds []float64
		want   string
	}{
		{4.966, 1, []float64{10, 5}, "4.97"},
		{5.04, 1, []float64{10, 5}, "5.04"},
		{5, 1, []float64{5}, "5.0"},
		{8, 1, []float64{10, 5}, "8.0"},
		{4.96, 1, nil, "5.0"},
		{1.104, 2, []float64{1.10}, "1.104"},
		{1.0951, 2, []float64{1.10}, "1.095"},
		{1.22, 2, []float64{1.10}, "1.22"},
		{4.99999, 1, []float64{5}, "5.0000"}, // at most four decimals
	} {
		if got := boundedRatio(c.v, c.prec, c.bounds...); got != c.want {
			t.Errorf("boundedRatio(%v, %d, %v) = %q, want %q", c.v, c.prec, c.bounds, got, c.want)
		}
	}
	r := &results{Keys: 1000, Runs: 1, NodeTimeoutMS: 1000, Modes: []modeResult{
		{Mode: modeCLI, Label: modeLabels[modeCLI], Runs: []timedRun{{Seconds: 9.93, KeysMoved: 250, Impact: &impact{BeforeP99MS: 1, DuringP99MS: 2, Ratio: 2}}}},
		{Mode: modeSlotshift, Label: modeLabels[modeSlotshift], Runs: []timedRun{{Seconds: 2, KeysMoved: 250, Impact: &impact{BeforeP99MS: 1, DuringP99MS: 9, Ratio: 9}}}},
	}}
	r.summarise()
	var out bytes.Buffer
	r.print(&out)
	wantOutput(t, out.String(),
		"redis-cli / slotshift       =   4.96x  (goal >= 10x, minimum 5x)  MISSED (below the minimum)",
		"fast vs redis-cli speed = 4.96x (minimum 5x)  MISSED",
	)
}

func TestInventoryYAMLParses(t *testing.T) {
	c := &benchCluster{masters: 3, nodes: []*sandbox.Process{{Port: 30001}, {Port: 30002}, {Port: 30003}, {Port: 30004}}}
	inv, err := inventory.Parse("inventory.yml", inventoryYAML(c, 1000))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, inventoryYAML(c, 1000))
	}
	if len(inv.Servers) != 4 || inv.Cluster.NodeTimeoutMS != 1000 || inv.Cluster.PasswordEnv != "SLOTSHIFT_PASSWORD" {
		t.Fatalf("parsed %+v", inv)
	}
	for i, s := range inv.Servers {
		if s.Address != "127.0.0.1" || len(s.Nodes) != 1 || s.Nodes[0].Port != 30001+i || s.Nodes[0].Role != inventory.RoleMaster {
			t.Fatalf("server %d = %+v", i, s)
		}
	}

	// With replicas, server i runs the replica of server i-1's master.
	c.replicas = []*sandbox.Process{{Port: 30011}, {Port: 30012}, {Port: 30013}}
	inv, err = inventory.Parse("inventory.yml", inventoryYAML(c, 1000))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, inventoryYAML(c, 1000))
	}
	for i, s := range inv.Servers[:3] {
		m := (i + 2) % 3
		if len(s.Nodes) != 2 || s.Nodes[1].Port != 30011+m || s.Nodes[1].Role != inventory.RoleReplica || s.Nodes[1].ReplicaOf != fmt.Sprintf("server%d:%d", m+1, 30001+m) {
			t.Fatalf("server %d = %+v", i, s)
		}
	}
	if len(inv.Servers[3].Nodes) != 1 {
		t.Fatalf("the new server has %+v", inv.Servers[3].Nodes)
	}
}

func TestReadRebalanceReport(t *testing.T) {
	dir := t.TempDir()
	write := func(rep report.Report) string {
		b, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "rebalance.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := report.Report{Outcome: report.OutcomePass, Rebalance: &report.RebalanceSection{Done: true, SlotsMoved: 4096, KeysMoved: 250}}
	if rep, err := readRebalanceReport(write(ok)); err != nil || rep.Rebalance.KeysMoved != 250 {
		t.Fatalf("good report: %+v, %v", rep, err)
	}
	notDone := ok
	notDone.Rebalance = &report.RebalanceSection{Done: false, SlotsMoved: 100, KeysMoved: 7, BatchesRemaining: 3}
	if _, err := readRebalanceReport(write(notDone)); err == nil {
		t.Fatal("report with done=false accepted")
	}
	noKeys := ok
	noKeys.Rebalance = &report.RebalanceSection{Done: true}
	if _, err := readRebalanceReport(write(noKeys)); err == nil {
		t.Fatal("report that moved nothing accepted")
	}
	if _, err := readRebalanceReport(write(report.Report{ExitCode: 75, Outcome: report.OutcomeHeld})); err == nil {
		t.Fatal("held report accepted")
	}
}

// testCluster builds a small cluster of masters loaded and added empty
// masters for a test (closed at its end) and the runConfig that runs the
// bare mover through the measuring wrapper.
func testCluster(ctx context.Context, t *testing.T, keys, nodeTimeoutMS, masters, added int) (*benchCluster, runConfig) {
	t.Helper()
	needRedis(t)
	c, err := buildClusterOf(ctx, slog.New(slog.DiscardHandler), "bench-test-password-0123", keys, nodeTimeoutMS, masters, added, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return c, runConfig{self: self, nodeTimeoutMS: nodeTimeoutMS, timeout: time.Minute}
}

func needRedis(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not in PATH: %v", bin, err)
		}
	}
}

// TestBuildClusterAndVerify builds a small benchmark cluster and checks
// that it is what a run starts from (keys spread over three masters, a
// converged empty fourth, a synced replica for each loaded master), and
// that verify rejects it: nothing moved yet, and after a key is deleted the
// DBSIZE sum is wrong too.
func TestBuildClusterAndVerify(t *testing.T) {
	needRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const keys = 3000
	c, err := buildCluster(ctx, slog.New(slog.DiscardHandler), "bench-test-password-0123", keys, 1000, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	if len(c.replicas) != 3 {
		t.Fatalf("%d replicas, want one per loaded master", len(c.replicas))
	}
	for i, r := range c.replicas {
		ri, err := c.pool.ReplicationInfo(ctx, r.Addr)
		if err != nil || ri.Role != "slave" || !ri.LinkUp() {
			t.Errorf("replica %s of %s: %+v, %v", r.Addr, c.nodes[i].Addr, ri, err)
		}
	}
	if p := c.replicasCaughtUp(ctx); len(p) > 0 {
		t.Errorf("replicas behind their masters: %q", p)
	}

	var sum int64
	for i, n := range c.nodes {
		size, err := c.pool.DBSize(ctx, n.Addr)
		if err != nil {
			t.Fatal(err)
		}
		if i < 3 && size == 0 {
			t.Errorf("master %d (%s) holds no keys", i, n.Addr)
		}
		if i == 3 && size != 0 {
			t.Errorf("new master holds %d keys before the rebalance", size)
		}
		sum += size
	}
	if sum != keys {
		t.Fatalf("DBSIZE sum %d, want %d", sum, keys)
	}
	owner := c.nodes[0]
	for m, r := range masterRanges {
		if s := cluster.KeySlot(keyName(0)); s >= r.Start && s <= r.End {
			owner = c.nodes[m]
		}
	}
	got, err := c.pool.Client(owner.Addr).Get(ctx, keyName(0)).Result()
	if err != nil || got != string(appendValue(nil, 0)) {
		t.Fatalf("GET %s on %s = %q, %v; want %q", keyName(0), owner.Addr, got, err, appendValue(nil, 0))
	}

	v, err := c.verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v.NewMasterSlots != 0 || !hasProblem(v.Problems, "owns 0 slots") {
		t.Fatalf("verify before any move: slots %d, problems %q; want a complaint about 0 slots", v.NewMasterSlots, v.Problems)
	}
	if hasProblem(v.Problems, "DBSIZE") || hasProblem(v.Problems, "redis-cli --cluster check") {
		t.Fatalf("verify of an intact cluster complains about keys or redis-cli check: %q", v.Problems)
	}

	// Delete one key on its owner: verify must see the loss.
	for _, n := range c.nodes[:3] {
		k, err := c.pool.Client(n.Addr).RandomKey(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.pool.Client(n.Addr).Del(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
		break
	}
	v, err = c.verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !hasProblem(v.Problems, "DBSIZE sum over the 4 masters is 2999") {
		t.Fatalf("verify after deleting a key: %q; want a DBSIZE complaint", v.Problems)
	}

	// An open slot must fail redis-cli --cluster check.
	id, err := c.pool.MyID(ctx, c.nodes[3].Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.pool.SetSlot(ctx, c.nodes[0].Addr, 0, "MIGRATING", id); err != nil {
		t.Fatal(err)
	}
	v, err = c.verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !hasProblem(v.Problems, "open slots") || !hasProblem(v.Problems, "redis-cli --cluster check") {
		t.Fatalf("verify with slot 0 migrating: %q; want open-slot and redis-cli check complaints", v.Problems)
	}
}

func hasProblem(ps []string, sub string) bool {
	for _, p := range ps {
		if strings.Contains(p, sub) {
			return true
		}
	}
	return false
}

// TestFloor runs the floor on a few keys and checks that every SET landed.
func TestFloor(t *testing.T) {
	needRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	file := filepath.Join(t.TempDir(), "set.resp")
	if err := writeRESPFile(file, 2000); err != nil {
		t.Fatal(err)
	}
	s, err := runFloor(ctx, slog.New(slog.DiscardHandler), "bench-test-password-0123", 2000, 1000, file)
	if err != nil {
		t.Fatal(err)
	}
	if s <= 0 {
		t.Fatalf("floor took %v s", s)
	}
	// A file with more commands than claimed must be caught by the reply
	// count check.
	if _, err := runFloor(ctx, slog.New(slog.DiscardHandler), "bench-test-password-0123", 1999, 1000, file); err == nil {
		t.Fatal("floor accepted 2000 replies for 1999 keys")
	}
}

// Batches overlap: the time in batches is their span, not their sum.
func TestBatchSpan(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	overlapping := []report.Batch{
		{Number: 1, StartedAt: t0, Duration: 1},
		{Number: 2, StartedAt: t0.Add(500 * time.Millisecond), Duration: 1},
		{Number: 3, StartedAt: t0.Add(1400 * time.Millisecond), Duration: 0.5},
	}
	if got := batchSpan(overlapping); math.Abs(got-1.9) > 1e-9 {
		t.Errorf("span = %v, want 1.9", got)
	}
	unknown := []report.Batch{{Number: 1, Duration: 1}, {Number: 2, StartedAt: t0, Duration: 0.5}}
	if got := batchSpan(unknown); math.Abs(got-1.5) > 1e-9 {
		t.Errorf("without start times span = %v, want the sum 1.5", got)
	}
	if got := batchSpan(nil); got != 0 {
		t.Errorf("no batches: %v", got)
	}
}

// TestBareMover runs the bare mode through the measuring wrapper on a small
// cluster, as the benchmark does, and checks the cluster it leaves: every
// key kept, the new master at its share, no slot open, redis-cli check
// clean. A wrong password must fail the run, not pass it.
func TestBareMover(t *testing.T) {
	needRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const keys = 20000
	c, rc := testCluster(ctx, t, keys, 1000, 3, 1)

	good := c.password
	c.password = "not-the-password"
	if _, err := runMode(ctx, c, modeBare, rc); err == nil || !strings.Contains(err.Error(), "exit code 1") {
		t.Fatalf("bare mover with a wrong password: %v; want a failed run", err)
	}
	c.password = good

	tr, err := runMode(ctx, c, modeBare, rc)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Seconds <= 0 {
		t.Fatalf("run took %v s", tr.Seconds)
	}
	v, err := c.verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Problems) > 0 {
		t.Fatalf("cluster after the bare mover: %q", v.Problems)
	}
	if v.NewMasterSlots != 4096 || v.KeysMoved < keys/5 {
		t.Fatalf("new master owns %d slots and %d keys; want 4096 slots and about %d keys", v.NewMasterSlots, v.KeysMoved, keys/4)
	}
	log, err := os.ReadFile(filepath.Join(c.dir, modeBare+".log"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "bare: moved " + strconv.FormatInt(v.KeysMoved, 10) + " keys"; !strings.Contains(string(log), want) {
		t.Fatalf("bare mover's output %q lacks %q", log, want)
	}
}

// second is one second of a load run with p99 and max in ms.
func second(i int, ops int64, p99, maxMS float64, errs map[load.Kind]int64) load.Second {
	d := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return load.Second{Second: i, Ops: ops, Errors: errs, Latency: load.Latency{Count: ops, P99: d(p99), Max: d(maxMS)}}
}

func TestImpactOf(t *testing.T) {
	res := load.Result{
		Ops: 7000, WritesAcked: 3000, Moved: 12, Ask: 5,
		Errors: map[load.Kind]int64{load.KindTryAgain: 2, load.KindTimeout: 1},
		Seconds: []load.Second{
			second(0, 1000, 50, 80, nil), // warm-up: left out
			second(1, 1000, 1, 2, nil),
			second(2, 1000, 2, 3, nil),
			second(3, 1000, 3, 4, nil), // ends at 4 s: before the rebalance
			second(4, 500, 4, 9, map[load.Kind]int64{load.KindTryAgain: 2}),
			second(5, 1500, 8, 40, map[load.Kind]int64{load.KindTimeout: 1}),
			second(6, 1000, 5, 99, nil), // starts after the rebalance ended
			second(7, 1000, 7, 99, nil),
			second(8, 0, 0, 0, nil), // cut short by the stop: no operation
		},
		Verify: load.Verify{Lost: 1, Stale: 2, Foreign: 1, Unverified: 3},
	}
	d := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	w := windows{
		Before: load.Latency{Count: 3000, P99: d(2), Max: d(4)},
		During: load.Latency{Count: 2000, P99: d(7), Max: d(40)},
		After:  load.Latency{Count: 2000, P99: d(6), Max: d(99)},
		Around: load.Latency{Count: 5000, P99: d(3.5), Max: d(99)},
		// The first loadAfter of the after window with the before window:
		// another reference, another ratio.
		AroundShort: load.Latency{Count: 4000, P99: d(2.8), Max: d(99)},
		// 40 operations during followed a redirect.
		DuringDirect: load.Latency{Count: 1960, P99: d(5), Max: d(40)},
		AroundDirect: load.Latency{Count: 4990, P99: d(3.2), Max: d(99)},
	}
	im := impactOf(res, w, 4*time.Second+100*time.Millisecond, 5*time.Second+500*time.Millisecond)
	if im.BeforeP99MS != 2 || im.DuringP99MS != 7 || im.AfterP99MS != 6 || im.DuringMaxMS != 40 {
		t.Errorf("p99 before %v, during %v, after %v, max during %v ms; want the windows' 2, 7, 6, 40", im.BeforeP99MS, im.DuringP99MS, im.AfterP99MS, im.DuringMaxMS)
	}
	// The ratio is during over before and after together, not over either.
	if math.Abs(im.Ratio-2) > 1e-9 {
		t.Errorf("ratio %v, want 7 / 3.5 = 2", im.Ratio)
	}
	if math.Abs(im.ShortRatio-2.5) > 1e-9 {
		t.Errorf("ratio to the short reference %v, want 7 / 2.8 = 2.5", im.ShortRatio)
	}
	if math.Abs(im.DirectRatio-5/3.2) > 1e-9 || im.Redirected != 40 {
		t.Errorf("ratio of the direct operations %v with %d redirected, want 5 / 3.2 and 40", im.DirectRatio, im.Redirected)
	}
	// The per-second ratio of earlier rounds: seconds 4-5 (ops-weighted)
	// over seconds 1-3 and 6-7 (warm-up second 0 and the empty second 8
	// left out): (4*500 + 8*1500)/2000 over (1+2+3+5+7)/5.
	if want := ((4*500 + 8*1500) / 2000.0) / (18 / 5.0); math.Abs(im.SecondsRatio-want) > 1e-9 {
		t.Errorf("seconds ratio %v, want %v", im.SecondsRatio, want)
	}
	if im.Lost != 1 || im.Stale != 3 || im.Unverified != 3 || im.Ops != 7000 || im.WritesAcked != 3000 || im.Moved != 12 || im.Ask != 5 {
		t.Errorf("impact %+v", im)
	}
	if got := errorsText(im.Errors); got != "timeout=1 tryagain=2" {
		t.Errorf("errors %q", got)
	}
	if got := impactOf(load.Result{}, windowsOf(load.Spans{}), time.Second, 2*time.Second); got.Ratio != 0 || got.ShortRatio != 0 || got.DirectRatio != 0 || got.Redirected != 0 || got.SecondsRatio != 0 || got.BeforeP99MS != 0 || errorsText(got.Errors) != "0" {
		t.Errorf("empty load: %+v", got)
	}
}

// TestAfterFor checks that the after window follows the run's length
// between its bounds.
func TestAfterFor(t *testing.T) {
	for _, c := range []struct{ took, want time.Duration }{
		{0, loadAfter},
		{2 * time.Second, loadAfter},
		{40 * time.Second, 40 * time.Second},
		{10 * time.Minute, loadAfterMax},
	} {
		if got := afterFor(c.took); got != c.want {
			t.Errorf("afterFor(%v) = %v, want %v", c.took, got, c.want)
		}
	}
}

func TestGateHolds(t *testing.T) {
	checks := []report.Check{
		{ID: "rebalance.batch", Message: "held 9 time(s) before batches, 1.0s in all"},
		{ID: "rebalance.gates", Message: "gates green: p99 3ms; held 3 time(s) at a boundary, 12.5s in all"},
	}
	if n, s := gateHolds(checks); n != 3 || s != 12.5 {
		t.Fatalf("holds %d, %v s; want 3, 12.5", n, s)
	}
	old := []report.Check{{ID: "rebalance.gates", Message: "gates green: p99 3ms; held 4 time(s) before batches, 2.5s in all"}}
	if n, s := gateHolds(old); n != 4 || s != 2.5 {
		t.Fatalf("an earlier version's report: holds %d, %v s; want 4, 2.5", n, s)
	}
	if n, s := gateHolds([]report.Check{{ID: "rebalance.gates", Message: "gates green: p99 3ms"}}); n != 0 || s != 0 {
		t.Fatalf("no hold: %d, %v", n, s)
	}
}

// TestSeedGates checks that the seed inventory parses whichever way the
// variation gate went, and that it carries the gate when the parser knows
// it.
func TestSeedGates(t *testing.T) {
	gates, note := seedGates(seedHoldPercent, 100)
	c := &benchCluster{nodes: []*sandbox.Process{{Port: 30001}, {Port: 30002}, {Port: 30003}, {Port: 30004}}}
	yml := append(inventoryYAML(c, 1000), gates...)
	if _, err := inventory.Parse("inventory.yml", yml); err != nil {
		t.Fatalf("seed inventory: %v\n%s", err, yml)
	}
	if (gates == "") == (note == "") {
		t.Fatalf("gates %q with note %q: want exactly one", gates, note)
	}
	_, err := inventory.Parse("inventory.yml", append(inventoryYAML(c, 1000), variationGateYAML(seedHoldPercent, 100)...))
	if known := err == nil; known != (gates != "") {
		t.Fatalf("parser knows the variation gate: %v, seed gates %q", known, gates)
	}
}

// TestPrintImpact checks the impact columns and goal lines on fixed runs.
func TestPrintImpact(t *testing.T) {
	im := func(before, during, mx float64, lost int, errs map[string]int64) *impact {
		return &impact{BeforeP99MS: before, DuringP99MS: during, Ratio: during / before, DuringMaxMS: mx, Lost: lost, Errors: errs}
	}
	r := &results{Keys: 1000, Runs: 3, NodeTimeoutMS: 1000, Modes: []modeResult{
		{Mode: modeCLI, Label: modeLabels[modeCLI], Runs: []timedRun{
			{Seconds: 30, KeysMoved: 250, Impact: im(1, 3, 50, 0, map[string]int64{"tryagain": 4})},
			{Seconds: 32, KeysMoved: 250, Impact: im(1, 2, 40, 0, nil)},
			{Seconds: 31, KeysMoved: 250, Impact: im(2, 5, 60, 0, map[string]int64{"tryagain": 1})}}},
		{Mode: modeSeed, Label: modeLabels[modeSeed], Runs: []timedRun{
			{Seconds: 8, KeysMoved: 250, Holds: 2, HeldSeconds: 1.5, Impact: im(2, 2.1, 9, 0, nil)},
			{Seconds: 9, KeysMoved: 250, Holds: 0, Impact: im(2, 2.1, 7, 0, nil)},
			{Seconds: 7, KeysMoved: 250, Holds: 1, HeldSeconds: 0.5, DippedSeconds: 12.5, Impact: im(2, 2, 8, 0, nil)}}},
		{Mode: modeSlotshift, Label: modeLabels[modeSlotshift], Runs: []timedRun{
			{Seconds: 5, KeysMoved: 250, Impact: im(2, 4, 20, 1, nil)},
			{Seconds: 6, KeysMoved: 250, Impact: im(2, 4, 30, 0, nil)},
			{Seconds: 5, KeysMoved: 250, Impact: im(2, 6, 25, 0, nil)}}},
		{Mode: modeIdle, Label: modeLabels[modeIdle], Runs: []timedRun{
			{Seconds: 10, Impact: im(2, 2.2, 3, 0, nil)},
			{Seconds: 10, Impact: im(2, 2.3, 3, 0, nil)},
			{Seconds: 10, Impact: im(2, 2.4, 3, 0, nil)}}},
	}}
	// Steal read in two of the seed's runs, none in the others.
	r.Modes[1].Runs[0].Impact.Steal = &stealWindows{Before: 0, During: 4, After: 1}
	r.Modes[1].Runs[1].Impact.Steal = &stealWindows{Before: 2, During: 6, After: 0}
	for i, calm := range []float64{1.3, 1.5, 0} {
		r.Modes[1].Runs[i].Impact.SecondsRatio, r.Modes[1].Runs[i].Impact.CalmRatio = 1.2, calm
	}
	r.Modes[3].Runs[0].Impact.CalmRatio = 1.02
	r.summarise()
	if c := r.mode(modeSeed).Impact.CalmRatio; c != 1.4 {
		t.Fatalf("seed calm ratio %v, want 1.4: the median of the runs that read one", c)
	}
	if st := r.mode(modeSeed).Impact.Steal; st == nil || *st != (stealWindows{Before: 1, During: 5, After: 0.5}) {
		t.Fatalf("seed steal summary %+v, want the medians of the two runs that read it", st)
	}
	if st := r.mode(modeCLI).Impact.Steal; st != nil {
		t.Fatalf("redis-cli steal summary %+v, want none: no run read any", st)
	}
	s := r.mode(modeSeed).Impact
	if s == nil || s.Ratio != 1.05 || s.DuringMaxMS != 8 || s.BeforeP99MS != 2 {
		t.Fatalf("seed impact summary %+v", s)
	}
	c := r.mode(modeCLI).Impact
	if c.Ratio != 2.5 || c.Errors["tryagain"] != 5 || c.Lost != 0 {
		t.Fatalf("redis-cli impact summary %+v", c)
	}
	var out bytes.Buffer
	r.print(&out)
	wantOutput(t, out.String(),
		"p99_before  p99_after  p99_during  ratio  max_during",
		"tryagain=5",
		"slotshift seed: p99 during/around = 1.05x (goal <= 1.10x)  met",
		"redis-cli: p99 during/around = 2.50x",
		"slotshift fast: p99 during/around = 2.00x",
		"slotshift seed beats redis-cli: p99 ratio yes (1.05x vs 2.50x), time yes (8.00 s vs 31.00 s)  met",
		"fast vs redis-cli speed = 6.2x (minimum 5x)  met",
		"slotshift seed holds per run: 2 (1.5 s), 0 (0.0 s), 1 (0.5 s)",
		"slotshift seed time its sources spent below their steady floor, per run (summed over sources): 0.0 s, 0.0 s, 12.5 s",
		"acknowledged writes lost, all modes and runs: 1 (must be 0), stale: 0  MISSED",
		"2 0 1", // the seed row's holds column
		"nothing running (idle, 10 s): p99 during/around = 1.15x (runs 1.10x to 1.20x), the measurement's own spread here:",
		"a ratio within it is no difference; it is above the seed's goal of 1.10x, so here that goal is inside the noise",
		"host steal (CPU time the hypervisor gave elsewhere",
		"    slotshift seed 1.0 / 5.0 / 0.5\n",
		"(goal <= 1.10x)  met  (mean of per-second p99s, as reported before: 1.20x; over the seconds without host steal: 1.40x)",
		"    over the seconds without host steal it read 1.02x (mean of per-second p99s)\n",
	)
	for _, not := range []string{"    redis-cli 0", "it ran 10 s and the seed profile", "slotshift fast time its sources"} {
		if strings.Contains(out.String(), not) {
			t.Errorf("output has %q:\n%s", not, out.String())
		}
	}
	js, err := json.Marshal(r)
	if err != nil || !strings.Contains(string(js), `"p99_ratio":1.05`) {
		t.Fatalf("JSON %s, %v", js, err)
	}

	// An idle control far shorter than the seed's runs says so.
	for i := range r.Modes[1].Runs {
		r.Modes[1].Runs[i].Seconds *= 50
	}
	r.summarise()
	out.Reset()
	r.print(&out)
	if want := "it ran 10 s and the seed profile 400 s: a longer window holds more of the machine's rare slow seconds\n" +
		"    (-modes idle -idle 400s measures the spread at the seed's length)"; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}

	// Another budget than the seed's (-seed-hold) is not judged on the
	// seed's goal.
	r.SeedHold = 100
	out.Reset()
	r.print(&out)
	want := "slotshift seed: p99 during/around = 1.05x (its hold is 100%, not the seed's 10%: the goal of <= 1.10x is not judged)"
	if !strings.Contains(out.String(), want) || strings.Contains(out.String(), "(goal <= 1.10x)  met") {
		t.Errorf("at hold 100%%, output lacks %q or still judges the goal:\n%s", want, out.String())
	}
}

// runStill runs mode, one that moves nothing (idle, watch), for 2 s under
// the client load on a real cluster, and checks what every such run must
// show: it took about 2 s, the impact is measured, no acknowledged write
// is lost, and no key moved.
func runStill(t *testing.T, mode string) (*benchCluster, timedRun) {
	t.Helper()
	needRedis(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	c, rc := testCluster(ctx, t, 5000, 1000, 3, 1)
	rc.idle = 2 * time.Second
	tr, err := runUnderLoad(ctx, c, mode, rc)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Seconds < 2 || tr.Seconds > 10 {
		t.Fatalf("%s run took %.2f s, want about 2 s", mode, tr.Seconds)
	}
	im := tr.Impact
	if im == nil || im.BeforeP99MS <= 0 || im.DuringP99MS <= 0 || im.Ratio <= 0 {
		t.Fatalf("impact %+v: want p99 before, during and ratio measured", im)
	}
	if im.Lost != 0 || im.Stale != 0 || im.Unverified != 0 {
		t.Fatalf("acknowledged writes lost %d, stale %d, unverified %d", im.Lost, im.Stale, im.Unverified)
	}
	v, err := c.verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v.KeysMoved != 0 {
		t.Fatalf("%s moved %d keys", mode, v.KeysMoved)
	}
	return c, tr
}

// TestIdleUnderLoad runs the idle mode under the client load on a real
// cluster: nothing moves, the sleep is timed like a tool, and the impact
// is measured the same way; no acknowledged write may be lost.
func TestIdleUnderLoad(t *testing.T) {
	c, tr := runStill(t, modeIdle)
	// Linux has counted steal since 2.6.11: the windows are read, and the
	// per-second series covers the whole load.
	if _, ok := readSteal(); ok {
		if st := tr.Impact.Steal; st == nil || st.Before < 0 || st.During < 0 || st.After < 0 {
			t.Fatalf("steal %+v: want each window read", st)
		}
		var ls loadSeconds
		b, err := os.ReadFile(filepath.Join(c.dir, modeIdle+".load.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &ls); err != nil {
			t.Fatal(err)
		}
		// The load runs the 8 s baseline, the 2 s idle and 5 s after it.
		if n := len(ls.StealMS); n < 12 || n > 20 {
			t.Fatalf("%d seconds of steal in load.json, want one for each of the load's ~15 s", n)
		}
	}
}

// TestWatchUnderLoad runs the watch mode (slotshift's gate monitor alone)
// under the client load on a real cluster: it moves nothing, loses no
// write, and PINGs every master at the monitor's own rate.
func TestWatchUnderLoad(t *testing.T) {
	_, tr := runStill(t, modeWatch)
	// The monitor PINGs each master once per gate.ProbeInterval; timer
	// slack and the first round trip only ever lower the rate.
	want := 1 / gate.ProbeInterval(4, 10*time.Millisecond).Seconds()
	if tr.PingsPerMasterS < want/2 || tr.PingsPerMasterS > want*1.05 {
		t.Fatalf("watch PINGed each master %.1f times a second, want about %.0f", tr.PingsPerMasterS, want)
	}
	if tr.CPUSeconds <= 0 {
		t.Fatalf("watch CPU %v s: want the monitor's CPU time measured", tr.CPUSeconds)
	}
}

// TestWatchRate reads the watcher's PING count back from its output, and
// refuses output that does not end with it.
func TestWatchRate(t *testing.T) {
	good := "some log line\n" + fmt.Sprintf(watchLine, 2400, 4, 6.0) + "\n"
	if got, err := watchRate(good); err != nil || got != 100 {
		t.Fatalf("watchRate(%q) = %v, %v; want 100", good, got, err)
	}
	for _, bad := range []string{
		"",
		"watch: redis: connection refused\n",
		fmt.Sprintf(watchLine, 2400, 0, 6.0),
		fmt.Sprintf(watchLine, 2400, 4, 6.0) + "\nwatch: a later error",
	} {
		if got, err := watchRate(bad); err == nil {
			t.Errorf("watchRate(%q) = %v, want an error", bad, got)
		}
	}
}

// TestPrintWatch: the watch mode's line gives its ratios, PING rate and
// CPU share, and there is no such line without the mode.
func TestPrintWatch(t *testing.T) {
	im := func(before, during float64) *impact {
		return &impact{BeforeP99MS: before, DuringP99MS: during, Ratio: during / before, ShortRatio: 1.2, DirectRatio: 0.9, Redirected: 7, SecondsRatio: 0.95, CalmRatio: 0.93}
	}
	r := &results{Keys: 1000, Runs: 1, NodeTimeoutMS: 1000, Modes: []modeResult{
		{Mode: modeWatch, Label: modeLabels[modeWatch], Runs: []timedRun{
			{Seconds: 300, CPUSeconds: 10.2, PingsPerMasterS: 99.9, Impact: im(0.34, 0.33)}}},
	}}
	r.summarise()
	var out bytes.Buffer
	r.print(&out)
	wantOutput(t, out.String(),
		"slotshift's gate probes alone (watch, 300 s): p99 during/around = 0.97x  (to the 7 s before and 5 s after: 1.20x; without the 7 operations during that followed MOVED or ASK: 0.90x; mean of per-second p99s, as reported before: 0.95x; over the seconds without host steal: 0.93x)\n",
		"    100 PINGs/s to each master, the monitor's CPU 3.4% of a core (medians)",
	)
	r.Modes[0].Mode = modeIdle
	r.summarise()
	out.Reset()
	r.print(&out)
	if strings.Contains(out.String(), "gate probes alone") {
		t.Errorf("a watch line without the watch mode:\n%s", out.String())
	}
}

// TestRunUnderLoad runs one small real rebalance (the bare mover) under the
// client load and checks that every impact field is measured, no
// acknowledged write is lost, and the load leaves no key behind.
func TestRunUnderLoad(t *testing.T) {
	needRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const keys = 20000
	c, rc := testCluster(ctx, t, keys, 1000, 3, 1)
	tr, err := runUnderLoad(ctx, c, modeBare, rc)
	if err != nil {
		t.Fatal(err)
	}
	im := tr.Impact
	if im == nil || im.BeforeP99MS <= 0 || im.DuringP99MS <= 0 || im.Ratio <= 0 || im.ShortRatio <= 0 || im.DirectRatio <= 0 || im.DuringMaxMS <= 0 {
		t.Fatalf("impact %+v: want p99 before, during, both ratios and max measured", im)
	}
	// About loadRate ops/s over the baseline and the run; a loaded
	// machine may fall short, but not to nothing.
	if im.Ops < loadRate || im.WritesAcked < loadRate/10 {
		t.Fatalf("load did %d ops, %d acknowledged writes in %v s + %v baseline", im.Ops, im.WritesAcked, tr.Seconds, loadBaseline)
	}
	if im.Lost != 0 || im.Stale != 0 || im.Unverified != 0 {
		t.Fatalf("acknowledged writes lost %d, stale %d, unverified %d", im.Lost, im.Stale, im.Unverified)
	}
	v, err := c.verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Problems) > 0 {
		t.Fatalf("cluster after the run under load (load keys must be gone): %q", v.Problems)
	}
}

func TestPingCallsAndScalePrint(t *testing.T) {
	if n := pingCalls("calls=12,usec=30,usec_per_call=2.50,rejected_calls=0,failed_calls=0"); n != 12 {
		t.Fatalf("pingCalls = %d, want 12", n)
	}
	if n := pingCalls(""); n != 0 {
		t.Fatalf("pingCalls of nothing = %d", n)
	}
	lo, mid, hi := minMedianMax([]float64{3, 1, 2, 10})
	if lo != 1 || mid != 2.5 || hi != 10 {
		t.Fatalf("minMedianMax = %v %v %v", lo, mid, hi)
	}
	var out bytes.Buffer
	s := &scaleResult{Masters: 50, Added: 2, Keys: 1000, Seconds: 12, CPUSeconds: 3.5, MaxRSSMB: 40, KeysMoved: 38, PingsPerSMin: 9, PingsPerSMedian: 10, PingsPerSMax: 12.5}
	s.print(&out)
	wantOutput(t, out.String(), "50 loaded masters + 2 empty", "CPU 3.50 s, peak RSS 40 MB, holds 0 (0.0 s), no abort", "min 9.0, median 10.0, max 12.5")
	out.Reset()
	s.Aborted = true
	path := filepath.Join(t.TempDir(), "rebalance.json")
	reportAt := func(p string) *report.Report { r, _ := parseReport(p); return r } // nil: none
	if why := abortReason(reportAt(path), errors.New("slotshift: exit code 1\nmore")); why != "slotshift: exit code 1" {
		t.Fatalf("reason without a report: %q", why)
	}
	rep := report.Report{Checks: []report.Check{{ID: "rebalance.plan", Status: report.Fail, Message: "other"},
		{ID: "rebalance.gates", Status: report.Fail, Message: "aborted after 1 batch(es): latency_avg 113.2ms > abort 50ms"}}}
	if b, err := json.Marshal(rep); err != nil || os.WriteFile(path, b, 0o600) != nil {
		t.Fatal(err)
	}
	s.Why = abortReason(reportAt(path), errors.New("slotshift: exit code 1"))
	s.KeysMoved, s.Holds, s.HeldSeconds, s.HoldsUnknown = stoppedAt(reportAt(path))
	s.print(&out)
	if !strings.Contains(out.String(), "DID NOT FINISH (aborted, held past its timeout or failed): aborted after 1 batch(es): latency_avg 113.2ms > abort 50ms") || strings.Contains(out.String(), "no abort") {
		t.Errorf("aborted run prints %q", out.String())
	}
	if !strings.Contains(out.String(), "0 keys moved before it stopped") || !strings.Contains(out.String(), "holds 0 (0.0 s)") {
		t.Errorf("aborted run with a gates check and no rebalance section prints %q", out.String())
	}

	// An interrupted run: its report has the keys it moved but no gates
	// check, so its holds are not counted rather than printed as none.
	rep = report.Report{Rebalance: &report.RebalanceSection{KeysMoved: 3395}, Checks: []report.Check{{ID: "rebalance.plan", Status: report.Pass}}}
	if b, err := json.Marshal(rep); err != nil || os.WriteFile(path, b, 0o600) != nil {
		t.Fatal(err)
	}
	s.KeysMoved, s.Holds, s.HeldSeconds, s.HoldsUnknown = stoppedAt(reportAt(path))
	out.Reset()
	s.print(&out)
	if !strings.Contains(out.String(), "3395 keys moved before it stopped") || !strings.Contains(out.String(), "holds not counted") {
		t.Errorf("interrupted run prints %q", out.String())
	}
	if keys, _, _, unknown := stoppedAt(reportAt(filepath.Join(t.TempDir(), "none.json"))); keys != 0 || !unknown {
		t.Errorf("no report: %d keys, unknown %v", keys, unknown)
	}
}

// TestClusterOfMoreMasters builds the at-scale shape in small (five loaded
// masters and a pair of empty ones), rebalances it with the bare mover and
// checks that verify judges every new master, and that PINGs are counted.
func TestClusterOfMoreMasters(t *testing.T) {
	needRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const keys = 5000
	c, rc := testCluster(ctx, t, keys, scaleNodeTimeoutMS, 5, 2)
	v, err := c.verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !hasProblem(v.Problems, "new master "+c.nodes[5].Addr+" owns 0 slots, want 2340") || !hasProblem(v.Problems, c.nodes[6].Addr) {
		t.Fatalf("verify before the rebalance: %q; want both new masters flagged", v.Problems)
	}
	before, err := c.pings(ctx)
	if err != nil || len(before) != 7 {
		t.Fatalf("pings %v, %v", before, err)
	}
	if err := c.pool.Ping(ctx, c.nodes[3].Addr); err != nil {
		t.Fatal(err)
	}
	after, err := c.pings(ctx)
	if err != nil || after[3] != before[3]+1 {
		t.Fatalf("PINGs on node 3: %d then %d (%v); want one more", before[3], after[3], err)
	}
	if _, err := runMode(ctx, c, modeBare, rc); err != nil {
		t.Fatal(err)
	}
	if v, err = c.verify(ctx); err != nil || len(v.Problems) > 0 {
		t.Fatalf("after the rebalance: %q, %v", v.Problems, err)
	}
	if v.KeysMoved < keys/5 {
		t.Fatalf("the two new masters hold %d keys, want about %d", v.KeysMoved, 2*keys/7)
	}
}

// TestPrintFailedRuns checks that a failed run is listed with its reason
// and its load, left out of the medians, and that its lost writes count.
func TestPrintFailedRuns(t *testing.T) {
	r := &results{Keys: 1000, Runs: 2, Modes: []modeResult{
		{Mode: modeSeed, Label: modeLabels[modeSeed],
			Runs: []timedRun{{Seconds: 8, KeysMoved: 250, Impact: &impact{BeforeP99MS: 2, DuringP99MS: 3, Ratio: 1.5}}},
			Failed: []failedRun{{Round: 2, Seconds: 41.5, Error: "exit code 1: aborted on gate.latency_variation_p99",
				Impact: &impact{BeforeP99MS: 1, DuringP99MS: 9, Ratio: 9, Lost: 2}}}},
	}}
	r.summarise()
	if m := r.mode(modeSeed); m.MedianS != 8 || r.failedRuns() != 1 {
		t.Fatalf("median %v over the finished run only, failed %d", m.MedianS, r.failedRuns())
	}
	var out bytes.Buffer
	r.print(&out)
	wantOutput(t, out.String(),
		"failed run: round 2, "+modeLabels[modeSeed]+" after 41.5 s (load: p99 1.00 ms before, 9.00 ms during, 0.00 ms after, lost/stale 2/0): exit code 1: aborted",
		"acknowledged writes lost, all modes and runs: 2 (must be 0)",
	)
}

// TestParseSteal reads the steal field of /proc/stat's first line.
func TestParseSteal(t *testing.T) {
	for _, tc := range []struct {
		name string
		stat string
		want time.Duration
		ok   bool
	}{
		{"a 6.x kernel", "cpu  220375 0 69990 1421564 2360 0 18360 3647 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n", 36470 * time.Millisecond, true},
		{"no steal yet", "cpu  1 2 3 4 5 6 7 0\n", 0, true},
		{"before 2.6.11: no steal field", "cpu  1 2 3 4 5 6 7\n", 0, false},
		{"not the summed line", "cpu0 1 2 3 4 5 6 7 8 9\n", 0, false},
		{"not a number", "cpu  1 2 3 4 5 6 7 x 9\n", 0, false},
		{"empty", "", 0, false},
	} {
		got, ok := parseSteal([]byte(tc.stat))
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: parseSteal = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// TestStealRates classes the seconds as impactOf does and averages each
// window's steal per second.
func TestStealRates(t *testing.T) {
	ms := func(v ...float64) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x*float64(time.Millisecond)))
		}
		return out
	}
	// Second 0 is warm-up; 1-2 before; the rebalance from 3.5 s to 5.2 s
	// touches 3, 4 and 5; 6-7 after.
	per := ms(100, 2, 4, 10, 20, 30, 0, 8)
	b, d, a := stealRates(per, 3500*time.Millisecond, 5200*time.Millisecond)
	if b != 3 || d != 20 || a != 4 {
		t.Fatalf("stealRates = %v, %v, %v; want 3, 20, 4", b, d, a)
	}
	if b, d, a := stealRates(nil, time.Second, 2*time.Second); b != 0 || d != 0 || a != 0 {
		t.Fatalf("no seconds: %v, %v, %v; want zeros", b, d, a)
	}
}

// TestStealSamplerBooks books each reading to the second that ended at it,
// and a nil sampler (no steal to read) stops to nothing.
func TestStealSamplerBooks(t *testing.T) {
	s := &stealSampler{done: make(chan struct{})}
	s.add(1010*time.Millisecond, 5*time.Millisecond) // the tick ending second 0
	s.add(2990*time.Millisecond, 7*time.Millisecond) // second 2's: second 1's tick was missed
	got := s.stop()
	want := []time.Duration{5 * time.Millisecond, 0, 7 * time.Millisecond}
	if !slices.Equal(got, want) {
		t.Fatalf("per-second steal %v, want %v", got, want)
	}
	var none *stealSampler
	if got := none.stop(); got != nil {
		t.Fatalf("nil sampler stopped to %v", got)
	}
}

// TestCalmRatio leaves the seconds with host steal out of both sides of
// the per-second ratio, and classes the rest as impactOf does.
func TestCalmRatio(t *testing.T) {
	sec := func(i int, p99ms float64) load.Second {
		return load.Second{Second: i, Ops: 100, Latency: load.Latency{Count: 100, P99: time.Duration(p99ms * float64(time.Millisecond))}}
	}
	// Second 0 is warm-up; 1-3 before; the rebalance from 4 s to 7 s;
	// 7-8 after; second 9 has no steal reading.
	secs := []load.Second{sec(0, 50), sec(1, 1), sec(2, 9), sec(3, 1), sec(4, 2), sec(5, 20), sec(6, 2), sec(7, 1), sec(8, 1), sec(9, 30)}
	tick, stall := 10*time.Millisecond, 300*time.Millisecond
	steal := []time.Duration{0, 0, stall, tick, 0, stall, 0, 0, 0}
	r, ref, during := calmRatio(secs, steal, 4*time.Second, 7*time.Second)
	if r != 2 || ref != 4 || during != 2 {
		t.Fatalf("calmRatio = %v over %d and %d seconds; want 2 over 4 and 2 (seconds 2 and 5 stalled, 0 warm-up, 9 unread)", r, ref, during)
	}
	if r, _, _ := calmRatio(secs, nil, 4*time.Second, 7*time.Second); r != 0 {
		t.Fatalf("without steal readings: %v, want 0", r)
	}
}

// TestStealHeader prints the host's steal over the benchmark and warns
// from 1% of the CPUs' time; without a reading it prints nothing.
func TestStealHeader(t *testing.T) {
	for _, tc := range []struct {
		steal, wall float64
		want        string
		warn        bool
	}{
		{20, 500, "steal:   the host took 20.0 s of CPU time over the benchmark's 500 s (2.00% of its CPUs' time)", true},
		{1, 500, "steal:   the host took 1.0 s of CPU time over the benchmark's 500 s (0.10% of its CPUs' time)", false},
		{0, 0, "", false},
	} {
		r := &results{Machine: machine{CPUs: 2, StealS: tc.steal, WallS: tc.wall}}
		var out bytes.Buffer
		r.print(&out)
		if got := strings.Contains(out.String(), "steal:"); got != (tc.want != "") || !strings.Contains(out.String(), tc.want) {
			t.Errorf("steal %v over %v s: output lacks %q (or has a steal line it should not):\n%s", tc.steal, tc.wall, tc.want, out.String())
		}
		if got := strings.Contains(out.String(), "WARNING: the host stalls"); got != tc.warn {
			t.Errorf("steal %v over %v s: warning %v, want %v", tc.steal, tc.wall, got, tc.warn)
		}
	}
	// endSteal reads the steal since the facts were gathered.
	if at, ok := readSteal(); ok {
		m := machine{stealAt: at, stealOK: true}
		m.endSteal(time.Minute)
		if m.WallS != 60 || m.StealS < 0 {
			t.Fatalf("endSteal: %v s of steal over %v s, want >= 0 over 60", m.StealS, m.WallS)
		}
	}
}

// wantOutput fails t for each of wants that out lacks, printing out.
func wantOutput(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
