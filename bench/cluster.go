package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/sandbox"
)

// The three original masters' slot ranges, as redis-cli --cluster create
// would split them.
var masterRanges = []cluster.Range{{Start: 0, End: 5460}, {Start: 5461, End: 10922}, {Start: 10923, End: 16383}}

// loadBatch is how many SETs one pipeline carries while loading.
const loadBatch = 10000

// convergeTimeout bounds every wait for the cluster to agree. At Redis's
// default 15 s node timeout, a 104-node cluster takes over a minute to
// agree on its replicas' roles.
const convergeTimeout = 3 * time.Minute

// convergePoll is how often a wait for convergence reads every node's
// CLUSTER NODES: 50 ms, or 5 ms per node beyond 10. Each poll reads one
// reply per node that lists every node; polled every 50 ms, 104 nodes
// would spend their cores answering instead of gossiping.
func convergePoll(nodes int) time.Duration {
	return max(50*time.Millisecond, time.Duration(nodes)*5*time.Millisecond)
}

// benchCluster is one fresh cluster: loaded masters (three, or more at
// scale) and empty masters (one, or a pair at scale) that have joined and
// converged.
type benchCluster struct {
	dir      string
	password string
	nodes    []*sandbox.Process // the loaded masters, then the new ones
	masters  int                // how many of nodes are loaded masters
	// replicas[i] follows nodes[i], one per loaded master, when the
	// cluster is built with replicas (as production clusters run).
	replicas []*sandbox.Process
	pool     *admin.Pool
	keys     int
	log      *slog.Logger
}

// addrs returns every node's host:port.
func (c *benchCluster) addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Addr
	}
	return out
}

// allAddrs returns every node's host:port, replicas last.
func (c *benchCluster) allAddrs() []string { return append(c.addrs(), addrsOf(c.replicas)...) }

// newMaster is the (last) empty master the rebalance fills.
func (c *benchCluster) newMaster() *sandbox.Process { return c.nodes[len(c.nodes)-1] }

// ranges splits the slots over n masters: as redis-cli --cluster create
// would for three, evenly otherwise.
func ranges(n int) []cluster.Range {
	if n == len(masterRanges) {
		return masterRanges
	}
	out := make([]cluster.Range, n)
	for i := range n {
		out[i] = cluster.Range{Start: i * cluster.NumSlots / n, End: (i+1)*cluster.NumSlots/n - 1}
	}
	return out
}

// startNode starts one cluster-enabled node on a free port in dir/name.
func startNode(ctx context.Context, dir, name, password string, nodeTimeoutMS int) (*sandbox.Process, error) {
	return sandbox.StartFree(ctx, sandbox.NodeConfig{
		Dir:           filepath.Join(dir, name),
		Password:      password,
		NodeTimeoutMS: nodeTimeoutMS,
		Persistence:   false,
	})
}

// buildCluster starts four nodes under a fresh temp dir, forms a 3-master
// cluster, loads keys into it, joins the fourth node as an empty master and
// waits until all four agree and report cluster_state:ok. On error it tears
// down whatever it started.
// With replicas, each loaded master gets a replica once it is loaded.
func buildCluster(ctx context.Context, log *slog.Logger, password string, keys, nodeTimeoutMS int, replicas bool) (*benchCluster, error) {
	return buildClusterOf(ctx, log, password, keys, nodeTimeoutMS, len(masterRanges), 1, replicas)
}

