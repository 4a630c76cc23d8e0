//go:build e2e

package lab_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/lab"
	"github.com/slotshift/slotshift/pkg/lab/labtest"
	"github.com/slotshift/slotshift/pkg/load"
	"github.com/slotshift/slotshift/pkg/report"
)

// Bounds of the chaos scenarios: each keeps the machine busy for at most
// about a minute and a half.
const (
	// chaosHosts is the lab: three servers, then server4 and server5.
	chaosHosts = 5
	// preloadKeys of preloadBytes each give every migration data to move
	// (about 80 MB over the cluster), so that a fault lands mid-batch.
	preloadKeys  = 40000
	preloadBytes = 2048
	// loadRate and loadKeys shape the continuous load of a scenario;
	// loadBound ends it even if a scenario forgets to.
	loadRate  = 300
	loadKeys  = 3000
	loadBound = 4 * time.Minute
	// stepTimeout bounds every slotshift run.
	stepTimeout = 3 * time.Minute
)

// chaosGates keep a healthy lab green on a busy two-core machine while a
// real fault turns them red at once: a node down or failing holds, and a
// hold gives up after 15 s (exit 75).
const chaosGates = `gates:
  latency_avg_ms: {hold: 200, abort: 5000}
  latency_p99_ms: {hold: 1000, abort: 10000}
  replication_lag_ms: {hold: 5000, abort: 60000}
  cpu_percent: {hold: 99, abort: 100}
  memory_percent: {hold: 90, abort: 99}
  hold_timeout: 15s
rebalance: {batch_slots: 200, threshold_percent: 2}
`

// chaos is one lab shared by the scenarios, which run in order: each
// leaves the cluster healthy, as the next expects it.
type chaos struct {
	l       *lab.Lab
	cli     *labtest.CLI
	servers int               // servers in the current inventory
	weights map[string]string // server → weight in the current inventory
	gates   string
	pool    *admin.Pool
}

// inventory renders the lab inventory of the first n servers with weights
// and gates.
func (f *chaos) inventory(n int, weights map[string]string, gates string) string {
	text := f.l.Inventory(lab.InventoryOptions{Servers: n, Extra: gates})
	for _, name := range slices.Sorted(maps.Keys(weights)) {
		head := "  - name: " + name + "\n"
		text = strings.Replace(text, head, head+"    weight: "+weights[name]+"\n", 1)
	}
	return text
}

// use makes the next steps run on the first n servers with weights.
func (f *chaos) use(n int, weights map[string]string, gates string) {
	f.servers, f.weights, f.gates = n, weights, gates
	f.cli.SetInventory(f.inventory(n, weights, gates))
}

// masters and replicas are the inventory's addresses of the first n
// servers.
func (f *chaos) masters(n int) []string {
	var out []string
	for _, h := range f.l.Hosts[:n] {
		out = append(out, h.Addr+":"+strconv.Itoa(lab.MasterPort))
	}
	return out
}

func (f *chaos) addrs(n int) []string {
	var out []string
	for _, h := range f.l.Hosts[:n] {
		out = append(out, h.Addr+":"+strconv.Itoa(lab.MasterPort), h.Addr+":"+strconv.Itoa(lab.ReplicaPort))
	}
	return out
}

// newChaos boots the lab and builds the three-server cluster with data:
// provision, join, then preloadKeys keys that the scenarios' migrations
// move.
func newChaos(t *testing.T) *chaos {
	l := labtest.Start(t, chaosHosts)
	out := labtest.OutDir(t)
	f := &chaos{l: l, cli: labtest.NewCLI(t, l, "", out)}
	f.cli.Timeout = stepTimeout
	f.pool = admin.NewPool(admin.Options{Password: labtest.Password, DialTimeout: time.Second, ReadTimeout: 3 * time.Second})
	t.Cleanup(func() { _ = f.pool.Close() })
	t.Cleanup(func() {
		if t.Failed() {
			f.dump(t)
		}
	})
	f.use(3, nil, chaosGates)
	f.cli.Must(t, "provision", "provision")
	f.cli.Must(t, "join", "join")
	start := time.Now()
	res, err := load.Run(context.Background(), load.Options{
		Seeds: f.masters(3), Password: labtest.Password, Prefix: "chaos:data:",
		Keys: preloadKeys, MaxOps: preloadKeys, Duration: 2 * time.Minute, Clients: 16,
		ValueMin: preloadBytes, ValueMax: preloadBytes, KeepKeys: true, VerifyTimeout: time.Minute,
	})
	if err != nil {
		t.Fatalf("preload: %v", err)
	}
	if res.Verify.Lost != 0 || res.WritesAcked < preloadKeys*9/10 {
		t.Fatalf("preload: %d acknowledged, %d lost", res.WritesAcked, res.Verify.Lost)
	}
	t.Logf("preloaded %d keys of %d bytes in %s", res.WritesAcked, preloadBytes, time.Since(start).Round(time.Millisecond))
	return f
}

