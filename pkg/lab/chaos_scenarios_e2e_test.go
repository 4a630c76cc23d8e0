//go:build e2e

package lab_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/lab"
	"github.com/slotshift/slotshift/pkg/lab/labtest"
	"github.com/slotshift/slotshift/pkg/plan"
	"github.com/slotshift/slotshift/pkg/report"
)

// TestChaos runs the chaos scenarios on one lab of five hosts, each under
// continuous load and each ending with the same four checks (verify, no
// open slot, redis-cli --cluster check, no acknowledged write lost but
// the few a failover of a master cut off may lose: lostToFailover). They
// run in order and hand the cluster on: rollback (3 servers → partial
// scale-out → back to 3), the tool killed (3 → 5), a source master
// killed, a congested link and a stalled server, and a partition. Each
// logs one "CHAOS scenario=…" line with its figures.
func TestChaos(t *testing.T) {
	f := newChaos(t)
	for _, sc := range []struct {
		name string
		run  func(*chaos, *testing.T)
	}{
		{"rollback", (*chaos).rollback},
		{"tool-killed", (*chaos).toolKilled},
		{"source-master-dies", (*chaos).sourceMasterDies},
		{"congested-link", (*chaos).congestedLink},
		{"partition", (*chaos).partition},
	} {
		if !t.Run(sc.name, func(t *testing.T) { sc.run(f, t) }) {
			// The next scenario needs the healthy cluster this one
			// should have left.
			t.Fatalf("scenario %s failed: the later ones need the cluster it should have left", sc.name)
		}
	}
	t.Logf("steps:\n%s", f.cli.Timings())
}

