package stage

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/logkey"

	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/plan"
	"github.com/slotshift/slotshift/pkg/report"
)

// Validate runs the validate stage. Offline it checks only the inventory
// (the rules of inventory.Check, plus the password length when the
// password is in the environment). Online it also looks at every node:
// reachability of the client and bus ports, authentication, cluster mode,
// versions, configuration drift, cluster health, that nodes to be added are
// empty, memory headroom for the slots they will receive, CPU and memory
// against the gates, big keys and recent backups on replicas. Given
// in.BackupManifest (online or offline) it applies the backup gate,
// CheckBackupManifest. Its Summary
// previews what join and rebalance would change.
//
// Unreachable nodes and wrong passwords are failed checks; the error is
// non-nil only when the stage could not observe at all (the context ended).
func Validate(ctx context.Context, env Env, in ValidateInput) (Result, error) {
	inv := env.Inventory
	if inv == nil {
		return Result{}, Usagef("validate: no inventory")
	}
	var res Result
	res.Add(check.OfflineChecks(inv, check.Offline{
		Base: in.Base, RequireOdd: in.RequireOddServers,
		Password: env.Secrets.Password, Username: env.Secrets.Username, Online: !in.Offline,
	})...)
	res.Summary = inventorySummary(inv, in.Base)
	// The backup gate reads a local file only: offline runs check it too.
	res.Add(CheckBackupManifest(env, in.BackupManifest)...)
	res.Add(tlsChecks(env)...)
	if in.Offline {
		return res, nil
	}

	start := time.Now()
	obs := newObserver(env)
	defer obs.close()
	snap, err := obs.snapshot(ctx)
	if err != nil {
		return res, fmt.Errorf("validate: %w", err)
	}
	l := check.NewLive(snap)
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}

	// The probes are independent; run them side by side so that the
	// slowest (the big-key budget) bounds the stage, not their sum.
	var (
		wg      sync.WaitGroup
		dialRes map[string]check.Dial
		cpuRes  map[string]float64
		bigRes  map[string]check.BigKeyScan
		aclRes  map[string]check.ACLProbe
	)
	reachable := addrsOf(snap.Reachable())
	var masters []string
	for _, o := range snap.Reachable() {
		if o.Info["role"] == "master" {
			masters = append(masters, o.Addr)
		}
	}
	wg.Add(4)
	go func() { defer wg.Done(); dialRes = dials(ctx, dialTargets(inv, l)) }()
	go func() { defer wg.Done(); cpuRes = obs.cpu(ctx, reachable) }()
	go func() { defer wg.Done(); aclRes = obs.aclProbes(ctx, reachable) }()
	go func() {
		defer wg.Done()
		bigRes = obs.bigKeys(ctx, masters, inv.Validate.BigKeyBudget.Duration)
	}()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("validate: %w", err)
	}

	res.Add(check.CheckReachable(inv, dialRes)...)
	res.Add(check.CheckAuth(inv, l, dialRes)...)
	res.Add(check.CheckClusterEnabled(inv, l)...)
	res.Add(check.CheckVersion(inv, l))
	res.Add(check.CheckConfigDrift(inv, l)...)
	res.Add(check.HealthChecks(inv, l)...)
	res.Add(check.CheckNewEmpty(inv, l)...)

	pl := planFor(inv, l, true)
	if pl.err != nil {
		res.Add(check.New(check.IDMemoryHeadroom, report.Skip, "", "no rebalance plan: %v", pl.err))
	} else {
		res.Add(check.CheckHeadroom(inv, l, pl.targets, inv.Gates.MemoryPercent)...)
	}
	res.Add(check.CheckCPU(inv, cpuRes, inv.Gates.CPUPercent)...)
	res.Add(check.CheckMemory(inv, l, inv.Gates.MemoryPercent)...)
	res.Add(check.CheckBigKeys(inv, bigRes, inv.Validate.BigKeyWarnBytes, inv.Validate.BigKeyFailBytes)...)
	res.Add(check.CheckBackup(inv, l, now(), inv.Validate.BackupMaxAge.Duration)...)
	res.Add(CheckKernel(ctx, env)...)
	if len(aclRes) > 0 {
		res.Add(check.CheckACL(inv, env.Secrets.aclUser(), aclRes)...)
	}

	res.Summary = append(res.Summary, changePreview(inv, l, pl)...)
	res.Fingerprint = l.Fingerprint()
	res.Masters, res.Replicas = countRoles(l)
	obs.statusf("validate: %d nodes observed, %d checks, %d failed, in %s", len(snap.Nodes), len(res.Checks), len(check.Failed(res.Checks)), time.Since(start).Round(time.Millisecond))
	obs.log.Info("validate observed the cluster", "nodes", len(snap.Nodes), "checks", len(res.Checks), logkey.Duration, time.Since(start).Round(time.Millisecond))
	return res, nil
}