// scenario is one chaos scenario's bookkeeping: its load and the exit
// codes of its slotshift runs, in order.
type scenario struct {
	name  string
	f     *chaos
	gen   *load.Generator
	first int // f.cli.Steps index where the scenario began
	extra []string
	began time.Time
	// failedOver is the slots of a master the scenario cut off and the
	// cluster failed over (owned, and importing); nil when none was.
	failedOver *cluster.SlotSet
}

// maxFailoverLoss bounds the acknowledged writes a failover of a master
// cut off may lose. Redis replicates asynchronously: a write the master
// acknowledged just before the cut, still on its way to the replica, is
// gone when that replica takes over (Redis Cluster promises no more). At
// loadRate, about 40 writes a second reach one of five masters, so even
// 100 ms of unreplicated writes is 4; more is not that window.
const maxFailoverLoss = 5

// lostToFailover reports whether every lost or stale write of v is one
// Redis's failover of the master cut off may lose: at most
// maxFailoverLoss, all named (v lists the first few only), all in its
// slots, and none foreign. A stale key is the same loss on a key written
// before: the replica kept the value it had, not the last acknowledged.
func (s *scenario) lostToFailover(v load.Verify) bool {
	n := v.Lost + v.Stale
	keys := slices.Concat(v.LostKeys, v.StaleKeys)
	if s.failedOver == nil || n == 0 || n > maxFailoverLoss || v.Foreign != 0 || n != len(keys) {
		return false
	}
	for _, k := range keys {
		if !s.failedOver.Has(cluster.KeySlot(k)) {
			return false
		}
	}
	return true
}