// snapshot saves the layout to path and returns it.
func (s *scenario) snapshot(t *testing.T, name, path string) plan.Layout {
	t.Helper()
	if st := s.run(t, name, "snapshot", "--output", path); st.Code != 0 {
		t.Fatalf("snapshot exited %d", st.Code)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var l plan.Layout
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// members returns the addresses of the nodes addr knows, sorted.
func (f *chaos) members(t *testing.T, addr string) []string {
	t.Helper()
	ns, err := f.nodes(context.Background(), addr)
	if err != nil {
		t.Fatalf("CLUSTER NODES on %s: %v", addr, err)
	}
	var out []string
	for _, n := range ns {
		out = append(out, n.Addr)
	}
	slices.Sort(out)
	return out
}

// rollback: snapshot three servers, scale out to five but stop after a few
// batches, roll the slots back to the snapshot, and prune the new pair.
func (f *chaos) rollback(t *testing.T) {
	s := f.begin(t, "rollback")
	path := filepath.Join(f.cli.Out, "layout-before.json")
	before := s.snapshot(t, "snapshot-before", path)
	membersBefore := f.members(t, f.masters(3)[0])

	f.use(5, nil, chaosGates)
	f.cli.Must(t, "provision-5", "provision")
	f.cli.Must(t, "join-5", "join")
	st := f.cli.Must(t, "rebalance-partial", "rebalance", "--max-batches", "3")
	if r := readReport(t, st, "rebalance"); r.Rebalance == nil || r.Rebalance.Done || r.Rebalance.SlotsMoved == 0 {
		t.Fatalf("partial scale-out: %+v, want some slots moved and batches left", r.Rebalance)
	}
	f.cli.Must(t, "rebalance-rollback", "rebalance", "--target-layout", path)
	f.use(3, nil, chaosGates)
	f.cli.Must(t, "join-prune", "join", "--prune")

	after := s.snapshot(t, "snapshot-after", filepath.Join(f.cli.Out, "layout-after.json"))
	if !reflect.DeepEqual(before.Masters, after.Masters) {
		t.Errorf("layout after the rollback differs from the snapshot:\nbefore %+v\nafter  %+v", before.Masters, after.Masters)
	}
	for _, a := range f.addrs(3) {
		if got := f.members(t, a); !slices.Equal(got, membersBefore) {
			t.Errorf("%s knows %v, before the scale-out the cluster was %v", a, got, membersBefore)
		}
	}
	for _, a := range f.addrs(5)[6:] {
		if got := f.members(t, a); len(got) != 1 {
			t.Errorf("pruned node %s still knows %v", a, got)
		}
	}
	s.finish(t)
}

// killPoints are where the tool kills itself (--fault-kill-at STEP:N, the
// Nth slot to reach STEP in that run): every step of the slot protocol.
var killPoints = []string{"importing:3", "migrating:40", "keys:150", "node-target:300", "node-source:450", "node-others:600"}

// toolKilled: scale out to five servers while SIGKILL hits the tool at
// every step of the slot protocol, and once from outside at a random
// moment; re-run until done.
func (f *chaos) toolKilled(t *testing.T) {
	s := f.begin(t, "tool-killed")
	f.use(5, nil, chaosGates)
	f.cli.Must(t, "provision-5", "provision")
	f.cli.Must(t, "join-5", "join")
	for _, p := range killPoints {
		st := s.run(t, "rebalance-kill-"+strings.ReplaceAll(p, ":", "-"), "rebalance", "--fault-kill-at", p)
		if st.Code != -1 {
			t.Errorf("--fault-kill-at %s: exit %d, want death by SIGKILL", p, st.Code)
		}
		t.Logf("killed at %s: open slots %v", p, openOf(t, f))
	}
	// From outside, the first moment the run opens a slot (the last kill
	// left some open: the run closes those first).
	before := f.openNow()
	a := s.start(t, "rebalance-kill-outside", "rebalance")
	t.Logf("killing the run: %s", f.anyMigrating(t, a.done, before, time.Minute))
	a.kill()
	if st := a.wait(t, time.Minute); st.Code != -1 {
		t.Errorf("SIGKILL from outside: exit %d (the run had ended?)", st.Code)
	}
	t.Logf("killed from outside: open slots %v", openOf(t, f))
	st := s.run(t, "rebalance-final", "rebalance")
	r := readReport(t, st, "rebalance")
	if st.Code != 0 || r.Rebalance == nil || !r.Rebalance.Done {
		t.Errorf("re-run after the kills: exit %d, section %+v", st.Code, r.Rebalance)
	} else {
		t.Logf("re-run repaired slots %v and moved %d", r.Rebalance.RepairedSlots, r.Rebalance.SlotsMoved)
	}
	s.finish(t)
}

func openOf(t *testing.T, f *chaos) []string {
	return labtest.OpenSlots(t, f.addrs(f.servers))
}

// sourceMasterDies: give server1 twice the slots, and SIGKILL server2's
// master (a source) while it migrates a slot. Its replica takes over; the
// run stops with a reason that names it; the dead node comes back as a
// replica; roles are restored and the rebalance finishes.
func (f *chaos) sourceMasterDies(t *testing.T) {
	ctx := context.Background()
	s := f.begin(t, "source-master-dies")
	f.use(5, map[string]string{"server1": "2"}, chaosGates)
	victim := f.l.Hosts[1]
	addr := victim.Addr + ":" + strconv.Itoa(lab.MasterPort)
	pid := mainPID(t, victim, "redis_7000.service")
	replicas := f.replicasOf(t, addr)
	a := s.start(t, "rebalance-1", "rebalance")
	t.Logf("killing %s: %s", addr, f.migrating(t, addr, time.Minute))
	s.failedOver = f.slotsOf(t, addr)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st := a.wait(t, 2*time.Minute)
	why := strings.Join(reasons(readReport(t, st, "rebalance")), "\n")
	if st.Code == 0 || !strings.Contains(why, addr) {
		t.Errorf("run with its source killed: exit %d, reasons:\n%s\nwant a hold or failure naming %s", st.Code, why, addr)
	}
	t.Logf("run stopped (exit %d): %s", st.Code, why)
	waitFor(t, time.Minute, "a replica of "+addr+" to take over", func() bool {
		return slices.ContainsFunc(replicas, f.isMaster)
	})

	// Resume with the dead node still down: a clear hold or refusal.
	st = s.run(t, "rebalance-node-down", "rebalance")
	why = strings.Join(reasons(readReport(t, st, "rebalance")), "\n")
	if st.Code != 0 && !strings.Contains(why, addr) {
		t.Errorf("rebalance with %s down: exit %d, reasons:\n%s\nwant them to name it", addr, st.Code, why)
	}
	if err := victim.StartUnit(ctx, "redis_7000.service"); err != nil {
		t.Fatal(err)
	}
	s.resumeAfterFailover(t, addr, "rebalance-resumed")
}

// resumeAfterFailover waits until the failed-over master at addr is back
// as a replica, resumes the rebalance with the roles still swapped,
// restores them as an operator would (verify insists on the inventory's
// roles), finishes the rebalance if it is not done, and closes the
// scenario.
func (s *scenario) resumeAfterFailover(t *testing.T, addr, step string) {
	t.Helper()
	f := s.f
	waitFor(t, time.Minute, addr+" back as a replica", func() bool { return f.isReplica(addr) })
	st := s.run(t, step, "rebalance")
	r := readReport(t, st, "rebalance")
	t.Logf("resumed with roles swapped: exit %d: %s", st.Code, strings.Join(reasons(r), "\n"))
	f.restoreRoles(t)
	// Meanwhile Redis may have moved a replica to the master left without
	// one (replica migration): a returned node that comes back as a second
	// replica of another master gives that master one to spare. join
	// re-points replicas as the inventory declares, as verify's hint says.
	// Replica migration can also come after join has looked (Redis waits
	// a few seconds before it moves a replica), so join again until every
	// node agrees each master has its one replica, on another server, in
	// sync.
	for try := 1; ; try++ {
		name := step + "-join"
		if try > 1 {
			name += strconv.Itoa(try)
		}
		f.cli.Must(t, name, "join")
		why := f.waitPlaced(20 * time.Second)
		if why == "" {
			break
		}
		if try == 3 {
			t.Fatalf("replicas not placed after %d joins: %s", try, why)
		}
		t.Logf("after %s: %s; joining again", name, why)
	}
	if st.Code != 0 || r.Rebalance == nil || !r.Rebalance.Done {
		f.cli.Must(t, "rebalance-roles-restored", "rebalance")
	}
	f.waitHealthy(t, time.Minute)
	s.finish(t)
}

// replicasOf returns the addresses of the replicas of the master at addr.
func (f *chaos) replicasOf(t *testing.T, addr string) []string {
	t.Helper()
	ns, err := f.nodes(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, n := range ns {
		if n.Myself() {
			id = n.ID
		}
	}
	var out []string
	for _, n := range ns {
		if n.MasterID == id {
			out = append(out, n.Addr)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no replica", addr)
	}
	return out
}

// isMaster says whether addr reports itself a master that owns slots.
func (f *chaos) isMaster(addr string) bool {
	ns, err := f.nodes(context.Background(), addr)
	if err != nil {
		return false
	}
	for _, n := range ns {
		if n.Myself() {
			return n.IsMaster() && n.Slots.Len() > 0
		}
	}
	return false
}

// isReplica says whether addr reports itself a replica with its link up.
func (f *chaos) isReplica(addr string) bool {
	info, err := f.pool.Client(addr).Info(context.Background(), "replication").Result()
	return err == nil && strings.Contains(info, "role:slave") && strings.Contains(info, "master_link_status:up")
}

// congestedGates add the baseline-relative latency gate to chaosGates: a
// busy shared machine makes absolute latency thresholds fire without any
// fault, while a congested or stalled server multiplies its latency.
var congestedGates = strings.Replace(chaosGates, "  hold_timeout: 15s\n",
	"  hold_timeout: 15s\n  latency_variation_percent: {hold: 300, abort: 100000}\n", 1)

// congestedLink: shape server1's link with tbf while it gives slots away,
// then stall server2's master with SIGSTOP/SIGCONT bursts while it does,
// each from the first open slot on (after the latency baseline). Either
// the controller slows the mover down on that server, or the run holds
// (exit 75) naming it; without the fault a re-run finishes.
func (f *chaos) congestedLink(t *testing.T) {
	ctx := context.Background()
	s := f.begin(t, "congested-link")
	f.use(5, nil, congestedGates)
	h := f.l.Hosts[0]
	a := s.start(t, "rebalance-shaped", "rebalance")
	t.Logf("shaping %s: %s", h.Name, f.anyMigrating(t, a.done, nil, time.Minute))
	if err := h.Shape(ctx, "tbf rate 20mbit burst 32kbit latency 200ms"); err != nil {
		t.Fatal(err)
	}
	st := a.wait(t, 2*time.Minute)
	if err := h.Unshape(ctx); err != nil {
		t.Fatal(err)
	}
	reacted(t, st, readReport(t, st, "rebalance"), h.Addr)
	f.cli.Must(t, "rebalance-unshaped", "rebalance")

	// Stall a source: server3 takes twice the slots from the others.
	f.use(5, map[string]string{"server3": "2"}, congestedGates)
	stalled := f.l.Hosts[1]
	pid := mainPID(t, stalled, "redis_7000.service")
	a = s.start(t, "rebalance-stalled", "rebalance")
	t.Logf("stalling %s: %s", stalled.Name, f.anyMigrating(t, a.done, nil, time.Minute))
	bursts := stallBursts(t, pid, a.done, 50*time.Millisecond, 200*time.Millisecond, 2*time.Minute)
	st = a.wait(t, time.Minute)
	t.Logf("stalled %s (pid %d) for 50 ms every 200 ms, %d times", stalled.Addr, pid, bursts)
	reacted(t, st, readReport(t, st, "rebalance"), stalled.Addr)
	f.cli.Must(t, "rebalance-after-stall", "rebalance")
	s.finish(t)
}

// reacted checks that the gates saw the fault at host: either the run
// finished and the controller slowed a source on host below full pace, or
// it held (exit 75) with a reason naming host.
func reacted(t *testing.T, st labtest.Step, r report.Report, host string) {
	t.Helper()
	why := strings.Join(reasons(r), "\n")
	switch st.Code {
	case 75:
		if !strings.Contains(why, host) {
			t.Errorf("held, but no reason names %s:\n%s", host, why)
		}
		t.Logf("held (exit 75): %s", why)
	case 0:
		slowest := 1.0
		for _, b := range r.Rebalance.Batches {
			for _, p := range b.Pace {
				if strings.HasPrefix(p.Node, host+":") {
					slowest = min(slowest, p.Level)
				}
			}
		}
		if slowest >= 1 {
			t.Errorf("finished at full pace on %s: the controller did not react (pace %+v)", host, r.Rebalance.Pace)
		}
		t.Logf("finished, controller slowed %s down to level %.3f (summary %+v)", host, slowest, r.Rebalance.Pace)
	default:
		t.Errorf("exit %d, want 0 (slowed) or 75 (held): %s", st.Code, why)
	}
}

// mainPID returns the pid, on this machine, of unit's main process on h.
func mainPID(t *testing.T, h *lab.Host, unit string) int {
	t.Helper()
	pid, err := h.MainPID(context.Background(), unit)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// stallBursts stops pid for stall every period until done closes or limit
// passes, and always leaves it running. It returns the bursts.
func stallBursts(t *testing.T, pid int, done <-chan struct{}, stall, period, limit time.Duration) int {
	t.Helper()
	defer syscall.Kill(pid, syscall.SIGCONT)
	end := time.After(limit)
	n := 0
	for {
		select {
		case <-done:
			return n
		case <-end:
			return n
		default:
		}
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Errorf("SIGSTOP %d: %v", pid, err)
			return n
		}
		time.Sleep(stall)
		_ = syscall.Kill(pid, syscall.SIGCONT)
		n++
		time.Sleep(period - stall)
	}
}

// partition: take server3's link down while it migrates a slot; the run
// stops at a slot boundary with a reason naming it; bring the link up,
// restore roles, and the rebalance finishes.
func (f *chaos) partition(t *testing.T) {
	ctx := context.Background()
	s := f.begin(t, "partition")
	f.use(5, nil, chaosGates)
	h := f.l.Hosts[2]
	addr := h.Addr + ":" + strconv.Itoa(lab.MasterPort)
	a := s.start(t, "rebalance-partitioned", "rebalance")
	t.Logf("cutting %s off: %s", h.Name, f.migrating(t, addr, time.Minute))
	s.failedOver = f.slotsOf(t, addr)
	if err := h.LinkDown(ctx); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	st := a.wait(t, 2*time.Minute)
	why := strings.Join(reasons(readReport(t, st, "rebalance")), "\n")
	if st.Code == 0 || !strings.Contains(why+st.Stderr, h.Addr) {
		t.Errorf("run across a partition: exit %d, reasons:\n%s\nwant a hold or failure naming %s", st.Code, why, h.Addr)
	}
	t.Logf("run stopped %s after the cut (exit %d): %s", time.Since(down).Round(time.Millisecond), st.Code, why)
	if err := h.LinkUp(ctx); err != nil {
		t.Fatal(err)
	}
	// Cut off longer than the node timeout, server3's master was failed
	// over; back, it rejoins as its replica's replica.
	s.resumeAfterFailover(t, addr, "rebalance-healed")
}
