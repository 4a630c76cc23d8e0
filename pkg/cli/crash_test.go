package cli_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/report"
	"github.com/slotshift/slotshift/pkg/sandbox/sandboxtest"
)

// These tests run the real binary against real redis-server clusters and
// kill it, hold it, abort it and interrupt it, then check what it left.

const crashValueSize = 32

// Runs that are not about gates get generous limits, so that a loaded
// test machine does not hold them.
var crashGreen = sandboxtest.GenerousGates

// crashRed holds on every reading (no PING answers within a microsecond)
// until holdTimeout.
func crashRed(holdTimeout string) string { return sandboxtest.Gates("0.001", holdTimeout) }

// crashFixture is a 3-master, 3-replica cluster with keys plus one empty
// master joined and converged (server4, without a replica), and a place to
// write inventories and reports.
type crashFixture struct {
	c    *sandboxtest.Cluster
	dir  string
	keys int
	env  []string
	runs int // inventories written, for unique file names
}

func newCrashFixture(t *testing.T, keys int) *crashFixture {
	t.Helper()
	c := sandboxtest.Start(t, 6, sandboxtest.Options{NodeTimeoutMS: 1000})
	c.Form(t, 3)
	c.Load(t, keys, crashValueSize)
	c.AddNodes(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Client(0).ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(c.Nodes[6].Port)).Err(); err != nil {
		t.Fatalf("CLUSTER MEET %s: %v", c.Nodes[6].Addr, err)
	}
	c.WaitConverged(t)
	return &crashFixture{c: c, dir: t.TempDir(), keys: keys, env: []string{"SLOTSHIFT_PASSWORD=" + c.Password}}
}

// inventory writes an inventory file: server1..3 cross-replicated as Form
// built them, server4 with the new master only; weights by server name
// ("" = default); gates and rebalance settings appended verbatim.
func (f *crashFixture) inventory(t *testing.T, weights map[string]string, tail string) string {
	t.Helper()
	p := f.c.Ports()
	text := sandboxtest.CrossInventory(p[:6], 3, sandboxtest.InventoryOptions{Name: "crash", Weights: weights,
		Extra: sandboxtest.Server("server4", weights["server4"], p[6], 0, "") + tail})
	f.runs++
	path := filepath.Join(f.dir, fmt.Sprintf("inventory-%d.yml", f.runs))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// reportDir returns a fresh report directory.
func (f *crashFixture) reportDir(name string) string {
	return filepath.Join(f.dir, "reports-"+name)
}

// child is a slotshift process running in the background.
type child struct {
	cmd    *exec.Cmd
	stderr *sandboxtest.Output
	done   chan struct{}
	err    error
	start  time.Time
}

// startChild starts slotshift with env added to baseEnv. t.Cleanup kills it
// (by its own pid) if the test ends while it still runs.
func startChild(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(baseEnv(), env...)
	ch := &child{cmd: cmd, stderr: &sandboxtest.Output{}, done: make(chan struct{}), start: time.Now()}
	cmd.Stdout, cmd.Stderr = ch.stderr, ch.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start slotshift: %v", err)
	}
	go func() { ch.err = cmd.Wait(); close(ch.done) }()
	t.Cleanup(func() {
		select {
		case <-ch.done:
		default:
			_ = cmd.Process.Kill()
			<-ch.done
		}
	})
	return ch
}

// wait waits for the process to end and returns its state.
func (ch *child) wait(t *testing.T, within time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-ch.done:
	case <-time.After(within):
		t.Fatalf("slotshift %s still running after %s\n%s", strings.Join(ch.cmd.Args[1:], " "), within, ch.stderr)
	}
	var ee *exec.ExitError
	if ch.err != nil && !errors.As(ch.err, &ee) {
		t.Fatalf("slotshift: %v", ch.err)
	}
	return ch.cmd.ProcessState
}

// runChild runs slotshift to its end and returns its state and output.
func runChild(t *testing.T, env []string, args ...string) (*os.ProcessState, string) {
	t.Helper()
	ch := startChild(t, env, args...)
	st := ch.wait(t, 2*time.Minute)
	t.Logf("TIMING slotshift %s: exit %d in %s", strings.Join(args, " "), st.ExitCode(), time.Since(ch.start).Round(time.Millisecond))
	return st, ch.stderr.String()
}

