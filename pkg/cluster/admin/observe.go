package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/slotshift/slotshift/pkg/cluster"
)

// InfoSections are the INFO sections Observe reads, in one INFO call.
var InfoSections = []string{"server", "clients", "memory", "persistence", "stats", "replication", "cpu", "cluster", "keyspace"}

// ConfigKeys are the directives Observe reads with CONFIG GET.
var ConfigKeys = []string{
	"cluster-node-timeout", "maxmemory", "maxmemory-policy", "appendonly", "save",
	"cluster-require-full-coverage", "cluster-allow-reads-when-down",
	"cluster-replica-validity-factor", "cluster-migration-barrier", "repl-backlog-size",
}

// observeLimit bounds the nodes observed at once.
const observeLimit = 16

// Observe observes the whole cluster reachable from seeds: every seed, then
// every node any reachable node lists in CLUSTER NODES (skipping noaddr),
// until no new address turns up. Each node costs one pipelined round trip
// (CLUSTER NODES, CLUSTER INFO, INFO, CONFIG GET of ConfigKeys). A node that
// cannot be observed gets Observation.Err saying why; Observe itself fails
// only when ctx is done.
func (p *Pool) Observe(ctx context.Context, seeds []string) (*cluster.Snapshot, error) {
	snap := &cluster.Snapshot{Taken: time.Now(), Nodes: map[string]*cluster.Observation{}}
	frontier := dedupe(seeds)
	for len(frontier) > 0 {
		obs := make([]*cluster.Observation, len(frontier))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(observeLimit)
		for i, addr := range frontier {
			g.Go(func() error {
				obs[i] = p.observeNode(gctx, addr)
				return nil
			})
		}
		_ = g.Wait()
		for i, addr := range frontier {
			snap.Nodes[addr] = obs[i]
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("observe cluster: %w", err)
		}
		var next []string
		for _, addr := range frontier {
			o := snap.Nodes[addr]
			for _, n := range o.Nodes {
				if n.Addr == "" || n.HasFlag("noaddr") {
					continue
				}
				if _, seen := snap.Nodes[n.Addr]; !seen {
					snap.Nodes[n.Addr] = nil
					next = append(next, n.Addr)
				}
			}
		}
		frontier = next
	}
	return snap, nil
}