// begin starts the scenario's continuous load.
func (f *chaos) begin(t *testing.T, name string) *scenario {
	t.Helper()
	g, err := load.New(load.Options{
		Seeds: f.masters(f.servers), Password: labtest.Password, Prefix: "chaos:" + name + ":",
		Duration: loadBound, Rate: loadRate, Clients: 8, Keys: loadKeys, ReadPercent: 30,
		ValueMin: 64, ValueMax: 512, ReadTimeout: 2 * time.Second, VerifyTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	g.Start(context.Background())
	s := &scenario{name: name, f: f, gen: g, first: len(f.cli.Steps), began: time.Now()}
	t.Cleanup(func() { _, _ = g.Stop() }) // a scenario that failed early
	return s
}

// run runs one slotshift step of the scenario.
func (s *scenario) run(t *testing.T, name string, args ...string) labtest.Step {
	t.Helper()
	return s.f.cli.Run(t, name, args...)
}

// exitCodes lists the scenario's runs as name=code, "killed" for a run
// that died of SIGKILL.
func (s *scenario) exitCodes() []string {
	var out []string
	for _, st := range s.f.cli.Steps[s.first:] {
		code := strconv.Itoa(st.Code)
		if st.Code == -1 {
			code = "killed"
		}
		out = append(out, st.Name+"="+code)
	}
	return append(out, s.extra...)
}

// finish stops the load and makes the four closing checks: verify passes,
// no slot is open, redis-cli --cluster check is clean, and no
// acknowledged write was lost or stale, but for the few a failover of a
// master the scenario cut off may lose (see lostToFailover). It logs the scenario's
// figures on one line that starts with "CHAOS".
func (s *scenario) finish(t *testing.T) load.Result {
	t.Helper()
	f := s.f
	v := s.run(t, "verify", "verify")
	res, err := s.gen.Stop()
	if err != nil {
		t.Errorf("load: %v", err)
	}
	kinds := make([]string, 0, len(res.Errors))
	for _, k := range slices.Sorted(maps.Keys(res.Errors)) {
		kinds = append(kinds, fmt.Sprintf("%s:%d", k, res.Errors[k]))
	}
	t.Logf("CHAOS scenario=%s seconds=%.0f acked=%d lost=%d stale=%d foreign=%d unknown=%d unverified=%d errors=%s exits=%s",
		s.name, time.Since(s.began).Seconds(), res.WritesAcked, res.Verify.Lost, res.Verify.Stale, res.Verify.Foreign,
		res.WritesUnknown, res.Verify.Unverified, strings.Join(kinds, ","), strings.Join(s.exitCodes(), ","))
	if v.Code != 0 {
		t.Errorf("verify exited %d, want 0 (reports in %s)", v.Code, v.ReportDir)
	}
	if open := labtest.OpenSlots(t, f.addrs(f.servers)); len(open) > 0 {
		t.Errorf("open slots at the end: %v", open)
	}
	labtest.ClusterCheck(t, f.masters(f.servers)[0])
	lost, stale := res.Verify.Lost, res.Verify.Stale
	if s.lostToFailover(res.Verify) {
		t.Logf("lost %d and found stale %d acknowledged write(s) %v %v, all in slots of the master cut off and failed over: Redis replicates asynchronously",
			lost, stale, res.Verify.LostKeys, res.Verify.StaleKeys)
		lost, stale = 0, 0
	}
	if lost != 0 || stale != 0 || res.Verify.Foreign != 0 {
		t.Errorf("acknowledged writes lost %d, stale %d, foreign %d (e.g. %v %v)",
			res.Verify.Lost, res.Verify.Stale, res.Verify.Foreign, res.Verify.LostKeys, res.Verify.StaleKeys)
	}
	if res.Verify.Unverified != 0 {
		t.Errorf("%d acknowledged keys could not be read back", res.Verify.Unverified)
	}
	if res.WritesAcked < 100 {
		t.Errorf("only %d acknowledged writes: the load did not run", res.WritesAcked)
	}
	return res
}

// readReport reads a step's JSON report of stage.
func readReport(t *testing.T, st labtest.Step, stage string) report.Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(st.ReportDir, stage+".json"))
	if err != nil {
		t.Fatalf("%s report of step %s: %v", stage, st.Name, err)
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s report of step %s: %v", stage, st.Name, err)
	}
	return r
}

// reasons returns the messages of a report's checks that did not pass
// (held, failed, errors), for a hold or failure's reason.
func reasons(r report.Report) []string {
	checks := slices.Clone(r.Checks)
	if r.Rebalance != nil {
		for _, b := range r.Rebalance.Batches {
			checks = append(checks, b.Checks...)
		}
	}
	var out []string
	for _, c := range checks {
		switch c.Status {
		case report.Hold, report.Fail, report.Error:
			out = append(out, fmt.Sprintf("%s %s %s: %s", c.ID, c.Status, c.Node, c.Message))
		}
	}
	return out
}

// async is a slotshift run in the background that the test can kill.
type async struct {
	cmd  *exec.Cmd
	done chan struct{}
	step labtest.Step
	cli  *labtest.CLI
	idx  int // the run's place in cli.Steps
}

// start runs slotshift args in the background with the CLI's inventory
// and secrets, reports in a new step directory; wait records the step.
func (s *scenario) start(t *testing.T, name string, args ...string) *async {
	t.Helper()
	c := s.f.cli
	dir := filepath.Join(c.Out, fmt.Sprintf("%02d-%s", len(c.Steps)+1, name))
	full := append(slices.Clone(args), "--report-dir", dir)
	cmd := exec.Command(c.Bin, full...)
	cmd.Dir = c.Out
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, c.Env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &async{cmd: cmd, done: make(chan struct{}), step: labtest.Step{Name: name, Args: args, ReportDir: dir}}
	begun := time.Now()
	go func() {
		_ = cmd.Wait()
		a.step.Took = time.Since(begun)
		a.step.Code = cmd.ProcessState.ExitCode()
		a.step.Stdout, a.step.Stderr = stdout.String(), stderr.String()
		close(a.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-a.done
	})
	// Hold its place now, so that the next step directory gets the next
	// number; wait fills it in.
	c.Steps = append(c.Steps, labtest.Step{Name: name, ReportDir: dir})
	a.idx, a.cli = len(c.Steps)-1, c
	return a
}

