package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/logkey"
	"github.com/slotshift/slotshift/pkg/plan"
	"github.com/slotshift/slotshift/pkg/report"
)

// Join check ids.
const (
	IDJoinRefused   = "join.refused"
	IDJoinMembers   = "join.membership"
	IDJoinConverged = "join.converged"
	IDJoinLinks     = "join.replica-links"
	IDJoinExtra     = "join.extra-nodes"
	IDJoinDeferred  = "join.deferred-replicas"
)

// Join actions recorded in the report.
const (
	ActionMet             = "met"
	ActionSlotsAssigned   = "slots-assigned"
	ActionReplicated      = "replicated"
	ActionForgotten       = "forgotten"
	ActionReset           = "reset"
	ActionFunctionsCopied = "functions-copied"
	ActionUnchanged       = "unchanged"
)

// DefaultJoinTimeout bounds every wait of join when JoinInput.Timeout is 0.
const DefaultJoinTimeout = 60 * time.Second

// joinPoll is how often join polls the nodes while it waits: short, so the
// run ends within one poll of the moment the servers have converged.
const joinPoll = 50 * time.Millisecond

// Join makes the cluster's membership match the inventory without ever
// moving a slot that could hold keys, and is safe to re-run (a second run
// changes nothing and reports mode "noop").
//
// It observes every inventory node and every node they know, plans with
// plan.PlanJoin, and refuses — a *UsageError naming each node, with nothing
// changed — a new node that holds keys or belongs to another cluster, an
// unreachable node, a role it cannot fix without moving data, and (with
// Prune) a node to remove that still owns slots. Then:
//
//   - create: ADDSLOTSRANGE the even split to the masters, SET-CONFIG-EPOCH
//     1..N, every node MEETs the first master, wait for convergence;
//   - extend: copy Redis Functions to new masters, new nodes MEET an
//     existing master, wait for convergence (every node knows every node,
//     one slot-map signature, cluster_state:ok everywhere);
//   - then CLUSTER REPLICATE per the inventory (new replicas, and existing
//     replicas following the wrong master) and wait for
//     master_link_status:up; MastersOnly defers new replicas;
//   - with Prune, CLUSTER FORGET every node the inventory lacks on every
//     other node at once (replicas first, then masters), then CLUSTER
//     RESET HARD on it (a new id, so that it can be added back at once).
//
// Every wait is bounded by in.Timeout (default 60 s); on timeout the error
// names what had not converged on which node.
func Join(ctx context.Context, env Env, in JoinInput) (Result, error) {
	inv := env.Inventory
	if inv == nil {
		return Result{}, Usagef("join: no inventory")
	}
	pool := in.Pool
	if pool == nil {
		pool = admin.NewPool(admin.Options{Username: env.Secrets.Username, Password: env.Secrets.Password, TLS: env.Secrets.TLS,
			PasswordEnv: inventory.PasswordEnv(inv), DialTimeout: dialTimeout})
		defer pool.Close()
	}
	j := newJoiner(env, in, pool)
	err := j.run(ctx)
	return j.res, err
}

type joiner struct {
	inv     *inventory.Inventory
	in      JoinInput
	pool    *admin.Pool
	log     *slog.Logger
	status  io.Writer
	now     func() time.Time
	res     Result
	plan    plan.JoinPlan
	seeds   []string // every inventory address
	mu      sync.Mutex
	started time.Time
}

func newJoiner(env Env, in JoinInput, pool *admin.Pool) *joiner {
	if in.Timeout <= 0 {
		in.Timeout = DefaultJoinTimeout
	}
	j := &joiner{
		inv:    env.Inventory,
		in:     in,
		pool:   pool,
		log:    env.Log,
		status: env.Status,
		now:    env.Now,
	}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	if j.status == nil {
		j.status = io.Discard
	}
	if j.now == nil {
		j.now = time.Now
	}
	j.res.Join = &report.JoinSection{Actions: []report.JoinAction{}}
	j.res.Outputs = map[string]string{"nodes-added": "0", "replicas-attached": "0", "nodes-removed": "0"}
	for _, r := range j.inv.Nodes() {
		j.seeds = append(j.seeds, r.Addr())
	}
	return j
}

