package stage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/slotshift/slotshift/pkg/atomicfile"
	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/migrate"
	"github.com/slotshift/slotshift/pkg/plan"
	"github.com/slotshift/slotshift/pkg/report"
)

// Check ids of plan, rebalance and snapshot.
const (
	IDConverged   = "cluster.converged"
	IDMembers     = "rebalance.members"
	IDRepair      = "rebalance.repair"
	IDPlan        = "rebalance.plan"
	IDBatch       = "rebalance.batch"
	IDGates       = "rebalance.gates"
	IDBalanced    = "rebalance.balanced"
	IDLayoutSaved = "snapshot.layout"
)

// Plan computes the rebalance plan and reports it; it changes nothing.
func Plan(ctx context.Context, env Env, in RebalanceInput) (Result, error) {
	in.DryRun = true
	return Rebalance(ctx, env, in)
}

// Rebalance moves slots toward the planned layout in gated batches:
// observe, close any slot a killed run left open, wait for convergence,
// plan (toward the inventory's weights or a saved layout), then run the
// batches behind the gates. A held run is a hold check (exit 75), an
// aborted one a failed check (exit 1); neither leaves a slot open.
func Rebalance(ctx context.Context, env Env, in RebalanceInput) (Result, error) {
	r := newRebalancer(env, in)
	defer r.close()
	// No backup, no move: refused before the cluster is even observed.
	if r.res.Add(CheckBackupManifest(env, in.RequireBackup)...); r.res.Outcome() == report.OutcomeFail {
		return r.res, nil
	}
	err := r.run(ctx)
	return r.res, err
}

type rebalancer struct {
	*observer
	in  RebalanceInput
	res Result
	sec *report.RebalanceSection
	now func() time.Time // the window's clock; nil = time.Now
	// mover is the protocol chosen for this run; atomic protocols plan
	// the whole move as one batch of tasks, gated between tasks.
	mover moverChoice
	// planKeys is how many keys the plan moves, from CLUSTER SLOT-STATS;
	// 0 when the servers lack it.
	planKeys int64
}

func newRebalancer(env Env, in RebalanceInput) *rebalancer {
	// Gate probes and SETSLOT pipelines may take longer than an observation
	// read on a busy node; the executor bounds each call with its own deadline.
	o := newObserverTimeout(env, 30*time.Second)
	if in.Timeout <= 0 {
		in.Timeout = 60 * time.Second
	}
	sec := &report.RebalanceSection{DryRun: in.DryRun, Batches: []report.Batch{}}
	return &rebalancer{observer: o, in: in, sec: sec, res: Result{Rebalance: sec, Outputs: map[string]string{}}, now: env.Now}
}