// wait waits for the run to end (killing it after d) and returns it.
func (a *async) wait(t *testing.T, d time.Duration) labtest.Step {
	t.Helper()
	select {
	case <-a.done:
	case <-time.After(d):
		_ = a.cmd.Process.Kill()
		<-a.done
		t.Errorf("%s still running after %s: killed", a.step.Name, d)
	}
	a.cli.Steps[a.idx] = a.step
	t.Logf("step %s: slotshift %s → exit %d in %s", a.step.Name, strings.Join(a.step.Args, " "), a.step.Code, a.step.Took.Round(time.Millisecond))
	if a.step.Code != 0 {
		t.Logf("step %s stderr:\n%s", a.step.Name, tailOf(a.step.Stderr, 3000))
	}
	return a.step
}

// kill SIGKILLs the run.
func (a *async) kill() { _ = a.cmd.Process.Signal(syscall.SIGKILL) }

func tailOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// nodes returns addr's CLUSTER NODES.
func (f *chaos) nodes(ctx context.Context, addr string) ([]cluster.Node, error) {
	return f.pool.ClusterNodes(ctx, addr)
}

// waitFor polls cond every 100 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// migrating waits until the master at from migrates a slot, and
// describes it.
func (f *chaos) migrating(t *testing.T, from string, d time.Duration) string {
	t.Helper()
	var found string
	waitFor(t, d, "a slot migrating from "+from, func() bool {
		ns, err := f.nodes(context.Background(), from)
		if err != nil {
			return false
		}
		for _, n := range ns {
			if n.Myself() && len(n.Migrating) > 0 {
				for slot, to := range n.Migrating {
					found = fmt.Sprintf("%s migrating slot %d to %s", from, slot, to)
					return true
				}
			}
		}
		return false
	})
	return found
}

// openNow returns the slots each master migrates now, as "addr slot".
func (f *chaos) openNow() map[string]bool {
	open := map[string]bool{}
	for _, addr := range f.masters(f.servers) {
		ns, _ := f.nodes(context.Background(), addr)
		for _, n := range ns {
			for slot := range n.Migrating {
				if n.Myself() {
					open[fmt.Sprintf("%s %d", addr, slot)] = true
				}
			}
		}
	}
	return open
}