func (j *joiner) statusf(format string, a ...any) { fmt.Fprintf(j.status, "join: "+format+"\n", a...) }

// action records one membership action with its duration.
func (j *joiner) action(node plan.JoinNode, what, detail string, d time.Duration) {
	name := node.Name
	if name == "" {
		name = node.Addr
	}
	if name == "" {
		name = node.ID // a node the cluster knows without an address
	}
	j.mu.Lock()
	j.res.Join.Actions = append(j.res.Join.Actions, report.JoinAction{Node: name, Action: what, Detail: detail, Duration: report.SecondsOf(d)})
	j.mu.Unlock()
	j.log.Info("join action", logkey.NodeName, name, logkey.Node, node.Addr, logkey.Action, what, logkey.Detail, detail, logkey.Duration, d.Round(time.Millisecond))
}

func (j *joiner) run(ctx context.Context) error {
	j.started = j.now()
	snap, err := j.pool.Observe(ctx, j.seeds)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("join: observe cluster: %w", ctxErr)
	}
	if snap == nil {
		return fmt.Errorf("join: observe cluster: %w", err)
	}
	p, err := j.planFrom(snap)
	if err != nil {
		return err
	}
	j.plan = p
	j.res.Join.Mode = p.Mode
	j.res.Fingerprint = p.Fingerprint
	if len(p.Refusals) > 0 {
		return j.refuse(p.Refusals)
	}
	j.noteExtras(p)

	for _, n := range p.Unchanged {
		j.action(n, ActionUnchanged, "", 0)
	}
	if !p.Changes() {
		// Nothing to do, but an earlier run may have stopped while the
		// cluster was settling: hand over a converged cluster or say why
		// not. On a healthy cluster this is one observation.
		if err := j.converge(ctx, "(no change needed)"); err != nil {
			return err
		}
		j.res.Add(report.Check{ID: IDJoinMembers, Status: report.Pass,
			Message: fmt.Sprintf("membership already matches the inventory (%d nodes); nothing changed", len(p.Unchanged))})
		j.res.Summary = append(j.res.Summary, fmt.Sprintf("no change: membership already matches the inventory (%d nodes)", len(p.Unchanged)))
		j.res.Masters, j.res.Replicas = roleCounts(snap)
		return nil
	}
	j.log.Info("join plan", logkey.Mode, p.Mode, "meet", len(p.Meet), "replicate", len(p.Replicate), "remove", len(p.Forget))
	j.statusf("%s: %d to meet, %d to replicate, %d to remove", p.Mode, len(p.Meet), len(p.Replicate), len(p.Forget))
	if err := j.execute(ctx); err != nil {
		return err
	}
	final, err := j.pool.Observe(ctx, j.seeds)
	if err == nil && final != nil {
		j.res.Fingerprint = cluster.Fingerprint(final.View())
		j.res.Masters, j.res.Replicas = roleCounts(final)
	}
	total := j.now().Sub(j.started)
	j.res.Summary = append(j.res.Summary, fmt.Sprintf("%s in %s: %s nodes added, %s replicas attached, %s nodes removed; %d masters, %d replicas",
		p.Mode, total.Round(time.Millisecond), j.res.Outputs["nodes-added"], j.res.Outputs["replicas-attached"], j.res.Outputs["nodes-removed"],
		j.res.Masters, j.res.Replicas))
	j.res.Add(report.Check{ID: IDJoinMembers, Status: report.Pass, Duration: report.SecondsOf(total),
		Message: fmt.Sprintf("%s: membership matches the inventory (%s added, %s replicas attached, %s removed)",
			p.Mode, j.res.Outputs["nodes-added"], j.res.Outputs["replicas-attached"], j.res.Outputs["nodes-removed"])})
	j.log.Info("join done", logkey.Mode, p.Mode, logkey.Duration, total.Round(time.Millisecond))
	return nil
}