func (r *rebalancer) run(ctx context.Context) error {
	snap, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	if down := unreachable(snap); len(down) > 0 {
		r.res.Add(report.Check{ID: IDMembers, Status: report.Fail, Message: "cannot rebalance with unreachable nodes: " + strings.Join(down, "; "),
			Hint: "bring the nodes back, or remove them from the cluster and the inventory"})
		return nil
	}
	// A killed run may have left atomic tasks running: wait for them or
	// cancel them, then plan from whole ranges.
	if found, err := r.settleTasks(ctx, snap); err != nil {
		return err
	} else if found {
		if snap, err = r.snapshot(ctx); err != nil {
			return err
		}
	}
	// A killed run leaves at most the slots it had in flight open; close
	// them first, deterministically, toward the side that was importing.
	if open := migrate.FindOpen(snap); len(open) > 0 {
		if r.in.DryRun {
			r.res.Add(report.Check{ID: IDRepair, Status: report.Warn, Message: fmt.Sprintf("%d open slot(s) left by an interrupted migration; rebalance will close them first", len(open))})
		} else {
			repaired, err := migrate.Repair(ctx, r.pool, snap)
			r.sec.RepairedSlots = repaired
			if err != nil {
				r.res.Add(report.Check{ID: IDRepair, Status: report.Error, Message: fmt.Sprintf("closing open slots: %v", err)})
				return fmt.Errorf("repair open slots: %w", err)
			}
			r.res.Add(report.Check{ID: IDRepair, Status: report.Pass, Message: fmt.Sprintf("closed %d open slot(s) left by an interrupted run: %s", len(repaired), slotList(repaired)), Observed: len(repaired)})
		}
	}
	if !r.in.DryRun {
		// A freshly joined master is not ready for seconds: moving slots in
		// that window leaves half-moved slots (redis-cli add-node's race).
		start := time.Now()
		conv, err := r.pool.WaitConverged(ctx, r.seeds(), r.in.Timeout, 100*time.Millisecond)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var nc *admin.NotConvergedError
			if errors.As(err, &nc) {
				r.res.Add(report.Check{ID: IDConverged, Status: report.Hold, Message: "cluster not converged: " + strings.Join(nc.Reasons, "; "), Hint: "retry later; a node that stays unreachable must be fixed first"})
				return nil
			}
			return fmt.Errorf("wait for convergence: %w", err)
		}
		r.res.Add(report.Check{ID: IDConverged, Status: report.Pass, Message: fmt.Sprintf("every node agrees on the slot map and reports cluster_state:ok (%.1fs)", time.Since(start).Seconds()), Duration: report.SecondsOf(time.Since(start))})
		snap = conv
	}

	live := check.NewLive(snap)
	if !live.Exists {
		r.res.Add(report.Check{ID: IDMembers, Status: report.Fail, Message: check.NotCreated, Hint: "run slotshift join first"})
		return nil
	}
	r.res.Fingerprint = live.Fingerprint()
	r.res.Masters, r.res.Replicas = len(live.Masters()), len(live.Replicas())
	if missing := r.missingMasters(live); len(missing) > 0 {
		r.res.Add(report.Check{ID: IDMembers, Status: report.Fail, Message: "inventory masters not in the cluster yet: " + strings.Join(missing, ", "), Hint: "run slotshift join first"})
		return nil
	}
	if r.mover, err = r.chooseMover(ctx, live); err != nil {
		return err
	}

	p, err := r.planFrom(live)
	if err != nil {
		r.res.Add(report.Check{ID: IDPlan, Status: report.Fail, Message: err.Error()})
		return nil
	}
	r.describePlan(p)
	r.countPlanKeys(ctx, live, p)
	if r.in.DryRun || len(p.Moves) == 0 {
		r.sec.Done = len(p.Moves) == 0
		r.sec.BatchesRemaining = len(p.Batches)
		r.outputs()
		return nil
	}
	return r.execute(ctx, snap, live, p)
}