// anyMigrating polls every master of the inventory until one migrates a
// slot not in before, and describes it; it gives up when done closes or
// after d.
func (f *chaos) anyMigrating(t *testing.T, done <-chan struct{}, before map[string]bool, d time.Duration) string {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatal("the run ended before any slot was seen open")
		default:
		}
		for _, addr := range f.masters(f.servers) {
			ns, err := f.nodes(ctx, addr)
			if err != nil {
				continue
			}
			for _, n := range ns {
				for slot, to := range n.Migrating {
					if n.Myself() && !before[fmt.Sprintf("%s %d", addr, slot)] {
						return fmt.Sprintf("%s migrating slot %d to %s", addr, slot, to)
					}
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no slot open within %s", d)
	return ""
}

// restoreRoles makes every inventory master a master again after a
// failover swapped it with its replica: CLUSTER FAILOVER on the declared
// master, as verify's hint says, then wait until it is.
func (f *chaos) restoreRoles(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var done []string
	for _, addr := range f.masters(f.servers) {
		if f.isMaster(addr) {
			continue
		}
		// The node may still be syncing with its new master.
		waitFor(t, time.Minute, addr+" in sync with its master", func() bool {
			info, err := f.pool.Client(addr).Info(ctx, "replication").Result()
			return err == nil && strings.Contains(info, "master_link_status:up") &&
				!strings.Contains(info, "master_sync_in_progress:1")
		})
		// A master that comes back after its slots went to two nodes (its
		// replica, and the target of a move it was in) becomes a replica
		// of whichever took its last slot, not always of its own replica:
		// point it at that replica first, so the failover swaps the two.
		if id := f.partnerID(ctx, addr); id != "" && f.masterOf(ctx, addr) != id {
			if err := f.pool.Replicate(ctx, addr, id); err != nil {
				t.Fatalf("CLUSTER REPLICATE on %s: %v", addr, err)
			}
			t.Logf("%s replicated another master; now its inventory replica's node %s", addr, id)
			waitFor(t, time.Minute, addr+" in sync with its inventory replica", func() bool {
				info, err := f.pool.Client(addr).Info(ctx, "replication").Result()
				return err == nil && strings.Contains(info, "master_link_status:up") &&
					!strings.Contains(info, "master_sync_in_progress:1") && f.masterOf(ctx, addr) == id
			})
		}
		if err := f.pool.Failover(ctx, addr); err != nil {
			t.Fatalf("CLUSTER FAILOVER on %s: %v", addr, err)
		}
		waitFor(t, time.Minute, addr+" master again", func() bool { return f.isMaster(addr) })
		done = append(done, addr)
	}
	if len(done) > 0 {
		t.Logf("roles restored with CLUSTER FAILOVER on %v", done)
	}
	// The masters they replaced step down once the new configuration
	// reaches them, and every node must learn it.
	for _, h := range f.l.Hosts[:f.servers] {
		addr := h.Addr + ":" + strconv.Itoa(lab.ReplicaPort)
		waitFor(t, time.Minute, addr+" a replica again", func() bool { return f.isReplica(addr) })
	}
	waitFor(t, time.Minute, "every node to see the inventory's roles", f.rolesAgree)
	return done
}

// partnerID is the node id of the inventory replica of the master at
// addr (the replica port of the next server in the ring), when it is a
// master now; "" otherwise.
func (f *chaos) partnerID(ctx context.Context, addr string) string {
	ring := min(f.servers, 3)
	for i, h := range f.l.Hosts[:ring] {
		if h.Addr+":"+strconv.Itoa(lab.MasterPort) != addr {
			continue
		}
		partner := f.l.Hosts[(i+1)%ring].Addr + ":" + strconv.Itoa(lab.ReplicaPort)
		ns, err := f.nodes(ctx, partner)
		if err != nil {
			return ""
		}
		for _, n := range ns {
			if n.Myself() && n.IsMaster() {
				return n.ID
			}
		}
	}
	return ""
}

// slotsOf is the slots the master at addr owns or imports, as it sees
// them now.
func (f *chaos) slotsOf(t *testing.T, addr string) *cluster.SlotSet {
	t.Helper()
	ns, err := f.nodes(context.Background(), addr)
	if err != nil {
		t.Fatalf("CLUSTER NODES on %s: %v", addr, err)
	}
	me, ok := cluster.Myself(ns)
	if !ok {
		t.Fatalf("CLUSTER NODES on %s: no myself line", addr)
	}
	set := me.Slots
	for slot := range me.Importing {
		set.Add(slot)
	}
	return &set
}

// waitPlaced waits up to d until every node of the inventory sees the
// same replicas following the same masters, every master with slots has
// exactly one replica, on another server, and every replica is in sync;
// it returns what was still wrong, "" once placed.
func (f *chaos) waitPlaced(d time.Duration) string {
	why := ""
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if why = f.placed(); why == "" {
			return ""
		}
	}
	return why
}

// placed is one look of waitPlaced.
func (f *chaos) placed() string {
	ctx := context.Background()
	var first []string
	var view []cluster.Node
	for _, addr := range f.addrs(f.servers) {
		ns, err := f.nodes(ctx, addr)
		if err != nil {
			return fmt.Sprintf("CLUSTER NODES on %s: %v", addr, err)
		}
		var follows []string
		for _, n := range ns {
			if n.IsReplica() {
				follows = append(follows, n.Addr+">"+n.MasterID)
			}
		}
		slices.Sort(follows)
		if first == nil {
			first, view = follows, ns
		} else if !slices.Equal(first, follows) {
			return fmt.Sprintf("%s sees replicas %v, %s sees %v", addr, follows, f.addrs(f.servers)[0], first)
		}
	}
	host := func(addr string) string { h, _, _ := strings.Cut(addr, ":"); return h }
	for _, m := range view {
		if !m.IsMaster() || m.Slots.Len() == 0 {
			continue
		}
		var reps []string
		for _, r := range view {
			if r.IsReplica() && r.MasterID == m.ID && host(r.Addr) != host(m.Addr) {
				reps = append(reps, r.Addr)
			}
		}
		if len(reps) != 1 {
			return fmt.Sprintf("master %s has replicas %v on other servers, want one", m.Addr, reps)
		}
		info, err := f.pool.Client(reps[0]).Info(ctx, "replication").Result()
		if err != nil || !strings.Contains(info, "master_link_status:up") || strings.Contains(info, "master_sync_in_progress:1") {
			return fmt.Sprintf("replica %s of %s not in sync (%v)", reps[0], m.Addr, err)
		}
	}
	return ""
}

// masterOf is the id of the master the node at addr replicates; "" when
// it is a master or cannot say.
func (f *chaos) masterOf(ctx context.Context, addr string) string {
	ns, err := f.nodes(ctx, addr)
	if err != nil {
		return ""
	}
	for _, n := range ns {
		if n.Myself() {
			return n.MasterID
		}
	}
	return ""
}

// rolesAgree says whether every node of the inventory sees every master
// port as a master and every replica port as a replica.
func (f *chaos) rolesAgree() bool {
	ctx := context.Background()
	for _, addr := range f.addrs(f.servers) {
		ns, err := f.nodes(ctx, addr)
		if err != nil {
			return false
		}
		for _, n := range ns {
			master := strings.HasSuffix(n.Addr, ":"+strconv.Itoa(lab.MasterPort))
			if slices.Contains(f.addrs(f.servers), n.Addr) && master != n.IsMaster() {
				return false
			}
		}
	}
	return true
}

// waitHealthy waits until every node of the current inventory reports
// cluster_state:ok and sees no node failing; on timeout it says what was
// still wrong.
func (f *chaos) waitHealthy(t *testing.T, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	var why string
	healthy := func() bool {
		for _, addr := range f.addrs(f.servers) {
			info, err := f.pool.Client(addr).ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				why = fmt.Sprintf("%s: cluster_state not ok (%v)", addr, err)
				return false
			}
			ns, err := f.nodes(ctx, addr)
			if err != nil {
				why = fmt.Sprintf("%s: %v", addr, err)
				return false
			}
			for _, n := range ns {
				if n.Failing() {
					why = fmt.Sprintf("%s sees %s failing", addr, n.Addr)
					return false
				}
			}
		}
		return true
	}
	deadline := time.Now().Add(d)
	for !healthy() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for a healthy cluster: %s", d, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dump logs every lab node's view of the cluster, for a failed run.
func (f *chaos) dump(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, addr := range f.addrs(len(f.l.Hosts)) {
		text, err := f.pool.Client(addr).ClusterNodes(ctx).Result()
		t.Logf("CLUSTER NODES on %s (%v):\n%s", addr, err, text)
	}
}

// A failover of a cut-off master may excuse only a few lost or stale
// writes, all named and all in its slots, and never a foreign value.
func TestLostToFailover(t *testing.T) {
	const in, out = "chaos:partition:1884", "chaos:partition:1"
	var set cluster.SlotSet
	set.Add(cluster.KeySlot(in))
	if set.Has(cluster.KeySlot(out)) {
		t.Fatalf("%s and %s share slot %d", in, out, cluster.KeySlot(in))
	}
	cut := &scenario{failedOver: &set}
	for _, c := range []struct {
		name string
		s    *scenario
		v    load.Verify
		want bool
	}{
		{"nothing cut off", &scenario{}, load.Verify{Lost: 1, LostKeys: []string{in}}, false},
		{"nothing lost", cut, load.Verify{}, false},
		{"lost in its slots", cut, load.Verify{Lost: 1, LostKeys: []string{in}}, true},
		{"lost elsewhere too", cut, load.Verify{Lost: 2, LostKeys: []string{in, out}}, false},
		{"not all named", cut, load.Verify{Lost: 2, LostKeys: []string{in}}, false},
		{"too many", cut, load.Verify{Lost: maxFailoverLoss + 1, LostKeys: slices.Repeat([]string{in}, maxFailoverLoss+1)}, false},
		{"stale in its slots", cut, load.Verify{Stale: 1, StaleKeys: []string{in}}, true},
		{"lost and stale in its slots", cut, load.Verify{Lost: 1, LostKeys: []string{in}, Stale: 1, StaleKeys: []string{in}}, true},
		{"stale elsewhere", cut, load.Verify{Stale: 1, StaleKeys: []string{out}}, false},
		{"a foreign value too", cut, load.Verify{Stale: 1, Foreign: 1, StaleKeys: []string{in}}, false},
		{"too many lost and stale", cut, load.Verify{Lost: maxFailoverLoss, LostKeys: slices.Repeat([]string{in}, maxFailoverLoss),
			Stale: 1, StaleKeys: []string{in}}, false},
	} {
		if got := c.s.lostToFailover(c.v); got != c.want {
			t.Errorf("%s: lostToFailover = %v, want %v", c.name, got, c.want)
		}
	}
}