// planFrom resolves replica placement (keeping the live assignments) and
// plans.
func (j *joiner) planFrom(snap *cluster.Snapshot) (plan.JoinPlan, error) {
	resolved := j.inv.Clone()
	if err := inventory.Resolve(resolved, liveReplicaOf(j.inv, snap)); err != nil {
		return plan.JoinPlan{}, &UsageError{Err: fmt.Errorf("join: %w", err), Hint: "fix replica_of in the inventory"}
	}
	p, err := plan.PlanJoin(resolved.Nodes(), snap, plan.JoinOptions{MastersOnly: j.in.MastersOnly, Prune: j.in.Prune})
	if err != nil {
		return p, fmt.Errorf("join: %w", err)
	}
	return p, nil
}

// liveReplicaOf maps every inventory replica that currently follows an
// inventory master to that master, both as "server:port", so that
// placement keeps what already works.
func liveReplicaOf(inv *inventory.Inventory, snap *cluster.Snapshot) map[string]string {
	nameByID := map[string]string{}
	type self struct {
		name   string
		master string
	}
	var selves []self
	for _, r := range inv.Nodes() {
		o := snap.Nodes[r.Addr()]
		if o == nil || !o.OK() {
			continue
		}
		me, ok := o.Self()
		if !ok {
			continue
		}
		nameByID[me.ID] = r.Name()
		if r.Role == inventory.RoleReplica && me.IsReplica() {
			selves = append(selves, self{r.Name(), me.MasterID})
		}
	}
	out := map[string]string{}
	for _, s := range selves {
		if m, ok := nameByID[s.master]; ok {
			out[s.name] = m
		}
	}
	return out
}

func (j *joiner) refuse(refusals []plan.Refusal) error {
	msgs := make([]string, len(refusals))
	var hints []string
	seen := map[string]bool{}
	for i, r := range refusals {
		msgs[i] = r.String()
		j.res.Add(report.Check{ID: IDJoinRefused, Status: report.Fail, Node: r.Node.Addr,
			File: r.Node.File, Line: r.Node.Line, Message: r.String(), Hint: r.Hint})
		if r.Hint != "" && !seen[r.Hint] {
			seen[r.Hint] = true
			hints = append(hints, r.Hint)
		}
	}
	j.res.Summary = append(j.res.Summary, "refused, nothing changed: "+strings.Join(msgs, "; "))
	return &UsageError{
		Err:  fmt.Errorf("join refused, nothing changed: %s", strings.Join(msgs, "; ")),
		Hint: strings.Join(hints, "; "),
	}
}

func (j *joiner) noteExtras(p plan.JoinPlan) {
	if len(p.Extra) > 0 {
		var names []string
		for _, e := range p.Extra {
			names = append(names, e.Node.String())
		}
		msg := fmt.Sprintf("%d cluster nodes are not in the inventory: %s", len(p.Extra), strings.Join(names, ", "))
		j.res.Add(report.Check{ID: IDJoinExtra, Status: report.Warn, Message: msg,
			Hint: "add them to the inventory, or drain them (rebalance) and run join --prune"})
		j.res.Summary = append(j.res.Summary, msg+" (left in place; --prune removes them)")
	}
	if len(p.Deferred) > 0 {
		var names []string
		for _, n := range p.Deferred {
			names = append(names, n.Name)
		}
		msg := fmt.Sprintf("replicas deferred (--masters-only): %s", strings.Join(names, ", "))
		j.res.Add(report.Check{ID: IDJoinDeferred, Status: report.Skip, Message: msg,
			Hint: "run join again without --masters-only after rebalancing"})
		j.res.Summary = append(j.res.Summary, msg)
	}
}

