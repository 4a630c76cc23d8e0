package stage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/migrate"
	"github.com/slotshift/slotshift/pkg/plan"
	"github.com/slotshift/slotshift/pkg/report"
)

// Check ids of the mover choice and of atomic migration.
const (
	IDMover        = "rebalance.mover"
	IDTasks        = "rebalance.tasks"
	IDReplicas     = "rebalance.replicas"
	IDSnapshotWait = "rebalance.snapshot_wait"
	IDPlanKeys     = "rebalance.plan_keys"
)

// moverChoice is the protocol a run uses and what the masters support.
type moverChoice struct {
	migrate.Choice
	caps migrate.Capabilities
}

// probeMasters asks every master what it supports; it returns the
// capabilities they share and the masters lacking atomic migration.
func (r *rebalancer) probeMasters(ctx context.Context, masters []cluster.Node) (migrate.Capabilities, []string, error) {
	var caps []migrate.Capabilities
	var missing []string
	for _, m := range masters {
		c, err := migrate.ProbeCapabilities(ctx, r.pool, m.Addr)
		if err != nil {
			return migrate.Capabilities{}, nil, err
		}
		caps = append(caps, c)
		if !c.RedisASM && !c.ValkeyASM {
			missing = append(missing, m.Addr)
		}
	}
	return migrate.Common(caps), missing, nil
}

// chooseMover picks the protocol for --mover; "atomic" on masters without
// it is a usage error that says which lack it.
func (r *rebalancer) chooseMover(ctx context.Context, live check.Live) (moverChoice, error) {
	// Probed for --mover legacy too: SLOT-STATS counts the plan's keys.
	common, missing, err := r.probeMasters(ctx, live.Masters())
	if err != nil {
		return moverChoice{}, fmt.Errorf("probe the masters' slot migration support: %w", err)
	}
	ch, err := migrate.ChooseProtocol(r.in.Mover, common, missing)
	if err != nil {
		return moverChoice{}, &UsageError{Err: err, Hint: "use --mover legacy or auto, or upgrade every master"}
	}
	r.sec.Mover = string(ch.Protocol)
	r.res.Add(report.Check{ID: IDMover, Status: report.Pass, Observed: string(ch.Protocol), Message: fmt.Sprintf("slots move with the %s protocol (%s)", ch.Protocol, ch.Why)})
	return moverChoice{Choice: ch, caps: common}, nil
}

// settleTasks finds atomic migration tasks a killed run left running and
// waits for them (up to the run's timeout) or, with the abort file
// present, cancels them, so the run plans from whole ranges (whatever
// --mover says: the legacy protocol must not open a slot a task moves). It
// reports whether it found any.
func (r *rebalancer) settleTasks(ctx context.Context, snap *cluster.Snapshot) (bool, error) {
	live := check.NewLive(snap)
	if !live.Exists {
		return false, nil
	}
	common, _, err := r.probeMasters(ctx, live.Masters())
	if err != nil {
		return false, err
	}
	proto := migrate.ProtocolLegacy
	switch {
	case common.ValkeyASM:
		proto = migrate.ProtocolValkeyASM
	case common.RedisASM:
		proto = migrate.ProtocolRedisASM
	default:
		return false, nil
	}
	var addrs []string
	for _, m := range live.Masters() {
		addrs = append(addrs, m.Addr)
	}
	pending, err := migrate.PendingTasks(ctx, r.pool, proto, addrs)
	if err != nil || len(pending) == 0 {
		return false, err
	}
	if r.in.DryRun {
		r.res.Add(report.Check{ID: IDTasks, Status: report.Warn, Message: fmt.Sprintf("%d atomic migration task(s) still running: %v", len(pending), pending)})
		return false, nil
	}
	abort := r.in.AbortFile != "" && fileExists(r.in.AbortFile)
	what, err := migrate.SettlePending(ctx, r.pool, pending, r.in.Timeout, abort)
	if err != nil {
		r.res.Add(report.Check{ID: IDTasks, Status: report.Error, Message: fmt.Sprintf("settling %d task(s) of an earlier run: %v", len(pending), err)})
		return false, fmt.Errorf("settle atomic migration tasks: %w", err)
	}
	r.res.Add(report.Check{ID: IDTasks, Status: report.Pass, Observed: len(pending), Message: what + ": " + fmt.Sprint(pending)})
	return true, nil
}

// newMover returns the mover for ch (nil: the executor's legacy mover) and
// its closer.
func (r *rebalancer) newMover(ch moverChoice) (migrate.Mover, func(), error) {
	if !ch.Protocol.Atomic() {
		return nil, func() {}, nil
	}
	a, err := migrate.NewAtomic(r.pool, migrate.AtomicOptions{Protocol: ch.Protocol, Concurrency: r.in.Concurrency, SlotStats: ch.caps.SlotStats, Log: r.log})
	if err != nil {
		return nil, nil, err
	}
	return a, a.Close, nil
}

// afterAtomic checks the replicas of every master once atomic tasks have
// run, and reports the sources that had to wait for a snapshot child.
func afterAtomic(ctx context.Context, pool *admin.Pool, mover migrate.Mover, masters []string) []report.Check {
	a, ok := mover.(*migrate.Atomic)
	if !ok {
		return nil
	}
	var out []report.Check
	if s := a.Stalls(); len(s) > 0 {
		out = append(out, report.Check{ID: IDSnapshotWait, Status: report.Warn, Message: strings.Join(s, "; "),
			Hint: "a source's next task waits for its previous snapshot child; repl-diskless-sync-delay 0 shortens the wait"})
	}
	t0 := time.Now()
	err := migrate.CheckReplicas(ctx, pool, masters, 30*time.Second)
	switch {
	case err == nil:
		out = append(out, report.Check{ID: IDReplicas, Status: report.Pass, Duration: report.SecondsOf(time.Since(t0)), Message: "every replica has its master's stream and as many keys"})
	case errors.Is(err, context.Canceled), ctx.Err() != nil:
	default:
		out = append(out, report.Check{ID: IDReplicas, Status: report.Fail, Message: err.Error(),
			Hint: "check the replica's log; a replica that stopped applying the stream needs a full resync (CLUSTER REPLICATE again or restart it)"})
	}
	return out
}

// countPlanKeys counts the keys the plan moves with CLUSTER SLOT-STATS
// (Valkey >= 8.0, Redis >= 8.2), one call per master: the plan's report
// and the atomic mover's ETA use it. Servers without it are not asked.
func (r *rebalancer) countPlanKeys(ctx context.Context, live check.Live, p plan.Rebalance) {
	if !r.mover.caps.SlotStats || len(p.Moves) == 0 {
		return
	}
	var masters []string
	for _, m := range live.Masters() {
		masters = append(masters, m.Addr)
	}
	counts, err := migrate.SlotKeyCounts(ctx, r.pool, masters)
	if err != nil {
		r.res.Add(report.Check{ID: IDPlanKeys, Status: report.Warn, Message: "could not count the plan's keys: " + err.Error()})
		return
	}
	var n int64
	for _, m := range p.Moves {
		for s := m.Range.Start; s <= m.Range.End; s++ {
			n += counts[s]
		}
	}
	r.planKeys = n
	r.res.Add(report.Check{ID: IDPlanKeys, Status: report.Pass, Observed: n, Unit: "keys",
		Message: fmt.Sprintf("the plan moves %d keys (CLUSTER SLOT-STATS)", n)})
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