// waitOutput waits until the process has printed want.
func (ch *child) waitOutput(t *testing.T, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(ch.stderr.String(), want) {
		select {
		case <-ch.done:
			t.Fatalf("slotshift ended before printing %q:\n%s", want, ch.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("slotshift did not print %q within %s:\n%s", want, within, ch.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// slotCounts is node 0's view of every master's slot count.
func slotCounts(t *testing.T, c *sandboxtest.Cluster) map[string]int {
	t.Helper()
	text, err := c.Client(0).ClusterNodes(context.Background()).Result()
	if err != nil {
		t.Fatalf("CLUSTER NODES on %s: %v", c.Nodes[0].Addr, err)
	}
	nodes, err := cluster.ParseNodes(text)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, n := range nodes {
		if n.IsMaster() {
			out[n.Addr] = n.Slots.Len()
		}
	}
	return out
}

// wantShares asserts every master owns its weighted share of the slots
// within 2% (the inventory's default threshold).
func wantShares(t *testing.T, counts map[string]int, weights map[string]float64) {
	t.Helper()
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	for addr, w := range weights {
		share := float64(cluster.NumSlots) * w / sum
		slack := math.Ceil(share * 0.02)
		if got := float64(counts[addr]); math.Abs(got-share) > slack {
			t.Errorf("master %s owns %d slots, want %.0f ± %.0f (weights %v, all %v)", addr, counts[addr], share, slack, weights, counts)
		}
	}
}

// healthy asserts what every finished or stopped run must leave.
func (f *crashFixture) healthy(t *testing.T) {
	t.Helper()
	f.c.Healthy(t, f.keys, crashValueSize)
}

func signalOf(st *os.ProcessState) syscall.Signal {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal()
	}
	return 0
}

func checkIDs(r report.Report, id string) []report.Check {
	var out []report.Check
	for _, c := range r.Checks {
		if c.ID == id {
			out = append(out, c)
		}
	}
	return out
}

// TestRebalanceSurvivesSIGKILL kills the real binary at several points of
// the slot protocol (it SIGKILLs itself through the hidden fault flag, so
// the point is exact), checks that the crash left an open slot where it
// must, then re-runs it: the run closes the open slots, finishes the plan
// and leaves a balanced, consistent cluster with every key. Each round
// changes the weights so that there is something to move.
func TestRebalanceSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	f := newCrashFixture(t, 20000)
	a := f.c.Addrs()
	tail := crashGreen + "rebalance: {batch_slots: 500}\n"

	// server4 has no replica: validate fails on that rule, but it is policy,
	// not a broken inventory, so rebalance still acts on the inventory.
	inv := f.inventory(t, nil, tail)
	st, out := runChild(t, f.env, "validate", "--offline", "--inventory", inv, "--report-dir", f.reportDir("validate"))
	if st.ExitCode() != 1 {
		t.Errorf("validate --offline: exit %d, want 1\n%s", st.ExitCode(), out)
	}
	vr := readReport(t, f.reportDir("validate"), "validate")
	if got := checkIDs(vr, "inventory.master_has_replica"); len(got) != 1 || got[0].Status != report.Fail || got[0].Node != a[6] {
		t.Errorf("validate: master_has_replica checks %+v, want one failure for %s", got, a[6])
	}

	rounds := []struct {
		kill    string
		open    bool // the crash point leaves a slot open
		weights map[string]string
	}{
		// Between IMPORTING on the target and MIGRATING on the source.
		{kill: "migrating", open: true},
		// The target owns the slot, the source still migrates it.
		{kill: "node-source", open: true, weights: map[string]string{"server4": "2"}},
		// Both sides open, before the second slot's keys move.
		{kill: "keys:2", open: true, weights: map[string]string{"server1": "2"}},
		// Both sides closed; the other masters were not told.
		{kill: "node-others", weights: map[string]string{"server2": "3"}},
	}
	for i, rd := range rounds {
		ok := t.Run(rd.kill, func(t *testing.T) {
			inv := f.inventory(t, rd.weights, tail)
			dir := f.reportDir(fmt.Sprintf("kill-%d", i))
			st, out := runChild(t, f.env, "rebalance", "--inventory", inv, "--report-dir", dir, "--fault-kill-at", rd.kill)
			if sig := signalOf(st); sig != syscall.SIGKILL || st.ExitCode() != -1 {
				t.Fatalf("--fault-kill-at %s: exit %d signal %v, want death by SIGKILL\n%s", rd.kill, st.ExitCode(), sig, out)
			}
			if rd.open {
				open := f.c.OpenSlots(t)
				if len(open) == 0 {
					t.Fatalf("killed at %s, yet no slot is open", rd.kill)
				}
				t.Logf("killed at %s: %d open-slot markers, e.g. %s", rd.kill, len(open), open[0])
			}

			st, out = runChild(t, f.env, "rebalance", "--inventory", inv, "--report-dir", dir)
			if st.ExitCode() != 0 {
				t.Fatalf("re-run after the kill at %s: exit %d, want 0\n%s", rd.kill, st.ExitCode(), out)
			}
			r := readReport(t, dir, "rebalance")
			if r.Outcome != report.OutcomePass || r.Rebalance == nil || !r.Rebalance.Done || r.Outputs["done"] != "true" {
				t.Fatalf("re-run report: outcome %s, section %+v, outputs %v", r.Outcome, r.Rebalance, r.Outputs)
			}
			if rd.open {
				rep := checkIDs(r, "rebalance.repair")
				if len(r.Rebalance.RepairedSlots) == 0 || len(rep) != 1 || rep[0].Status != report.Pass {
					t.Errorf("re-run repaired %v, repair checks %+v", r.Rebalance.RepairedSlots, rep)
				}
			}
			if bal := checkIDs(r, "rebalance.balanced"); len(bal) != 1 || bal[0].Status != report.Pass {
				t.Errorf("balanced checks %+v", bal)
			}
			f.healthy(t)
			weights := map[string]float64{}
			for s, addr := range map[string]string{"server1": a[0], "server2": a[1], "server3": a[2], "server4": a[6]} {
				weights[addr] = 1
				if w, ok := rd.weights[s]; ok {
					weights[addr], _ = strconv.ParseFloat(w, 64)
				}
			}
			wantShares(t, slotCounts(t, f.c), weights)
		})
		if !ok {
			break // the next round builds on this one's result
		}
	}
}

// TestRebalanceHoldAbortAndSignals stops the real binary every way but a
// crash: a red gate past the hold timeout (exit 75), an abort file before
// and during the run (exit 1), SIGINT and SIGTERM while held (130, 143).
// None may leave a slot open or lose a key, and the last run finishes.
func TestRebalanceHoldAbortAndSignals(t *testing.T) {
	t.Parallel()
	f := newCrashFixture(t, 5000)
	newMaster := f.c.Nodes[6].Addr

	t.Run("held", func(t *testing.T) {
		inv := f.inventory(t, nil, crashRed("2s"))
		dir := f.reportDir("held")
		st, out := runChild(t, f.env, "rebalance", "--inventory", inv, "--report-dir", dir)
		if st.ExitCode() != 75 {
			t.Fatalf("red gate: exit %d, want 75\n%s", st.ExitCode(), out)
		}
		r := readReport(t, dir, "rebalance")
		g := checkIDs(r, "rebalance.gates")
		if r.Outcome != report.OutcomeHeld || r.ExitCode != 75 || len(g) != 1 || g[0].Status != report.Hold || !strings.Contains(g[0].Message, "latency_p99") {
			t.Errorf("held report: outcome %s exit %d gate checks %+v", r.Outcome, r.ExitCode, g)
		}
		if r.Outputs["done"] != "false" || r.Rebalance.SlotsMoved != 0 {
			t.Errorf("held before the first batch, yet outputs %v, %d slots moved", r.Outputs, r.Rebalance.SlotsMoved)
		}
		if open := f.c.OpenSlots(t); len(open) > 0 {
			t.Errorf("open slots after a hold: %v", open)
		}
	})

	for _, sg := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(sg.sig.String(), func(t *testing.T) {
			inv := f.inventory(t, nil, crashRed("10m"))
			dir := f.reportDir(strconv.Itoa(int(sg.sig)))
			ch := startChild(t, f.env, "rebalance", "--inventory", inv, "--report-dir", dir)
			// The status line says the run is held on the gates.
			ch.waitOutput(t, "gates hold", 20*time.Second)
			sent := time.Now()
			if err := ch.cmd.Process.Signal(sg.sig); err != nil {
				t.Fatal(err)
			}
			st := ch.wait(t, 10*time.Second)
			took := time.Since(sent)
			t.Logf("TIMING %s while held: exit %d after %s", sg.sig, st.ExitCode(), took.Round(time.Millisecond))
			if st.ExitCode() != sg.code {
				t.Fatalf("%s: exit %d, want %d\n%s", sg.sig, st.ExitCode(), sg.code, ch.stderr)
			}
			if took > 5*time.Second {
				t.Errorf("%s: took %s to exit", sg.sig, took)
			}
			r := readReport(t, dir, "rebalance")
			if r.Outcome != report.OutcomeInterrupted || r.ExitCode != sg.code {
				t.Errorf("%s report: outcome %s exit %d", sg.sig, r.Outcome, r.ExitCode)
			}
			if open := f.c.OpenSlots(t); len(open) > 0 {
				t.Errorf("open slots after %s: %v", sg.sig, open)
			}
		})
	}

	t.Run("abort file before the run", func(t *testing.T) {
		inv := f.inventory(t, nil, crashGreen)
		dir := f.reportDir("abort-before")
		abort := filepath.Join(f.dir, "abort-before")
		if err := os.WriteFile(abort, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		st, out := runChild(t, f.env, "rebalance", "--inventory", inv, "--report-dir", dir, "--abort-file", abort)
		if st.ExitCode() != 1 {
			t.Fatalf("abort file present: exit %d, want 1\n%s", st.ExitCode(), out)
		}
		r := readReport(t, dir, "rebalance")
		if r.Outcome != report.OutcomeFail || r.Rebalance.SlotsMoved != 0 || slotCounts(t, f.c)[newMaster] != 0 {
			t.Errorf("outcome %s, %d slots moved, new master owns %d", r.Outcome, r.Rebalance.SlotsMoved, slotCounts(t, f.c)[newMaster])
		}
	})

	t.Run("abort file during the run", func(t *testing.T) {
		// Small batches with a pause between them leave time to drop the
		// abort file once the first batch has moved.
		inv := f.inventory(t, nil, crashGreen+"rebalance: {batch_slots: 100, pause_between_batches: 1s}\n")
		dir := f.reportDir("abort-during")
		abort := filepath.Join(f.dir, "abort-during")
		ch := startChild(t, f.env, "rebalance", "--inventory", inv, "--report-dir", dir, "--abort-file", abort)
		deadline := time.Now().Add(30 * time.Second)
		for slotCounts(t, f.c)[newMaster] == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no slot moved within 30s:\n%s", ch.stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := os.WriteFile(abort, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		st := ch.wait(t, 30*time.Second)
		if st.ExitCode() != 1 {
			t.Fatalf("abort file: exit %d, want 1\n%s", st.ExitCode(), ch.stderr)
		}
		r := readReport(t, dir, "rebalance")
		g := checkIDs(r, "rebalance.gates")
		if r.Outcome != report.OutcomeFail || len(g) != 1 || g[0].Status != report.Fail || !strings.Contains(g[0].Message, "abort file") {
			t.Errorf("abort report: outcome %s, gate checks %+v", r.Outcome, g)
		}
		moved, total := r.Rebalance.SlotsMoved, r.Rebalance.Plan.SlotsToMove
		if moved == 0 || moved >= total || r.Rebalance.Done {
			t.Errorf("aborted run moved %d of %d slots, done %v", moved, total, r.Rebalance.Done)
		}
		f.healthy(t)
		if got := slotCounts(t, f.c)[newMaster]; got != moved {
			t.Errorf("new master owns %d slots, the report says %d moved", got, moved)
		}
	})

	t.Run("finish", func(t *testing.T) {
		inv := f.inventory(t, nil, crashGreen)
		dir := f.reportDir("finish")
		st, out := runChild(t, f.env, "rebalance", "--inventory", inv, "--report-dir", dir)
		if st.ExitCode() != 0 {
			t.Fatalf("final run: exit %d\n%s", st.ExitCode(), out)
		}
		f.healthy(t)
		w := map[string]float64{}
		addrs := f.c.Addrs()
		for _, i := range []int{0, 1, 2, 6} {
			w[addrs[i]] = 1
		}
		wantShares(t, slotCounts(t, f.c), w)
	})
}