// execute runs the plan's steps in order, waiting for the cluster between
// them.
func (j *joiner) execute(ctx context.Context) error {
	p := j.plan
	if err := j.assign(ctx); err != nil {
		return err
	}
	if err := j.copyFunctions(ctx); err != nil {
		return err
	}
	if err := j.meet(ctx); err != nil {
		return err
	}
	if len(p.Meet) > 0 || len(p.Assign) > 0 {
		if err := j.converge(ctx, "after MEET"); err != nil {
			return err
		}
	}
	if len(p.Replicate) > 0 {
		if err := j.replicate(ctx); err != nil {
			return err
		}
		if err := j.waitReplicas(ctx); err != nil {
			return err
		}
	}
	if len(p.Forget) > 0 {
		if err := j.forget(ctx); err != nil {
			return err
		}
	}
	if len(p.Replicate) > 0 || len(p.Forget) > 0 {
		return j.converge(ctx, "at the end")
	}
	return nil
}

// parallel runs f for each item at once and joins the errors.
func parallel[T any](items []T, f func(T) error) error {
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f(it) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// assign gives a new cluster's masters their slots and every node its
// distinct config epoch (create only).
func (j *joiner) assign(ctx context.Context) error {
	p := j.plan
	if len(p.Assign) == 0 && len(p.Epochs) == 0 {
		return nil
	}
	epochs := map[string]int64{}
	for _, e := range p.Epochs {
		epochs[e.Node.Addr] = e.Epoch
	}
	ranges := map[string][]cluster.Range{}
	nodes := map[string]plan.JoinNode{}
	var addrs []string
	for _, a := range p.Assign {
		ranges[a.Node.Addr] = a.Ranges
		nodes[a.Node.Addr] = a.Node
		addrs = append(addrs, a.Node.Addr)
	}
	for _, e := range p.Epochs {
		if _, ok := nodes[e.Node.Addr]; !ok {
			nodes[e.Node.Addr] = e.Node
			addrs = append(addrs, e.Node.Addr)
		}
	}
	err := parallel(addrs, func(addr string) error {
		t0 := time.Now()
		if rs := ranges[addr]; len(rs) > 0 {
			if err := j.pool.AddSlotsRange(ctx, addr, rs); err != nil {
				return fmt.Errorf("join: assign slots to %s: %w", nodes[addr], err)
			}
		}
		if e, ok := epochs[addr]; ok {
			// Redis refuses once the epoch is set (an interrupted run): the
			// node already has a distinct epoch, which is all that matters.
			if err := j.pool.SetConfigEpoch(ctx, addr, e); err != nil && !admin.IsNotEmpty(err) {
				return fmt.Errorf("join: config epoch of %s: %w", nodes[addr], err)
			}
		}
		if rs := ranges[addr]; len(rs) > 0 {
			j.action(nodes[addr], ActionSlotsAssigned, fmt.Sprintf("%s (config epoch %d)", rangesString(rs), epochs[addr]), time.Since(t0))
		}
		return nil
	})
	return err
}

func rangesString(rs []cluster.Range) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ",")
}

