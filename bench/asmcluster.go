package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/redis/go-redis/v9"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/sandbox"
)

// The anchor's workload (shared/reference/asm-anchor.md): 10 nodes, three
// loaded masters (0-2) with a replica each (3 of 1, 4 of 2, 5 of 0), then
// two empty masters (6, 7) with a replica each (8 of 6, 9 of 7). Keys are
// key:<i> = value-<i>.
const (
	asmNodes   = 10
	asmMasters = 3
)

// asmReplicaOf maps a replica's node index to its master's.
var asmReplicaOf = map[int]int{3: 1, 4: 2, 5: 0, 8: 6, 9: 7}

// asmCluster is one fresh anchor cluster.
type asmCluster struct {
	dir, password string
	nodes         []*sandbox.Process
	pool          *admin.Pool
	keys          int
	log           *slog.Logger
	joined        int // nodes 0..joined-1 have met
}

func (c *asmCluster) addrs() []string { return addrsOf(c.nodes) }

func (c *asmCluster) close() {
	if c.pool != nil {
		_ = c.pool.Close()
	}
	for _, n := range c.nodes {
		if n != nil {
			_ = n.Kill()
		}
	}
	_ = os.RemoveAll(c.dir)
}

// buildASMCluster starts the anchor's 10 nodes with bin, forms the
// 3-master cluster, loads keys, joins the two empty masters and their
// replicas, and waits until all agree and every replica link is up.
func buildASMCluster(ctx context.Context, log *slog.Logger, bin, password string, keys, nodeTimeoutMS int) (_ *asmCluster, err error) {
	dir, err := os.MkdirTemp("", "slotshift-bench-asm-")
	if err != nil {
		return nil, err
	}
	c := &asmCluster{dir: dir, password: password, keys: keys, log: log, nodes: make([]*sandbox.Process, asmNodes)}
	c.pool = admin.NewPool(admin.Options{Password: password, ReadTimeout: 30 * time.Second})
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(5)
	for i := range c.nodes {
		g.Go(func() (err error) {
			c.nodes[i], err = sandbox.StartFree(gctx, sandbox.NodeConfig{Bin: bin, Dir: filepath.Join(dir, fmt.Sprintf("node-%d", i)), Password: password, NodeTimeoutMS: nodeTimeoutMS})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := c.formASM(ctx); err != nil {
		return nil, err
	}
	if err := c.loadASM(ctx); err != nil {
		return nil, err
	}
	if err := c.joinASM(ctx, []int{6, 7, 8, 9}); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *asmCluster) client(i int) *redis.Client { return c.pool.Client(c.nodes[i].Addr) }

// formASM gives masters 0-2 their slots, meets nodes 1-5 and replicates
// 3-5.
func (c *asmCluster) formASM(ctx context.Context) error {
	for i, r := range masterRanges {
		if err := c.client(i).ClusterAddSlotsRange(ctx, r.Start, r.End).Err(); err != nil {
			return fmt.Errorf("ADDSLOTSRANGE on %s: %w", c.nodes[i].Addr, err)
		}
		if err := c.client(i).Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err(); err != nil {
			return fmt.Errorf("SET-CONFIG-EPOCH on %s: %w", c.nodes[i].Addr, err)
		}
	}
	return c.joinASM(ctx, []int{1, 2, 3, 4, 5})
}

// joinASM meets nodes idx through node 0, waits for agreement, makes the
// replicas among them replicate, and waits for their links.
func (c *asmCluster) joinASM(ctx context.Context, idx []int) error {
	for _, i := range idx {
		if err := c.client(0).ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(c.nodes[i].Port)).Err(); err != nil {
			return fmt.Errorf("MEET %s: %w", c.nodes[i].Addr, err)
		}
	}
	c.joined = max(c.joined, idx[len(idx)-1]+1)
	if err := c.agree(ctx); err != nil {
		return err
	}
	for _, i := range idx {
		m, ok := asmReplicaOf[i]
		if !ok {
			continue
		}
		id, err := c.client(m).ClusterMyID(ctx).Result()
		if err != nil {
			return err
		}
		if err := retry(ctx, func() error { return c.client(i).ClusterReplicate(ctx, id).Err() }); err != nil {
			return fmt.Errorf("REPLICATE %s of %s: %w", c.nodes[i].Addr, c.nodes[m].Addr, err)
		}
	}
	if err := c.agree(ctx); err != nil {
		return err
	}
	return retry(ctx, func() error {
		for _, i := range idx {
			if _, ok := asmReplicaOf[i]; !ok {
				continue
			}
			info, err := c.client(i).Info(ctx, "replication").Result()
			if err != nil {
				return err
			}
			if cluster.InfoField(info, "master_link_status") != "up" {
				return fmt.Errorf("replica %s: link not up", c.nodes[i].Addr)
			}
		}
		return nil
	})
}

// agree waits until every node met so far agrees on the cluster.
func (c *asmCluster) agree(ctx context.Context) error {
	_, err := c.pool.WaitConverged(ctx, c.addrs()[:c.joined], convergeTimeout, 100*time.Millisecond)
	return err
}

// retry calls f every 100ms until it succeeds or convergeTimeout passes.
func retry(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(convergeTimeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// asmOwner is the master of slot in masterRanges.
func asmOwner(slot int) int {
	for i, r := range masterRanges {
		if slot >= r.Start && slot <= r.End {
			return i
		}
	}
	return 0
}

// loadASM writes key:<i> = value-<i> into each key's master, pipelined.
func (c *asmCluster) loadASM(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for m := range asmMasters {
		g.Go(func() error {
			p := c.client(m).Pipeline()
			for i := range c.keys {
				if asmOwner(cluster.KeySlot(keyName(i))) != m {
					continue
				}
				p.Set(gctx, keyName(i), "value-"+strconv.Itoa(i), 0)
				if p.Len() >= 5000 {
					if _, err := p.Exec(gctx); err != nil {
						return err
					}
				}
			}
			_, err := p.Exec(gctx)
			return err
		})
	}
	return g.Wait()
}

// asmCheck is what one run left, checked.
type asmCheck struct {
	MasterKeys, ReplicaKeys int64
	ReadBack                int
	MinSlots, MaxSlots      int
}

// verifyASM checks the anchor's conditions: no open slot, every key read
// back through its owner, the masters' and (within 60s) the replicas'
// DBSIZE sums equal to the keys loaded, and the five masters even.
func (c *asmCluster) verifyASM(ctx context.Context) (asmCheck, error) {
	var ch asmCheck
	snap, err := c.pool.WaitConverged(ctx, c.addrs(), convergeTimeout, 100*time.Millisecond)
	if err != nil {
		return ch, fmt.Errorf("converge after the run: %w", err)
	}
	owner := map[int]string{}
	ch.MinSlots = cluster.NumSlots
	for _, n := range snap.Nodes[c.nodes[0].Addr].Nodes {
		if !n.IsMaster() {
			continue
		}
		if len(n.Migrating)+len(n.Importing) > 0 {
			return ch, fmt.Errorf("open slots on %s", n.Addr)
		}
		slots := n.Slots.Slots()
		for _, s := range slots {
			owner[s] = n.Addr
		}
		ch.MinSlots, ch.MaxSlots = min(ch.MinSlots, len(slots)), max(ch.MaxSlots, len(slots))
	}
	for _, o := range snap.Nodes {
		for _, n := range o.Nodes {
			if n.Myself() && len(n.Migrating)+len(n.Importing) > 0 {
				return ch, fmt.Errorf("open slots on %s", n.Addr)
			}
		}
	}
	if ch.MasterKeys, err = c.sumDBSize(ctx, false); err != nil {
		return ch, err
	}
	if ch.MasterKeys != int64(c.keys) {
		return ch, fmt.Errorf("masters hold %d keys, want %d", ch.MasterKeys, c.keys)
	}
	if ch.ReadBack, err = c.readBack(ctx, owner); err != nil {
		return ch, err
	}
	err = retry(ctx, func() error {
		var err error
		if ch.ReplicaKeys, err = c.sumDBSize(ctx, true); err == nil && ch.ReplicaKeys != int64(c.keys) {
			err = fmt.Errorf("replicas hold %d keys, want %d", ch.ReplicaKeys, c.keys)
		}
		return err
	})
	if err != nil {
		return ch, err
	}
	if want := cluster.NumSlots / 5; ch.MinSlots < want-2 || ch.MaxSlots > want+3 {
		return ch, fmt.Errorf("masters own %d..%d slots, want about %d each", ch.MinSlots, ch.MaxSlots, want)
	}
	return ch, nil
}

// sumDBSize sums DBSIZE over the masters, or over the replicas.
func (c *asmCluster) sumDBSize(ctx context.Context, replicas bool) (int64, error) {
	var sum int64
	for i := range c.nodes {
		if _, isReplica := asmReplicaOf[i]; isReplica != replicas {
			continue
		}
		n, err := c.client(i).DBSize(ctx).Result()
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// readBack reads every key from the master owner names for its slot and
// compares its value.
func (c *asmCluster) readBack(ctx context.Context, owner map[int]string) (int, error) {
	byAddr := map[string][]int{}
	for i := range c.keys {
		a := owner[cluster.KeySlot(keyName(i))]
		byAddr[a] = append(byAddr[a], i)
	}
	ok := 0
	for addr, idx := range byAddr {
		if addr == "" {
			return ok, fmt.Errorf("%d keys in slots without an owner", len(idx))
		}
		for start := 0; start < len(idx); start += 5000 {
			part := idx[start:min(start+5000, len(idx))]
			p := c.pool.Client(addr).Pipeline()
			cmds := make([]*redis.StringCmd, len(part))
			for j, i := range part {
				cmds[j] = p.Get(ctx, keyName(i))
			}
			_, _ = p.Exec(ctx)
			for j, i := range part {
				v, err := cmds[j].Result()
				if err != nil || v != "value-"+strconv.Itoa(i) {
					return ok, fmt.Errorf("%s on %s: %q %v", keyName(i), addr, v, err)
				}
				ok++
			}
		}
	}
	return ok, nil
}

// asmGates never hold on a loaded machine: the CLI has no gates, and this
// benchmark times the movers (the 3->4 benchmark measures the gates).
const asmGates = `gates:
  latency_avg_ms: {hold: 500, abort: 5000}
  latency_p99_ms: {hold: 1000, abort: 10000}
  replication_lag_ms: {hold: 5000, abort: 60000}
  cpu_percent: {hold: 99, abort: 100}
  memory_percent: {hold: 99, abort: 100}
  hold_timeout: 60s
`

// inventoryASM is the slotshift inventory of the anchor cluster: five
// servers, each a master and the replica of another server's master.
func (c *asmCluster) inventoryASM(nodeTimeoutMS int) []byte {
	server := map[int]int{0: 1, 1: 2, 2: 3, 6: 4, 7: 5}
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\ncluster:\n  name: bench-asm\n  password_env: %s\n  node_timeout_ms: %d\nservers:\n", passwordEnv, nodeTimeoutMS)
	for _, s := range []struct{ name, master, replica int }{{1, 0, 3}, {2, 1, 4}, {3, 2, 5}, {4, 6, 9}, {5, 7, 8}} {
		of := asmReplicaOf[s.replica]
		fmt.Fprintf(&b, "  - name: server%d\n    address: 127.0.0.1\n    nodes:\n      - {port: %d, role: master}\n      - {port: %d, role: replica, replica_of: \"server%d:%d\"}\n",
			s.name, c.nodes[s.master].Port, c.nodes[s.replica].Port, server[of], c.nodes[of].Port)
	}
	b.WriteString(asmGates)
	return []byte(b.String())
}