// inventorySummary describes the inventory and, given a base, the servers
// the change adds and removes.
func inventorySummary(inv *inventory.Inventory, base *inventory.Inventory) []string {
	out := []string{fmt.Sprintf("inventory %s: %d servers, %d masters, %d replicas", inv.Source, len(inv.Servers), len(inv.Masters()), len(inv.Replicas()))}
	if base == nil {
		return out
	}
	names := func(i *inventory.Inventory) map[string]bool {
		m := map[string]bool{}
		for _, s := range i.Servers {
			m[s.Name] = true
		}
		return m
	}
	now, before := names(inv), names(base)
	var added, removed []string
	for _, s := range inv.Servers {
		if !before[s.Name] {
			added = append(added, s.Name)
		}
	}
	for _, s := range base.Servers {
		if !now[s.Name] {
			removed = append(removed, s.Name)
		}
	}
	if len(added) > 0 {
		out = append(out, "servers added since the base: "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		out = append(out, "servers removed since the base: "+strings.Join(removed, ", "))
	}
	if len(added) == 0 && len(removed) == 0 {
		out = append(out, "no server added or removed since the base")
	}
	return out
}

// planned is the rebalance the planner would make from the live cluster.
type planned struct {
	plan    plan.Rebalance
	targets []check.Receive
	err     error
}

// planFor plans the rebalance toward the inventory's weights from the live
// masters; withNew adds the inventory's masters that are not in the cluster
// yet (as join would), and masters the inventory lacks get weight 0 (they
// are drained before being removed).
func planFor(inv *inventory.Inventory, l check.Live, withNew bool) planned {
	if !l.Exists {
		return planned{err: fmt.Errorf("%s", check.NotCreated)}
	}
	masters := mastersFor(inv, l, withNew)
	p, err := plan.PlanRebalance(masters, plan.Options{
		BatchSlots:       inv.Rebalance.BatchSlots,
		ThresholdPercent: inv.Rebalance.ThresholdPercent,
		Fingerprint:      l.Fingerprint(),
	})
	if err != nil {
		return planned{err: err}
	}
	out := planned{plan: p}
	for _, t := range p.Targets {
		target := t.Target
		if len(p.Moves) == 0 {
			// Within the threshold nothing moves, whatever the exact
			// targets say: no node receives a slot.
			target = t.Current
		}
		out.targets = append(out.targets, check.Receive{Addr: t.Addr, Current: t.Current, Target: target})
	}
	return out
}

// mastersFor returns the live masters as planner input, weighted by the
// inventory (a master the inventory lacks gets weight 0: it is drained);
// withNew adds the inventory's masters that are not in the cluster yet.
func mastersFor(inv *inventory.Inventory, l check.Live, withNew bool) []plan.Master {
	weight := func(addr string) float64 {
		r, ok := inv.NodeByAddr(addr)
		if !ok {
			return 0
		}
		s, _ := inv.Server(r.Server)
		return s.EffectiveWeight()
	}
	var masters []plan.Master
	for _, m := range l.Masters() {
		masters = append(masters, plan.Master{ID: m.ID, Addr: m.Addr, Server: check.ServerOf(inv, m.Addr), Weight: weight(m.Addr), Slots: m.Slots})
	}
	if withNew {
		for _, r := range check.NewNodes(inv, l) {
			if r.Role != inventory.RoleMaster {
				continue
			}
			id := "new:" + r.Name()
			if o, ok := l.Snap.Nodes[r.Addr()]; ok && o.ID != "" {
				id = o.ID
			}
			masters = append(masters, plan.Master{ID: id, Addr: r.Addr(), Server: r.Server, Weight: weight(r.Addr())})
		}
	}
	return masters
}

// changePreview lists what join and rebalance would change, like a
// `terraform plan`: nodes to add, replicas to attach or re-point, slots to
// move and nodes to remove.
func changePreview(inv *inventory.Inventory, l check.Live, pl planned) []string {
	var out []string
	// Existing assignments, in inventory names, so placement keeps them.
	existing := map[string]string{}
	liveMaster := map[string]string{}
	for _, r := range l.Replicas() {
		m, ok := l.ByID(r.MasterID)
		if !ok {
			continue
		}
		rr, ok1 := inv.NodeByAddr(r.Addr)
		mr, ok2 := inv.NodeByAddr(m.Addr)
		if ok1 && ok2 {
			existing[rr.Name()] = mr.Name()
		}
		liveMaster[r.Addr] = m.Addr
	}
	assign, placeErr := inventory.PlaceReplicas(inv, existing)
	if !l.Exists {
		ms := inv.Masters()
		out = append(out, fmt.Sprintf("create the cluster: %d masters with about %d slots each, then attach %d replicas (slotshift join)", len(ms), 16384/max(len(ms), 1), len(inv.Replicas())))
		if placeErr == nil {
			for _, r := range inv.Replicas() {
				out = append(out, fmt.Sprintf("  attach replica %s to %s", r.Name(), assign[r.Name()]))
			}
		}
		return out
	}
	var adds, attaches, removes []string
	for _, r := range check.NewNodes(inv, l) {
		if r.Role == inventory.RoleMaster {
			adds = append(adds, fmt.Sprintf("  add master %s (%s)", r.Name(), r.Addr()))
		} else {
			adds = append(adds, fmt.Sprintf("  add replica %s (%s)", r.Name(), r.Addr()))
		}
	}
	if placeErr == nil {
		for _, r := range inv.Replicas() {
			want, ok := inv.NodeByName(assign[r.Name()])
			if !ok {
				continue
			}
			cur, in := liveMaster[r.Addr()]
			switch {
			case !in || !l.Members[r.Addr()]:
				attaches = append(attaches, fmt.Sprintf("  attach replica %s to %s", r.Name(), want.Name()))
			case cur != want.Addr():
				attaches = append(attaches, fmt.Sprintf("  re-point replica %s from %s to %s", r.Name(), check.Label(inv, cur), want.Name()))
			}
		}
	}
	for _, a := range l.MemberAddrs() {
		if _, ok := inv.NodeByAddr(a); !ok {
			n, _ := l.Node(a)
			removes = append(removes, fmt.Sprintf("  remove %s (id %s): not in the inventory", a, n.ID))
		}
	}
	if len(adds) > 0 {
		out = append(out, fmt.Sprintf("join: add %d node(s)", len(adds)))
		out = append(out, adds...)
	}
	if len(attaches) > 0 {
		out = append(out, fmt.Sprintf("join: %d replica change(s)", len(attaches)))
		out = append(out, attaches...)
	}
	switch {
	case pl.err != nil:
		out = append(out, "rebalance: not planned: "+pl.err.Error())
	case len(pl.plan.Moves) == 0:
		out = append(out, fmt.Sprintf("rebalance: slots are balanced within %g%%: nothing to move", inv.Rebalance.ThresholdPercent))
	default:
		moved := 0
		for _, m := range pl.plan.Moves {
			moved += m.Range.Len()
		}
		out = append(out, fmt.Sprintf("rebalance: move %d slots in %d batches of up to %d", moved, len(pl.plan.Batches), inv.Rebalance.BatchSlots))
		ts := append([]check.Receive(nil), pl.targets...)
		sort.Slice(ts, func(i, j int) bool { return ts[i].Addr < ts[j].Addr })
		for _, t := range ts {
			if t.Current != t.Target {
				out = append(out, fmt.Sprintf("  %s: %d → %d slots", check.Label(inv, t.Addr), t.Current, t.Target))
			}
		}
	}
	if len(removes) > 0 {
		out = append(out, fmt.Sprintf("remove %d node(s) (join --prune, after rebalance drains them)", len(removes)))
		out = append(out, removes...)
	}
	if len(adds)+len(attaches)+len(removes) == 0 && pl.err == nil && len(pl.plan.Moves) == 0 {
		out = append(out, "no changes: the cluster matches the inventory")
	}
	return out
}

// countRoles counts the live masters that own slots and the replicas.
func countRoles(l check.Live) (masters, replicas int) {
	for _, m := range l.Masters() {
		if m.Slots.Len() > 0 {
			masters++
		}
	}
	return masters, len(l.Replicas())
}