// copyFunctions copies Redis Functions from an existing master to every
// new master before it joins, as redis-cli add-node does, when the cluster
// has any.
func (j *joiner) copyFunctions(ctx context.Context) error {
	var targets []plan.MeetStep
	for _, m := range j.plan.Meet {
		if m.Master && j.plan.Mode != plan.JoinCreate {
			targets = append(targets, m)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	src := targets[0].Target
	libs, err := j.pool.FunctionList(ctx, src.Addr)
	if err != nil {
		return fmt.Errorf("join: functions of %s: %w", src, err)
	}
	if len(libs) == 0 {
		return nil
	}
	payload, err := j.pool.FunctionDump(ctx, src.Addr)
	if err != nil {
		return fmt.Errorf("join: copy functions from %s: %w", src, err)
	}
	return parallel(targets, func(m plan.MeetStep) error {
		t0 := time.Now()
		// REPLACE: the new node is empty of keys, and the cluster's
		// libraries are the ones its keys' scripts expect.
		if err := j.pool.FunctionRestore(ctx, m.Node.Addr, payload, "REPLACE"); err != nil {
			return fmt.Errorf("join: copy functions to %s: %w", m.Node, err)
		}
		j.action(m.Node, ActionFunctionsCopied, fmt.Sprintf("%d libraries from %s", len(libs), src.Name), time.Since(t0))
		return nil
	})
}

// meet sends every MEET at once: each new node meets the target, by IP.
func (j *joiner) meet(ctx context.Context) error {
	steps := j.plan.Meet
	if len(steps) == 0 {
		return nil
	}
	ips := map[string]string{}
	for _, m := range steps {
		if _, ok := ips[m.Target.Addr]; ok {
			continue
		}
		ip, err := resolveIP(ctx, m.Target.Addr)
		if err != nil {
			return fmt.Errorf("join: meet %s: %w", m.Target, err)
		}
		ips[m.Target.Addr] = ip
	}
	err := parallel(steps, func(m plan.MeetStep) error {
		_, port, _ := net.SplitHostPort(m.Target.Addr)
		p, _ := strconv.Atoi(port)
		bus := m.TargetBusPort
		if bus == p+inventory.BusPortOffset {
			bus = 0 // the default form, as redis-cli sends it
		}
		t0 := time.Now()
		if err := j.pool.Meet(ctx, m.Node.Addr, ips[m.Target.Addr], p, bus); err != nil {
			return fmt.Errorf("join: %s meet %s: %w", m.Node, m.Target, err)
		}
		role := "replica"
		if m.Master {
			role = "master"
		}
		j.action(m.Node, ActionMet, fmt.Sprintf("as %s, via %s", role, m.Target.Name), time.Since(t0))
		return nil
	})
	if j.plan.Mode == plan.JoinCreate {
		j.res.Outputs["nodes-added"] = strconv.Itoa(len(steps) + 1)
	} else {
		j.res.Outputs["nodes-added"] = strconv.Itoa(len(steps))
	}
	return err
}

// resolveIP returns the IP of addr's host: MEET takes an IP, not a name.
func resolveIP(ctx context.Context, addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), nil
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("resolve %s: no address", host)
	}
	sort.Slice(ips, func(a, b int) bool { return ips[a].To4() != nil && ips[b].To4() == nil })
	return ips[0].String(), nil
}

// converge waits until every node of the cluster knows every other, all
// report one slot-map signature and cluster_state:ok.
func (j *joiner) converge(ctx context.Context, when string) error {
	t0 := time.Now()
	seeds := j.clusterSeeds()
	_, err := j.pool.WaitConverged(ctx, seeds, j.in.Timeout, joinPoll)
	d := time.Since(t0)
	if err != nil {
		msg := fmt.Sprintf("cluster not converged %s within %s", when, j.in.Timeout)
		j.res.Add(report.Check{ID: IDJoinConverged, Status: report.Error, Message: msg + ": " + err.Error(), Duration: report.SecondsOf(d),
			Hint: fmt.Sprintf("check that every node reaches every other on its port and bus port (port+%d); raise --timeout for a large cluster", inventory.BusPortOffset)})
		return fmt.Errorf("join: %s: %w", msg, err)
	}
	j.res.Add(report.Check{ID: IDJoinConverged, Status: report.Pass, Duration: report.SecondsOf(d),
		Message: fmt.Sprintf("%d nodes converged %s in %s", len(seeds), when, d.Round(time.Millisecond))})
	j.log.Info("join converged", logkey.When, when, logkey.Nodes, len(seeds), logkey.Duration, d.Round(time.Millisecond))
	j.statusf("converged %s in %s", when, d.Round(time.Millisecond))
	return nil
}

// clusterSeeds are the addresses that must agree: every inventory node in
// the cluster (or joining it now), not the deferred ones.
func (j *joiner) clusterSeeds() []string {
	skip := map[string]bool{}
	for _, n := range j.plan.Deferred {
		skip[n.Addr] = true
	}
	var out []string
	for _, a := range j.seeds {
		if !skip[a] {
			out = append(out, a)
		}
	}
	return out
}

