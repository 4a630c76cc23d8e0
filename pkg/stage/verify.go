package stage

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/report"
)

// Verify runs the verify stage: what `redis-cli --cluster check` checks
// (agreement on the slot map, no open slot, all slots covered), plus
// cluster_state on every node, no failed node, every master with a replica
// on another server, replica links up and lag under the gate, slot
// distribution within the threshold of the planner's targets, the live
// cluster matching the inventory, canary writes and reads on every master
// through a cluster client (unless in.NoCanary) and PING latency under the
// gates. With in.EndpointsFile it also writes the client endpoints there
// (see Endpoints) and sets the outputs endpoints-file, masters and replicas,
// whatever the checks say: the file describes what was observed.
//
// Failures are checks in the Result; the error is non-nil only when the
// stage could not observe at all (the context ended).
func Verify(ctx context.Context, env Env, in VerifyInput) (Result, error) {
	inv := env.Inventory
	if inv == nil {
		return Result{}, Usagef("verify: no inventory")
	}
	start := time.Now()
	obs := newObserver(env)
	defer obs.close()
	snap, err := obs.snapshot(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("verify: %w", err)
	}
	l := check.NewLive(snap)
	taken := time.Now()
	if env.Now != nil {
		taken = env.Now()
	}

	var res Result
	res.Add(check.CheckObserved(inv, l)...)
	if !l.Exists {
		c := check.New(check.IDClusterState, report.Fail, "", "%s", check.NotCreated)
		c.Hint = "verify checks a running cluster; run slotshift join first"
		res.Add(c)
		return res, nil
	}

	var (
		wg      sync.WaitGroup
		lagRes  map[string]check.Lag
		latRes  map[string]check.Latency
		canRes  map[string]check.CanaryResult
		masters []string
	)
	for _, m := range l.Masters() {
		if o, ok := snap.Nodes[m.Addr]; ok && o.OK() && m.Slots.Len() > 0 {
			masters = append(masters, m.Addr)
		}
	}
	wg.Add(2)
	go func() { defer wg.Done(); lagRes = obs.lags(ctx, l) }()
	go func() { defer wg.Done(); latRes = obs.latency(ctx, masters) }()
	if !in.NoCanary {
		wg.Add(1)
		go func() { defer wg.Done(); canRes = obs.canary(ctx, l) }()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("verify: %w", err)
	}

	res.Add(check.HealthChecks(inv, l)...)
	res.Add(check.CheckPlacement(inv, l)...)
	res.Add(check.CheckReplLink(inv, l)...)
	res.Add(check.CheckReplLag(inv, lagRes, inv.Gates.ReplicationLagMS)...)
	pl := planFor(inv, l, false)
	if pl.err != nil {
		res.Add(check.New(check.IDDistribution, report.Skip, "", "no rebalance plan: %v", pl.err))
	} else {
		res.Add(check.CheckDistribution(inv, l, pl.targets, len(pl.plan.Moves), inv.Rebalance.ThresholdPercent)...)
	}
	res.Add(check.CheckInventoryMatch(inv, l)...)
	if in.NoCanary {
		res.Add(check.New(check.IDCanary, report.Skip, "", "canary writes disabled (--no-canary)"))
	} else {
		res.Add(check.CheckCanary(inv, canRes)...)
		for _, m := range l.Masters() {
			if _, ok := canRes[m.Addr]; !ok && m.Slots.Len() > 0 {
				c := check.New(check.IDCanary, report.Fail, m.Addr, "%s: no canary ran (the node is not reachable)", check.Label(inv, m.Addr))
				c.File, c.Line = check.LineOf(inv, m.Addr)
				res.Add(c)
			}
		}
	}
	res.Add(check.CheckLatency(inv, latRes, inv.Gates)...)
	if in.EndpointsFile != "" {
		writeEndpoints(&res, in.EndpointsFile, endpointsOf(env, l, taken))
	}

	res.Fingerprint = l.Fingerprint()
	res.Masters, res.Replicas = countRoles(l)
	res.Summary = []string{fmt.Sprintf("cluster %s: %d masters, %d replicas, fingerprint %s", inv.Cluster.Name, res.Masters, res.Replicas, res.Fingerprint)}
	obs.statusf("verify: %d nodes observed, %d checks, %d failed, in %s", len(snap.Nodes), len(res.Checks), len(check.Failed(res.Checks)), time.Since(start).Round(time.Millisecond))
	obs.log.Info("verify observed the cluster", "nodes", len(snap.Nodes), "checks", len(res.Checks), "duration", time.Since(start).Round(time.Millisecond))
	return res, nil
}