// execute runs the plan's batches behind the gates.
func (r *rebalancer) execute(ctx context.Context, snap *cluster.Snapshot, live check.Live, p plan.Rebalance) error {
	if err := migrate.CheckFresh(snap, p); err != nil {
		return err
	}
	masterAddrs, replicas := live.Probed()
	mon := gate.NewMonitor(r.pool, masterAddrs, replicas, gate.MonitorOptions{Log: r.log, Links: gate.Links(r.inv)})
	mon.Start(ctx)
	defer mon.Close()
	if err := r.measureBaseline(ctx, mon, masterAddrs, slotless(live)); err != nil {
		return err
	}
	pacer := r.pacer(mon)
	policy := gate.Policy{Monitor: mon, Gates: r.inv.Gates, HoldTimeout: r.inv.Gates.HoldTimeout.Duration,
		// The legacy mover's pacer sends nothing during a second look.
		IdleLooks: pacer != nil && !r.mover.Protocol.Atomic()}
	var gater migrate.Gater = policy
	if w := r.inv.Gates.Window; w != nil {
		win, err := gate.NewWindow(*w)
		if err != nil {
			return err
		}
		gater = &gate.WindowPolicy{Inner: policy, Window: win, HoldTimeout: policy.HoldTimeout, Clock: r.now}
	}

	opts := migrate.Options{
		Concurrency:         r.in.Concurrency,
		BigKeyBytes:         r.inv.Rebalance.BigKeyBytes,
		PauseFile:           r.in.PauseFile,
		AbortFile:           r.in.AbortFile,
		MaxBatches:          r.in.MaxBatches,
		PauseBetweenBatches: r.inv.Rebalance.PauseBetweenBatches.Duration,
		Masters:             masterAddrs,
		Log:                 r.log,
		BeforeStep:          killAt(r.in.FaultKillAt),
		Pacer:               pacer,
		HoldTimeout:         r.inv.Gates.HoldTimeout.Duration,
		ListFrom:            listReplicas(live),
	}
	var remeasured remeasures
	if pacer != nil && r.variationGate() {
		opts.Rebaseline = func(ctx context.Context) error {
			return remeasured.measure(ctx, mon, masterAddrs, r.inv.Gates.BaselineWindow.Duration)
		}
		opts.RebaselineAfter = gateWindow
	}
	if r.in.ProgressEvents {
		opts.OnProgress = r.logProgress
	} else {
		opts.Status = r.status
	}
	mover, closeMover, err := r.newMover(r.mover)
	if err != nil {
		return err
	}
	defer closeMover()
	opts.Mover = mover
	opts.KeysTotal = r.planKeys
	pub := r.newMetrics(gater.Current)
	opts.OnProgress = pub.onProgress(opts.OnProgress)
	res, err := migrate.New(r.pool, opts).Run(ctx, p, gater)
	r.record(p, res)
	if c, ok := remeasured.check(); ok {
		r.res.Add(c)
	}
	r.res.Add(pub.finish(ctx, res)...)
	var big *migrate.ErrBigKey
	switch {
	case err == nil:
	case errors.As(err, &big):
		r.res.Add(report.Check{ID: "keys.big", Status: report.Hold, Node: big.Node, Message: big.Error(), Observed: big.Bytes, Threshold: big.Limit, Unit: "bytes",
			Hint: "move or split the key, or raise rebalance.big_key_bytes in the inventory"})
		return nil
	case errors.Is(err, migrate.ErrHeld), errors.Is(err, gate.ErrHoldTimeout):
		r.res.Add(report.Check{ID: IDGates, Status: report.Hold, Message: fmt.Sprintf("held after %d batch(es): %v", len(res.Batches), err), Hint: "the cluster is consistent (no slot open); retry later"})
		return nil
	case errors.Is(err, migrate.ErrAborted):
		r.res.Add(report.Check{ID: IDGates, Status: report.Fail, Message: fmt.Sprintf("aborted after %d batch(es): %v", len(res.Batches), err), Hint: "the run stopped at a slot boundary; no slot is open"})
		return nil
	default:
		if ctx.Err() != nil {
			return fmt.Errorf("rebalance stopped at a slot boundary: %w", ctx.Err())
		}
		return fmt.Errorf("rebalance: %w", err)
	}
	msg := "gates green: " + res.Gate.String()
	msg += heldText(mon, res)
	r.res.Add(report.Check{ID: IDGates, Status: report.Pass, Message: msg})
	// The replicas are checked while the final layout converges.
	after := make(chan []report.Check, 1)
	go func() { after <- afterAtomic(ctx, r.pool, mover, masterAddrs) }()
	if res.Done {
		r.checkBalanced(ctx)
	}
	r.res.Add(<-after...)
	return nil
}