// buildClusterOf is buildCluster with masters loaded masters and added
// empty ones.
func buildClusterOf(ctx context.Context, log *slog.Logger, password string, keys, nodeTimeoutMS, masters, added int, replicas bool) (_ *benchCluster, err error) {
	dir, err := os.MkdirTemp("", "slotshift-bench-")
	if err != nil {
		return nil, fmt.Errorf("cluster temp dir: %w", err)
	}
	c := &benchCluster{dir: dir, password: password, keys: keys, log: log, nodes: make([]*sandbox.Process, masters+added), masters: masters}
	c.pool = admin.NewPool(admin.Options{Password: password, ReadTimeout: 30 * time.Second})
	defer func() {
		if err != nil {
			c.close()
		}
	}()

	if replicas {
		c.replicas = make([]*sandbox.Process, masters)
	}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	start := func(ps []*sandbox.Process, prefix string) {
		for i := range ps {
			g.Go(func() error {
				p, err := startNode(gctx, dir, fmt.Sprintf("%s-%d", prefix, i), password, nodeTimeoutMS)
				if err != nil {
					return err
				}
				mu.Lock()
				ps[i] = p
				mu.Unlock()
				return nil
			})
		}
	}
	start(c.nodes, "node")
	start(c.replicas, "replica")
	if err := g.Wait(); err != nil {
		return nil, err
	}

	if err := c.form(ctx); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	log.Debug("loaded", "keys", keys, "took", time.Since(t0).Round(time.Millisecond))
	if err := c.join(ctx); err != nil {
		return nil, err
	}
	if err := c.replicate(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// replicate meets the replicas, makes replicas[i] follow nodes[i] and waits
// until every link is up and the cluster agrees.
func (c *benchCluster) replicate(ctx context.Context) error {
	if len(c.replicas) == 0 {
		return nil
	}
	for _, r := range c.replicas {
		if err := c.pool.Meet(ctx, c.nodes[0].Addr, "127.0.0.1", r.Port, 0); err != nil {
			return err
		}
	}
	if _, err := c.pool.WaitConverged(ctx, c.allAddrs(), convergeTimeout, convergePoll(len(c.allAddrs()))); err != nil {
		return fmt.Errorf("replicas of the cluster in %s: %w", c.dir, err)
	}
	for i, r := range c.replicas {
		id, err := c.pool.MyID(ctx, c.nodes[i].Addr)
		if err != nil {
			return err
		}
		if err := c.pool.Replicate(ctx, r.Addr, id); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(convergeTimeout)
	for _, r := range c.replicas {
		for {
			ri, err := c.pool.ReplicationInfo(ctx, r.Addr)
			if err == nil && ri.LinkUp() && !ri.MasterSyncInProgress {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("replica %s: link not up after %s (%v)", r.Addr, convergeTimeout, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	if _, err := c.pool.WaitConverged(ctx, c.allAddrs(), convergeTimeout, convergePoll(len(c.allAddrs()))); err != nil {
		return fmt.Errorf("replicas of the cluster in %s: %w", c.dir, err)
	}
	return nil
}

// form gives the loaded masters their slots and epochs, meets them and
// waits until they agree.
func (c *benchCluster) form(ctx context.Context) error {
	masters := c.nodes[:c.masters]
	rs := ranges(c.masters)
	for i, m := range masters {
		// Distinct epochs, as redis-cli --cluster create sets them, so that
		// no epoch collision has to be resolved while the cluster forms.
		if err := c.pool.SetConfigEpoch(ctx, m.Addr, int64(i+1)); err != nil {
			return err
		}
		if err := c.pool.AddSlotsRange(ctx, m.Addr, []cluster.Range{rs[i]}); err != nil {
			return err
		}
	}
	for _, m := range masters[1:] {
		if err := c.pool.Meet(ctx, masters[0].Addr, "127.0.0.1", m.Port, 0); err != nil {
			return err
		}
	}
	if _, err := c.pool.WaitConverged(ctx, addrsOf(masters), convergeTimeout, convergePoll(len(masters))); err != nil {
		return fmt.Errorf("%d-master cluster in %s: %w", c.masters, c.dir, err)
	}
	return nil
}

// join meets the empty masters and waits until every node agrees.
func (c *benchCluster) join(ctx context.Context) error {
	for _, nm := range c.nodes[c.masters:] {
		if err := c.pool.Meet(ctx, c.nodes[0].Addr, "127.0.0.1", nm.Port, 0); err != nil {
			return err
		}
	}
	snap, err := c.pool.WaitConverged(ctx, c.addrs(), convergeTimeout, convergePoll(len(c.addrs())))
	if err != nil {
		return fmt.Errorf("%d-master cluster in %s: %w", len(c.nodes), c.dir, err)
	}
	if n := countMasters(snap); n != len(c.nodes) {
		return fmt.Errorf("%d-master cluster in %s: converged with %d masters", len(c.nodes), c.dir, n)
	}
	return nil
}

func addrsOf(ps []*sandbox.Process) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Addr
	}
	return out
}

func countMasters(snap *cluster.Snapshot) int {
	n := 0
	for _, node := range snap.View() {
		if node.IsMaster() {
			n++
		}
	}
	return n
}

// load writes c.keys keys with pipelined SETs straight to each key's owning
// master, the three masters in parallel: a plain client per node avoids the
// cluster client's routing cost, and the slot maths is pkg/cluster's.
func (c *benchCluster) load(ctx context.Context) error {
	rs := ranges(c.masters)
	owned := make([][]int32, len(rs))
	for i := range c.keys {
		slot := cluster.KeySlot(keyName(i))
		for m, r := range rs {
			if slot >= r.Start && slot <= r.End {
				owned[m] = append(owned[m], int32(i))
				break
			}
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for m, idx := range owned {
		addr := c.nodes[m].Addr
		g.Go(func() error {
			cl := c.pool.Client(addr)
			for lo := 0; lo < len(idx); lo += loadBatch {
				hi := min(lo+loadBatch, len(idx))
				pipe := cl.Pipeline()
				for _, i := range idx[lo:hi] {
					pipe.Set(gctx, keyName(int(i)), appendValue(nil, int(i)), 0)
				}
				if _, err := pipe.Exec(gctx); err != nil {
					return fmt.Errorf("load keys into %s (batch at %d): %w", addr, lo, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// verification is what verify found after a rebalance.
type verification struct {
	// KeysMoved is the new master's DBSIZE.
	KeysMoved int64
	// NewMasterSlots is how many slots the new master owns.
	NewMasterSlots int
	// Problems lists every failed check; empty when the run is a result.
	Problems []string
}

// verify checks the cluster after a rebalance: it converges again, no key
// was lost or duplicated (DBSIZE sum), every new master owns its share of
// the slots (~4096 of 4 masters, within 2%), no slot is open, every
// replica holds as many keys as its master, and `redis-cli --cluster
// check` passes.
func (c *benchCluster) verify(ctx context.Context) (verification, error) {
	var v verification
	snap, err := c.pool.WaitConverged(ctx, c.allAddrs(), convergeTimeout, convergePoll(len(c.allAddrs())))
	if err != nil {
		var nc *admin.NotConvergedError
		if !errors.As(err, &nc) {
			return v, err
		}
		v.Problems = append(v.Problems, err.Error())
	}
	var sum int64
	for i, n := range c.nodes {
		size, err := c.pool.DBSize(ctx, n.Addr)
		if err != nil {
			return v, err
		}
		sum += size
		if i >= c.masters {
			v.KeysMoved += size
		}
	}
	if sum != int64(c.keys) {
		v.Problems = append(v.Problems, fmt.Sprintf("DBSIZE sum over the %d masters is %d, want %d", len(c.nodes), sum, c.keys))
	}
	if snap != nil {
		owned, covered := map[string]int{}, 0
		for _, id := range snap.Owners() {
			if id != "" {
				covered++
				owned[id]++
			}
		}
		want := cluster.NumSlots / len(c.nodes)
		for _, nm := range c.nodes[c.masters:] {
			n := 0
			if o := snap.Nodes[nm.Addr]; o != nil && o.ID != "" {
				n = owned[o.ID]
			}
			v.NewMasterSlots = n                        // the last one's
			if d := n - want; d*d*10000 > want*want*4 { // |d| > 2% of want
				v.Problems = append(v.Problems, fmt.Sprintf("new master %s owns %d slots, want %d±2%%", nm.Addr, n, want))
			}
		}
		if covered != cluster.NumSlots {
			v.Problems = append(v.Problems, fmt.Sprintf("%d of %d slots have an owner", covered, cluster.NumSlots))
		}
		// A node shows its own open slots only on its myself line.
		for _, o := range snap.Reachable() {
			if me, ok := o.Self(); ok && me.Open() {
				v.Problems = append(v.Problems, fmt.Sprintf("node %s has open slots (migrating %v, importing %v)", o.Addr, me.Migrating, me.Importing))
			}
		}
	}
	v.Problems = append(v.Problems, c.replicasCaughtUp(ctx)...)
	if p := c.cliCheck(ctx); p != "" {
		v.Problems = append(v.Problems, p)
	}
	return v, nil
}

// ansi matches the colour escapes redis-cli --cluster prints even to a pipe.
var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// cliCheck runs `redis-cli --cluster check` and returns "" when it passes,
// else why not (with its complaints).
func (c *benchCluster) cliCheck(ctx context.Context) string {
	cmd := exec.CommandContext(ctx, "redis-cli", "--cluster", "check", c.nodes[0].Addr)
	cmd.Env = childEnv("REDISCLI_AUTH=" + c.password)
	out, err := cmd.CombinedOutput()
	text := ansi.ReplaceAllString(string(out), "")
	var bad []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "[ERR]") || strings.Contains(line, "[WARNING]") {
			bad = append(bad, strings.TrimSpace(line))
		}
	}
	if !strings.Contains(text, "[OK] All 16384 slots covered") {
		bad = append(bad, "no \"[OK] All 16384 slots covered\" line")
	}
	if err != nil {
		bad = append(bad, "exit: "+err.Error())
	}
	if len(bad) == 0 {
		return ""
	}
	return "redis-cli --cluster check: " + strings.Join(bad, "; ")
}

// close stops every node and removes the cluster's directory. It uses its
// own context because it also runs after Ctrl-C cancelled the run's.
func (c *benchCluster) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if c.pool != nil {
		_ = c.pool.Close()
	}
	var wg sync.WaitGroup
	for _, n := range append(append([]*sandbox.Process(nil), c.nodes...), c.replicas...) {
		if n == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Stop(ctx); err != nil {
				c.log.Warn("stop node", "node", n.Addr, "err", err)
			}
		}()
	}
	wg.Wait()
	if err := os.RemoveAll(c.dir); err != nil {
		c.log.Warn("remove cluster dir", "dir", c.dir, "err", err)
	}
}

// childEnv is this process's environment without anything that would change
// how slotshift or redis-cli behave (SLOTSHIFT_* settings, GitHub Actions
// outputs, a stray REDISCLI_AUTH), plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "SLOTSHIFT_"), strings.HasPrefix(name, "GITHUB_"), name == "REDISCLI_AUTH":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// replicasCaughtUp waits up to 10s until each replica's DBSIZE equals its
// master's, and returns a problem for each that does not.
func (c *benchCluster) replicasCaughtUp(ctx context.Context) []string {
	var out []string
	deadline := time.Now().Add(10 * time.Second)
	for i, r := range c.replicas {
		for {
			want, err1 := c.pool.DBSize(ctx, c.nodes[i].Addr)
			got, err2 := c.pool.DBSize(ctx, r.Addr)
			if err := errors.Join(err1, err2); err == nil && got == want {
				break
			} else if time.Now().After(deadline) || ctx.Err() != nil {
				out = append(out, fmt.Sprintf("replica %s holds %d keys, its master %s %d (%v)", r.Addr, got, c.nodes[i].Addr, want, err))
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}