// replicate sends every CLUSTER REPLICATE at once.
func (j *joiner) replicate(ctx context.Context) error {
	err := parallel(j.plan.Replicate, func(r plan.ReplicateStep) error {
		t0 := time.Now()
		if err := j.pool.Replicate(ctx, r.Node.Addr, r.Master.ID); err != nil {
			return fmt.Errorf("join: %s replicate %s: %w", r.Node, r.Master, err)
		}
		detail := "follows " + r.Master.Name
		if r.From != "" {
			detail += " (was " + r.From + ")"
		}
		j.action(r.Node, ActionReplicated, detail, time.Since(t0))
		return nil
	})
	j.res.Outputs["replicas-attached"] = strconv.Itoa(len(j.plan.Replicate))
	return err
}

// waitReplicas waits until every replica just attached reports
// master_link_status:up (its first sync is done) and every node of the
// cluster shows it as a replica of its master: gossip spreads the role
// change, and the next stage must not see two answers.
func (j *joiner) waitReplicas(ctx context.Context) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, j.in.Timeout)
	defer cancel()
	steps := j.plan.Replicate
	seeds := j.clusterSeeds()
	for {
		w := j.replicaWait(ctx, steps, seeds)
		if w.done() {
			d := time.Since(t0)
			j.res.Add(report.Check{ID: IDJoinLinks, Status: report.Pass, Duration: report.SecondsOf(d),
				Message: fmt.Sprintf("%d replica links up and seen by all %d nodes in %s", len(steps), len(seeds), d.Round(time.Millisecond))})
			j.log.Info("join replicas attached", logkey.Replicas, len(steps), logkey.Duration, d.Round(time.Millisecond))
			j.statusf("%d replicas attached in %s", len(steps), d.Round(time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("replicas not attached within %s: %s", j.in.Timeout, w)
			j.res.Add(report.Check{ID: IDJoinLinks, Status: report.Error, Message: msg, Duration: report.SecondsOf(time.Since(t0)),
				Hint: "check masterauth and that each replica reaches its master; a big first sync needs a longer --timeout"})
			return fmt.Errorf("join: %s", msg)
		case <-time.After(joinPoll):
		}
	}
}

// replicaLink is one replica's INFO replication, or why it is missing.
type replicaLink struct {
	info admin.Replication
	err  error
}

// nodeView is one node's CLUSTER NODES, or why it is missing.
type nodeView struct {
	nodes []cluster.Node
	err   error
}

// replicaWait reads every new replica's link and every node's view.
func (j *joiner) replicaWait(ctx context.Context, steps []plan.ReplicateStep, seeds []string) replicaProgress {
	var mu sync.Mutex
	links := map[string]replicaLink{}
	views := map[string]nodeView{}
	_ = parallel(steps, func(r plan.ReplicateStep) error {
		info, err := j.pool.ReplicationInfo(ctx, r.Node.Addr)
		mu.Lock()
		links[r.Node.Addr] = replicaLink{info, err}
		mu.Unlock()
		return nil
	})
	_ = parallel(seeds, func(addr string) error {
		nodes, err := j.pool.ClusterNodes(ctx, addr)
		mu.Lock()
		views[addr] = nodeView{nodes, err}
		mu.Unlock()
		return nil
	})
	return classifyReplicas(steps, links, views)
}

// replicaProgress is what join still waits for after CLUSTER REPLICATE,
// each entry naming the node.
type replicaProgress struct {
	// Unattached are replicas whose link to their master is not up yet
	// (or that did not answer).
	Unattached []string
	// Unseen are attached replicas that some node does not yet show under
	// their master: gossip lag.
	Unseen []string
	// Unobserved are nodes whose view could not be read.
	Unobserved []string
}

func (w replicaProgress) done() bool {
	return len(w.Unattached) == 0 && len(w.Unseen) == 0 && len(w.Unobserved) == 0
}

func (w replicaProgress) String() string {
	var parts []string
	for _, p := range []struct {
		what  string
		items []string
	}{{"not attached", w.Unattached}, {"attached, not yet seen", w.Unseen}, {"not observed", w.Unobserved}} {
		if len(p.items) > 0 {
			parts = append(parts, p.what+": "+strings.Join(p.items, "; "))
		}
	}
	return strings.Join(parts, "; ")
}

// classifyReplicas sorts what is missing: a replica whose link is not up
// is unattached, and only an attached replica is checked against every
// node's view, so a slow first sync is not reported as gossip lag.
func classifyReplicas(steps []plan.ReplicateStep, links map[string]replicaLink, views map[string]nodeView) replicaProgress {
	var w replicaProgress
	var attached []plan.ReplicateStep
	for _, r := range steps {
		l := links[r.Node.Addr]
		switch {
		case l.err != nil:
			w.Unattached = append(w.Unattached, fmt.Sprintf("%s: %v", r.Node, l.err))
		case !l.info.LinkUp():
			w.Unattached = append(w.Unattached, fmt.Sprintf("%s: master_link_status:%s master_sync_in_progress:%t", r.Node,
				l.info.MasterLinkStatus, l.info.MasterSyncInProgress))
		default:
			attached = append(attached, r)
		}
	}
	addrs := make([]string, 0, len(views))
	for a := range views {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, addr := range addrs {
		v := views[addr]
		if v.err != nil {
			w.Unobserved = append(w.Unobserved, fmt.Sprintf("%s: %v", addr, v.err))
			continue
		}
		byID := map[string]cluster.Node{}
		for _, n := range v.nodes {
			byID[n.ID] = n
		}
		for _, r := range attached {
			if n, ok := byID[r.Node.ID]; !ok || !n.IsReplica() || n.MasterID != r.Master.ID {
				w.Unseen = append(w.Unseen, fmt.Sprintf("%s does not yet see %s as a replica of %s", addr, r.Node.Name, r.Master.Name))
			}
		}
	}
	sort.Strings(w.Unattached)
	return w
}

// forget removes the plan's nodes one after another (replicas first): all
// targets forget the node at once — well inside the 60 s ban window — then
// the node itself is reset so it forgets the cluster too.
func (j *joiner) forget(ctx context.Context) error {
	removed := 0
	for _, f := range j.plan.Forget {
		t0 := time.Now()
		err := parallel(f.Targets, func(t plan.JoinNode) error {
			err := j.pool.Forget(ctx, t.Addr, f.Node.ID)
			if err != nil && admin.IsUnknownNode(err) {
				return nil // already forgotten (an earlier, interrupted run)
			}
			if err != nil {
				return fmt.Errorf("join: %s forget %s: %w", t, f.Node, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		j.action(f.Node, ActionForgotten, fmt.Sprintf("by %d nodes", len(f.Targets)), time.Since(t0))
		if f.Reset {
			t0 = time.Now()
			// HARD gives the node a new id: every node that forgot the
			// old one refuses it for 60 s, so a pruned node that kept its
			// id could not be added back within that minute.
			if err := j.pool.Reset(ctx, f.Node.Addr, true); err != nil {
				return fmt.Errorf("join: reset %s: %w", f.Node, err)
			}
			j.action(f.Node, ActionReset, "CLUSTER RESET HARD", time.Since(t0))
		}
		removed++
		j.res.Outputs["nodes-removed"] = strconv.Itoa(removed)
	}
	return nil
}

// roleCounts counts masters and replicas in the cluster's view.
func roleCounts(snap *cluster.Snapshot) (masters, replicas int) {
	for _, n := range snap.View() {
		switch {
		case n.IsReplica():
			replicas++
		case n.IsMaster():
			masters++
		}
	}
	return masters, replicas
}