// logProgress logs one snapshot of the run as a "progress" event: the
// status line's numbers under constant keys. eta_seconds is -1 while
// unknown.
func (r *rebalancer) logProgress(p migrate.Progress) {
	eta := -1.0
	if p.ETA >= 0 {
		eta = math.Round(p.ETA.Seconds()*10) / 10
	}
	attrs := []any{"batch", p.Batch, "batches", p.Batches,
		"slots_done", p.Slots, "slots_total", p.SlotsTotal,
		"keys", p.Keys, "keys_per_sec", math.Round(p.KeysPerSec*10) / 10,
		"eta_seconds", eta, "gates", p.Gates}
	if pc := p.Pace; pc != nil {
		attrs = append(attrs, "pace", math.Round(pc.Level*1000)/1000, "pace_node", pc.Addr, "keys_per_migrate", pc.Keys,
			"bytes_per_migrate", pc.Bytes,
			"budget_used", math.Round(pc.BudgetUsed*1000)/1000, "pace_exhausted", pc.Exhausted)
	}
	r.log.Info("progress", attrs...)
}

// killAt returns the fault-injection hook for FaultKillAt, or nil.
func killAt(spec string) func(step string, slot int) error {
	if spec == "" {
		return nil
	}
	step, nth, _ := strings.Cut(spec, ":")
	n, err := strconv.Atoi(nth)
	if err != nil || n < 1 {
		n = 1
	}
	var mu sync.Mutex
	seen := 0
	return func(s string, _ int) error {
		if s != step {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if seen++; seen == n {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way; never take the step
		}
		return nil
	}
}

// record copies the executor's result into the report section.
func (r *rebalancer) record(p plan.Rebalance, res migrate.Result) {
	r.sec.SlotsMoved = res.Slots
	r.sec.KeysMoved = res.Keys
	r.sec.BytesMoved = res.Bytes
	r.sec.Replaced = res.Replaced
	r.sec.BatchesRemaining = res.BatchesRemaining
	r.sec.Done = res.Done
	if s := res.Pace; s != nil {
		r.sec.Pace = &report.PaceSummary{Sources: s.Sources, Decisions: s.Decisions, MinLevel: s.MinLevel,
			MedianLevel: s.MedianLevel, Exhausted: report.SecondsOf(s.Exhausted), Dipped: report.SecondsOf(s.Dipped)}
		if c, ok := paceCheck(*s, res.Duration); ok {
			r.res.Add(c)
		}
	}
	for _, rb := range res.Batches {
		b := reportBatch(rb)
		r.sec.Batches = append(r.sec.Batches, b)
		r.res.Add(report.Check{ID: IDBatch, Status: b.Status, Batch: b.Number, Duration: b.Duration, Observed: b.Slots, Unit: "slots",
			Message: fmt.Sprintf("batch %d/%d: %d slots, %d keys, %d bytes in %.2fs", b.Number, len(p.Batches), b.Slots, b.Keys, b.Bytes, float64(b.Duration))})
	}
	if len(res.ListedOnReplicas) > 0 {
		var parts []string
		for _, rep := range slices.Sorted(maps.Keys(res.ListedOnReplicas)) {
			parts = append(parts, fmt.Sprintf("%s (%d)", rep, res.ListedOnReplicas[rep]))
		}
		r.res.Add(report.Check{ID: IDKeysListed, Status: report.Pass, Observed: len(parts), Unit: "replicas",
			Message: "keys were listed and sized on replicas, off their masters' event loops (slot groups per replica): " + strings.Join(parts, ", ")})
	}
	if res.Replaced > 0 {
		r.res.Add(report.Check{ID: "keys.busykey_replaced", Status: report.Warn, Observed: res.Replaced,
			Message: fmt.Sprintf("%d key(s) existed on both sides (BUSYKEY); the source copy, which held the latest writes, replaced the target's", res.Replaced)})
	}
	r.outputs()
}

// reportBatch is one batch's result in the report model: a batch that
// stopped short carries the reason as its own check.
func reportBatch(b migrate.BatchResult) report.Batch {
	rb := report.Batch{
		Number: b.Number, StartedAt: b.StartedAt.UTC(), Moves: appendMoves(nil, b.Number, b.Moves),
		Slots: b.Slots, Keys: b.Keys, Bytes: b.Bytes, Duration: report.SecondsOf(b.Duration),
		Status: batchStatus(b.State), Gates: gateReadings(b.Gate),
	}
	for _, pc := range b.Pace {
		rb.Pace = append(rb.Pace, report.PaceState{Node: pc.Addr, Level: pc.Level, KeysPerMigrate: pc.Keys,
			BytesPerMigrate: pc.Bytes, Depth: pc.Depth,
			Rest: pc.Rest, BudgetUsed: pc.BudgetUsed, Exhausted: pc.Exhausted})
	}
	if b.Err != nil {
		rb.Checks = append(rb.Checks, report.Check{ID: IDBatch, Status: rb.Status, Message: b.Err.Error(), Batch: b.Number})
	}
	return rb
}

// batchStatus is how a batch's end reads in a report: a batch stopped by an
// abort, an interrupt or the other batch in flight is skipped, not failed.
func batchStatus(s migrate.BatchState) report.Status {
	switch s {
	case migrate.BatchDone:
		return report.Pass
	case migrate.BatchHeld:
		return report.Hold
	case migrate.BatchStopped:
		return report.Skip
	}
	return report.Error
}

// gateReadings are the readings behind a gate decision, for the report.
func gateReadings(d gate.Decision) []report.GateReading {
	var out []report.GateReading
	for _, g := range d.Readings {
		out = append(out, report.GateReading{Gate: g.Gate, Node: g.Node, Value: g.Value, Hold: g.Hold, Abort: g.Abort, Decision: g.Decision})
	}
	return out
}

// appendMoves appends a batch's moves, as the report shows them, to dst.
func appendMoves(dst []report.Move, batch int, moves []plan.Move) []report.Move {
	for _, m := range moves {
		dst = append(dst, report.Move{From: m.FromAddr, To: m.ToAddr, Start: m.Range.Start, End: m.Range.End, Batch: batch})
	}
	return dst
}

func (r *rebalancer) outputs() {
	r.res.Outputs["batches-remaining"] = strconv.Itoa(r.sec.BatchesRemaining)
	r.res.Outputs["slots-moved"] = strconv.Itoa(r.sec.SlotsMoved)
	r.res.Outputs["keys-moved"] = strconv.FormatInt(r.sec.KeysMoved, 10)
	r.res.Outputs["done"] = strconv.FormatBool(r.sec.Done)
}

// checkBalanced re-observes after the last batch: no slot may be open and
// the layout must be within the threshold.
func (r *rebalancer) checkBalanced(ctx context.Context) {
	// The last SETSLOT NODE reaches the other masters directly or by
	// gossip; judge the layout once every node agrees on it, or on the
	// last view after balancedWait (the checks name what still differs).
	snap, err := r.pool.WaitConverged(ctx, r.seeds(), balancedWait, 100*time.Millisecond)
	var nc *admin.NotConvergedError
	if errors.As(err, &nc) {
		err = nil
	}
	if err != nil {
		r.res.Add(report.Check{ID: IDBalanced, Status: report.Error, Message: fmt.Sprintf("observe after rebalance: %v", err)})
		return
	}
	if open := migrate.FindOpen(snap); len(open) > 0 {
		r.res.Add(report.Check{ID: "slots.open", Status: report.Fail, Message: fmt.Sprintf("%d slot(s) open after the run", len(open))})
	}
	live := check.NewLive(snap)
	r.res.Fingerprint = live.Fingerprint()
	// Re-plan toward the same goal: a run that reached it leaves nothing
	// to move, whether the goal is the weights or a saved layout.
	p, err := r.planFrom(live)
	if err != nil {
		r.res.Add(report.Check{ID: IDBalanced, Status: report.Error, Message: err.Error()})
		return
	}
	moves := p.Moves
	if len(moves) == 0 {
		r.res.Add(report.Check{ID: IDBalanced, Status: report.Pass, Message: "the layout is the planned one; no slot open"})
		return
	}
	r.res.Add(report.Check{ID: IDBalanced, Status: report.Fail, Message: fmt.Sprintf("the planner still wants to move %d slot(s) after the run", countSlots(moves))})
}

// balancedWait bounds the wait for the nodes to agree before the final
// balance check.
const balancedWait = 10 * time.Second

// batchSlots is the most slots a batch moves: the inventory's with the
// legacy protocol (0 = the planner's default); the whole plan as one batch
// of tasks, gated between tasks, with an atomic one.
func (r *rebalancer) batchSlots() int {
	if r.mover.Protocol.Atomic() {
		return cluster.NumSlots
	}
	if r.inv.Rebalance.BatchSlots == 0 {
		return plan.DefaultBatchSlots
	}
	return r.inv.Rebalance.BatchSlots
}

// planFrom plans from the live cluster toward the goal of this run: the
// saved layout when one was given, the inventory's weights otherwise.
func (r *rebalancer) planFrom(live check.Live) (plan.Rebalance, error) {
	masters := mastersFor(r.inv, live, false)
	opts := plan.Options{BatchSlots: r.batchSlots(), ThresholdPercent: r.inv.Rebalance.ThresholdPercent, Fingerprint: live.Fingerprint()}
	if r.in.TargetLayout != nil {
		return plan.PlanToLayout(masters, *r.in.TargetLayout, opts)
	}
	return plan.PlanRebalance(masters, opts)
}

// describePlan puts the plan in the report and a human table in the summary.
func (r *rebalancer) describePlan(p plan.Rebalance) {
	ps := report.PlanSummary{Fingerprint: p.Fingerprint, Batches: len(p.Batches), SlotsToMove: countSlots(p.Moves), Moves: []report.Move{}, Targets: []report.SlotTarget{}}
	for _, b := range p.Batches {
		ps.Moves = appendMoves(ps.Moves, b.Number, b.Moves)
	}
	for _, t := range p.Targets {
		ps.Targets = append(ps.Targets, report.SlotTarget{Node: t.Addr, ID: t.ID, Weight: t.Weight, Current: t.Current, Target: t.Target})
	}
	r.sec.Plan = ps
	what := "toward the inventory's weights"
	if r.in.TargetLayout != nil {
		what = "toward the saved layout"
	}
	if len(p.Moves) == 0 {
		r.res.Add(report.Check{ID: IDPlan, Status: report.Pass, Message: "balanced within the threshold: nothing to move " + what})
		r.res.Summary = append(r.res.Summary, "nothing to move: the layout is balanced "+what)
		return
	}
	r.res.Add(report.Check{ID: IDPlan, Status: report.Pass, Observed: ps.SlotsToMove, Unit: "slots",
		Message: fmt.Sprintf("%d slots in %d moves and %d batches %s", ps.SlotsToMove, len(p.Moves), len(p.Batches), what)})
	r.res.Summary = append(r.res.Summary, fmt.Sprintf("plan %s: %d slots, %d moves, %d batches of at most %d slots (fingerprint %s)",
		what, ps.SlotsToMove, len(p.Moves), len(p.Batches), r.batchSlots(), p.Fingerprint))
	targets := append([]plan.Target(nil), p.Targets...)
	sort.Slice(targets, func(i, j int) bool { return targets[i].Addr < targets[j].Addr })
	for _, t := range targets {
		r.res.Summary = append(r.res.Summary, fmt.Sprintf("  %-21s %-10s %5d -> %5d slots (%+d)", t.Addr, check.ServerOf(r.inv, t.Addr), t.Current, t.Target, t.Target-t.Current))
	}
}

// missingMasters lists inventory masters the cluster does not have.
func (r *rebalancer) missingMasters(l check.Live) []string {
	var out []string
	for _, m := range r.inv.Masters() {
		if !l.Members[m.Addr()] {
			out = append(out, m.Name()+" ("+m.Addr()+")")
		}
	}
	return out
}

// Snapshot saves the current slot layout to a file, for rollback with
// rebalance --target-layout.
func Snapshot(ctx context.Context, env Env, in SnapshotInput) (Result, error) {
	o := newObserver(env)
	defer o.close()
	var res Result
	snap, err := o.snapshot(ctx)
	if err != nil {
		return res, err
	}
	if down := unreachable(snap); len(down) > 0 {
		res.Add(report.Check{ID: IDLayoutSaved, Status: report.Fail, Message: "unreachable nodes: " + strings.Join(down, "; ")})
		return res, nil
	}
	if open := migrate.FindOpen(snap); len(open) > 0 {
		res.Add(report.Check{ID: IDLayoutSaved, Status: report.Fail, Message: fmt.Sprintf("%d slot(s) are open: a layout saved now would not be one to return to", len(open)), Hint: "run rebalance (it closes open slots) first"})
		return res, nil
	}
	live := check.NewLive(snap)
	if !live.Exists {
		res.Add(report.Check{ID: IDLayoutSaved, Status: report.Fail, Message: check.NotCreated})
		return res, nil
	}
	res.Fingerprint = live.Fingerprint()
	res.Masters, res.Replicas = len(live.Masters()), len(live.Replicas())
	layout := plan.FromMasters(mastersFor(env.Inventory, live, false), env.Inventory.Cluster.Name, live.Fingerprint())
	if err := atomicfile.WriteJSON(in.Output, layout, 0o644); err != nil {
		return res, fmt.Errorf("write layout: %w", err)
	}
	res.Add(report.Check{ID: IDLayoutSaved, Status: report.Pass, Message: fmt.Sprintf("saved the layout of %d masters to %s", len(layout.Masters), in.Output)})
	res.Outputs = map[string]string{"layout-file": in.Output}
	return res, nil
}

// unreachable lists the observation errors of nodes that could not be read.
func unreachable(snap *cluster.Snapshot) []string {
	var out []string
	for _, a := range snap.Addrs() {
		if o := snap.Nodes[a]; !o.OK() {
			out = append(out, o.Err)
		}
	}
	return out
}

func countSlots(ms []plan.Move) int {
	n := 0
	for _, m := range ms {
		n += m.Range.Len()
	}
	return n
}

func slotList(slots []int) string {
	var s cluster.SlotSet
	for _, x := range slots {
		s.Add(x)
	}
	return s.String()
}

// IDKeysListed reports the replicas the legacy mover listed keys on.
const IDKeysListed = "keys.listed_on_replicas"

// listReplicas picks, for each master, a replica the legacy mover lists
// and sizes its keys on (migrate.LegacyOptions.ListFrom): one that is
// connected, not failing and announces an address, the lowest address
// first so that a rerun picks the same one. Masters without such a
// replica are listed on themselves.
func listReplicas(live check.Live) map[string]string {
	out := map[string]string{}
	for _, rep := range live.Replicas() {
		if rep.Addr == "" || rep.LinkState != "connected" || rep.HasFlag("fail") || rep.HasFlag("fail?") || rep.HasFlag("noaddr") {
			continue
		}
		m, ok := live.ByID(rep.MasterID)
		if !ok || m.Addr == "" {
			continue
		}
		if cur, ok := out[m.Addr]; !ok || rep.Addr < cur {
			out[m.Addr] = rep.Addr
		}
	}
	return out
}

// slotless returns the addresses of the masters that own no slot.
func slotless(live check.Live) []string {
	var out []string
	for _, m := range live.Masters() {
		if m.Slots.Len() == 0 {
			out = append(out, m.Addr)
		}
	}
	return out
}

// heldText says how often, and how long in all, the run stopped at a
// batch or slot boundary, on its gates or on an exhausted pace; "" when it
// never did. With a pacer the executor counts (moves parked at once each
// wait, and the monitor would add their waits up); without one only the
// run's loop waits, and the monitor's count is the run's.
func heldText(mon *gate.Monitor, res migrate.Result) string {
	n, held := mon.Held()
	if res.Pace != nil {
		n, held = res.Holds, res.Held
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; held %d time(s) at a boundary, %.1fs in all", n, held.Seconds())
}