func dedupe(addrs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range addrs {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// observeNode reads one node in a single pipelined round trip.
func (p *Pool) observeNode(ctx context.Context, addr string) *cluster.Observation {
	o := &cluster.Observation{Addr: addr}
	var (
		nodes *redis.StringCmd
		cinfo *redis.StringCmd
		info  *redis.StringCmd
		cfg   = make([]*redis.MapStringStringCmd, len(ConfigKeys))
	)
	_, err := p.Client(addr).Pipelined(ctx, func(pl redis.Pipeliner) error {
		info = pl.Info(ctx, InfoSections...)
		nodes = pl.ClusterNodes(ctx)
		cinfo = pl.ClusterInfo(ctx)
		for i, k := range ConfigKeys {
			cfg[i] = pl.ConfigGet(ctx, k)
		}
		return nil
	})
	// Pipelined returns the first failure: a dial or AUTH failure fails
	// every command alike, so it decides for the whole node.
	switch {
	case err == nil:
	case IsAuthError(err):
		o.Err = p.authMessage(addr)
		return o
	case IsUnreachable(err):
		o.Err = fmt.Sprintf("node %s unreachable: %v", addr, err)
		return o
	}
	if err := info.Err(); err != nil {
		if IsAuthError(err) {
			o.Err = p.authMessage(addr)
		} else {
			o.Err = fmt.Sprintf("INFO on %s: %v", addr, err)
		}
		return o
	}
	o.Info = cluster.ParseInfo(info.Val())
	if o.Info["cluster_enabled"] == "0" || IsClusterDisabled(nodes.Err()) {
		o.Err = fmt.Sprintf("cluster support disabled on %s: set \"cluster-enabled yes\" in its redis.conf and restart it", addr)
		return o
	}
	if err := nodes.Err(); err != nil {
		o.Err = fmt.Sprintf("CLUSTER NODES on %s: %v", addr, err)
		return o
	}
	if err := cinfo.Err(); err != nil {
		o.Err = fmt.Sprintf("CLUSTER INFO on %s: %v", addr, err)
		return o
	}
	parsed, perr := cluster.ParseNodes(nodes.Val())
	if perr != nil {
		o.Err = fmt.Sprintf("%s: %v", addr, perr)
		return o
	}
	o.Nodes = parsed
	if me, ok := cluster.Myself(parsed); ok {
		o.ID = me.ID
	}
	o.ClusterInfo = cluster.ParseInfo(cinfo.Val())
	o.Config = map[string]string{}
	// A missing or renamed CONFIG command leaves Config without that key:
	// checks that need it report it as unknown rather than failing the node.
	for _, c := range cfg {
		if c.Err() != nil {
			continue
		}
		for k, v := range c.Val() {
			o.Config[k] = v
		}
	}
	return o
}

func (p *Pool) authMessage(addr string) string {
	if p.opts.PasswordEnv != "" {
		return fmt.Sprintf("authentication failed on %s: check the password in $%s", addr, p.opts.PasswordEnv)
	}
	return fmt.Sprintf("authentication failed on %s: check the cluster password", addr)
}

// NotConvergedError is WaitConverged giving up: the cluster did not settle
// within the timeout. Reasons name each node and what is wrong with it.
type NotConvergedError struct {
	After   time.Duration
	Reasons []string
}

func (e *NotConvergedError) Error() string {
	return fmt.Sprintf("cluster not converged after %s: %s", e.After, strings.Join(e.Reasons, "; "))
}

// pollPerNode is the least WaitConverged poll period per node observed.
const pollPerNode = 2 * time.Millisecond

// firstPoll is WaitConverged's first wait: it doubles from there up to
// its poll. A cluster that is a gossip round from agreement (the last
// SETSLOT NODE of a rebalance has reached every master directly) agrees
// within a few milliseconds; a flat 100 ms poll made a fast rebalance of
// the benchmark's cluster wait ~0.1 s of its ~2 s for it.
const firstPoll = 10 * time.Millisecond

// WaitConverged observes the cluster until it has converged: every
// observed node reachable, no node in handshake or without address, every
// node reporting the same slot-map signature, knowing the same nodes and
// agreeing on their roles, and cluster_state:ok everywhere. It waits
// firstPoll after the first look, twice as long after each next, up to
// poll; on a large cluster no less than pollPerNode per node.
// It returns the converged snapshot,
// or after timeout the last snapshot and a *NotConvergedError.
func (p *Pool) WaitConverged(ctx context.Context, seeds []string, timeout, poll time.Duration) (*cluster.Snapshot, error) {
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	start := time.Now()
	deadline := start.Add(timeout)
	step := min(firstPoll, poll)
	for {
		snap, err := p.Observe(ctx, seeds)
		if err != nil {
			return nil, err
		}
		reasons := Divergence(snap)
		if len(reasons) == 0 {
			return snap, nil
		}
		// Each poll reads every node's CLUSTER NODES, which lists every
		// node: on a large cluster, poll less often, so the nodes spend
		// their time gossiping towards agreement rather than answering.
		var wait time.Duration
		wait, step = convergeWait(step, poll, len(snap.Nodes))
		if !time.Now().Add(wait).Before(deadline) {
			return snap, &NotConvergedError{After: time.Since(start).Round(time.Millisecond), Reasons: reasons}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return snap, fmt.Errorf("wait for convergence: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// convergeWait is WaitConverged's next wait after a look that waited
// step, and the step after it: step, but at least pollPerNode for each of
// nodes; the step doubles up to poll. Pure.
func convergeWait(step, poll time.Duration, nodes int) (wait, next time.Duration) {
	return max(step, time.Duration(nodes)*pollPerNode), min(2*step, poll)
}

// Divergence returns why snap is not converged (see WaitConverged), one
// reason per node and problem, or nil when it is. It does no I/O.
func Divergence(snap *cluster.Snapshot) []string {
	var reasons []string
	all := map[string]bool{} // every id any reachable node knows
	for _, a := range snap.Addrs() {
		o := snap.Nodes[a]
		if o == nil {
			continue
		}
		if !o.OK() {
			reasons = append(reasons, o.Err)
			continue
		}
		for _, n := range o.Nodes {
			switch {
			case n.HasFlag("handshake"):
				reasons = append(reasons, fmt.Sprintf("%s has node %s in handshake", a, nodeName(n)))
			case n.HasFlag("noaddr"):
				reasons = append(reasons, fmt.Sprintf("%s has node %s without address", a, nodeName(n)))
			default:
				all[n.ID] = true
			}
		}
	}
	reasons = append(reasons, roleDivergence(snap)...)
	reachable := snap.Reachable()
	for _, o := range reachable {
		known := 0
		for _, n := range o.Nodes {
			if !n.HasFlag("handshake") && !n.HasFlag("noaddr") && all[n.ID] {
				known++
			}
		}
		if missing := len(all) - known; missing > 0 {
			reasons = append(reasons, fmt.Sprintf("%s does not know %d nodes", o.Addr, missing))
		}
		if st := o.ClusterInfo["cluster_state"]; st != "ok" {
			reasons = append(reasons, fmt.Sprintf("%s cluster_state:%s", o.Addr, st))
		}
	}
	if len(reachable) > 0 && !snap.Agreed() {
		bySig := map[string][]string{}
		for addr, sig := range snap.Signatures() {
			bySig[short(sig)] = append(bySig[short(sig)], addr)
		}
		if len(bySig) > 1 {
			var parts []string
			for sig, addrs := range bySig {
				sort.Strings(addrs)
				parts = append(parts, strings.Join(addrs, ",")+"="+sig)
			}
			sort.Strings(parts)
			reasons = append(reasons, "signatures differ: "+strings.Join(parts, " "))
		} else if bySig[short("")] != nil {
			reasons = append(reasons, "no node owns any slot")
		}
	}
	return reasons
}

// roleDivergence returns a reason per node that another node lists in a
// role other than its own: a master it no longer is, or a replica of
// another master. A plan from such a view could open a slot on a
// replica, which refuses CLUSTER SETSLOT.
func roleDivergence(snap *cluster.Snapshot) []string {
	role := func(n cluster.Node) string {
		switch {
		case n.IsReplica():
			return "replica of " + shortID(n.MasterID)
		case n.IsMaster():
			return "master"
		}
		return ""
	}
	self := map[string]string{} // id -> its own role
	for _, o := range snap.Reachable() {
		if me, ok := o.Self(); ok {
			self[me.ID] = role(me)
		}
	}
	var reasons []string
	for _, o := range snap.Reachable() {
		for _, n := range o.Nodes {
			own, ok := self[n.ID]
			if n.Myself() || !ok || n.HasFlag("handshake") || n.HasFlag("noaddr") {
				continue
			}
			if seen := role(n); seen != own {
				reasons = append(reasons, fmt.Sprintf("%s sees %s as %s; it is %s", o.Addr, nodeName(n), seen, own))
			}
		}
	}
	return reasons
}

// shortID abbreviates a node id for messages.
func shortID(id string) string { return id[:min(8, len(id))] }

func nodeName(n cluster.Node) string {
	if n.Addr != "" {
		return shortID(n.ID) + " (" + n.Addr + ")"
	}
	return shortID(n.ID)
}

// short abbreviates a slot-map signature for messages.
func short(sig string) string {
	if sig == "" {
		return "(no slots)"
	}
	sum := sha256.Sum256([]byte(sig))
	return hex.EncodeToString(sum[:4])
}
