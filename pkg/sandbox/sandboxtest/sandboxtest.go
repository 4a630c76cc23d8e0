package sandboxtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/sandbox"
	"github.com/slotshift/slotshift/pkg/tlsconf"
)

// DefaultPassword is the password test clusters use unless Options says
// otherwise. It satisfies the inventory's length policy.
const DefaultPassword = "sandbox-password-0123456789"

// Convergence polling used by Form and WaitConverged.
const (
	pollEvery       = 50 * time.Millisecond
	convergeTimeout = 20 * time.Second
)

// Options configure a test cluster. Zero values take the documented defaults.
type Options struct {
	// Password is requirepass/masterauth. Default DefaultPassword.
	Password string
	// NodeTimeoutMS is cluster-node-timeout. Default 1000, so that clusters
	// converge in about a second.
	NodeTimeoutMS int
	// Bin is the server executable (see ServerBin). Default redis-server
	// from PATH.
	Bin string
	// Extra holds further redis.conf directives, identical on every node.
	// Unless set here, repl-diskless-sync-delay is 0 so that replicas finish
	// their first sync at once instead of after Redis' default 5 s.
	Extra map[string]string
	// TLS runs TLS-only nodes (tls-port, port 0, tls-cluster,
	// tls-replication) with a CA and certificate made for the test; the
	// harness' clients use TLS too.
	TLS bool
}

// Cluster is a set of redis-server processes started for one test.
type Cluster struct {
	Nodes    []*sandbox.Process
	Password string
	Dir      string
	// TLS is the PEM material of a TLS cluster (Options.TLS); ClientTLS
	// the configuration clients dial it with. Zero for a plain cluster.
	TLS       tlsconf.Material
	ClientTLS *tls.Config
	nodeTLS   *sandbox.TLSConfig

	opts    Options
	mu      sync.Mutex
	clients map[int]*redis.Client
	cc      *redis.ClusterClient
	pool    *admin.Pool // for WaitConverged
	byAddr  map[string]*redis.Client
}

// Start launches n cluster-enabled redis-server processes on free
// 127.0.0.1 ports, each in its own directory under t.TempDir(). They are not
// yet a cluster (see Form). t.Cleanup closes the clients and kills the
// processes, whatever the test's outcome. Start skips the test when
// redis-server is not installed.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	if _, err := sandbox.LookBin(opts.Bin); err != nil {
		t.Skipf("skipping: %v", err)
	}
	if opts.Password == "" {
		opts.Password = DefaultPassword
	}
	if opts.NodeTimeoutMS == 0 {
		opts.NodeTimeoutMS = 1000
	}
	extra := map[string]string{"repl-diskless-sync-delay": "0"}
	for k, v := range opts.Extra {
		extra[k] = v
	}
	opts.Extra = extra
	c := &Cluster{
		Password: opts.Password,
		Dir:      t.TempDir(),
		opts:     opts,
		clients:  map[int]*redis.Client{},
		byAddr:   map[string]*redis.Client{},
	}
	// Registered before any process starts so a half-started cluster is
	// stopped too. Cleanups run LIFO, so this runs before TempDir removal.
	t.Cleanup(c.close)

	c.setupTLS(t)
	c.startNodes(t, n)
	return c
}

// AddNodes starts k more nodes with the cluster's options, appends them to
// c.Nodes (indexes len(c.Nodes)…) and returns them. They are not part of the
// cluster until a test joins them; WaitConverged then waits for them too.
func (c *Cluster) AddNodes(t testing.TB, k int) []*sandbox.Process {
	t.Helper()
	first := len(c.Nodes)
	c.startNodes(t, k)
	return c.Nodes[first:]
}

func (c *Cluster) startNodes(t testing.TB, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := len(c.Nodes)
	procs := make([]*sandbox.Process, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			procs[i], errs[i] = sandbox.StartFree(ctx, sandbox.NodeConfig{
				Dir:           filepath.Join(c.Dir, fmt.Sprintf("node-%d", first+i)),
				Bin:           c.opts.Bin,
				Password:      c.opts.Password,
				NodeTimeoutMS: c.opts.NodeTimeoutMS,
				Extra:         c.opts.Extra,
				TLS:           c.nodeTLS,
			})
		}()
	}
	wg.Wait()
	// Appended even on failure so that cleanup stops the ones that started.
	c.mu.Lock()
	for _, p := range procs {
		if p != nil {
			c.Nodes = append(c.Nodes, p)
		}
	}
	c.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("sandboxtest: start %d nodes: %v", n, err)
	}
}

func (c *Cluster) close() {
	c.mu.Lock()
	for _, cl := range c.clients {
		_ = cl.Close()
	}
	for _, cl := range c.byAddr {
		_ = cl.Close()
	}
	if c.cc != nil {
		_ = c.cc.Close()
	}
	if c.pool != nil {
		_ = c.pool.Close()
	}
	c.clients, c.byAddr, c.cc, c.pool = map[int]*redis.Client{}, map[string]*redis.Client{}, nil, nil
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range c.Nodes {
		if p == nil {
			continue
		}
		wg.Add(1)
		// SIGKILL: the data is thrown away with the temp dir, and a killed
		// node cannot stall on a replica catch-up during shutdown.
		go func() { defer wg.Done(); _ = p.Kill() }()
	}
	wg.Wait()
}

// Addrs returns every node's host:port in node order.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, p := range c.Nodes {
		out[i] = p.Addr
	}
	return out
}

func (c *Cluster) newClient(addr string) *redis.Client {
	return admin.NewClient(addr, c.adminOptions())
}

// adminOptions are the credentials and timeouts of every client the
// harness builds.
func (c *Cluster) adminOptions() admin.Options {
	return admin.Options{Password: c.Password, TLS: c.clientTLS(), DialTimeout: time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
}

// Client returns a plain authenticated client to node i, closed at cleanup.
func (c *Cluster) Client(i int) *redis.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[i]; ok {
		return cl
	}
	cl := c.newClient(c.Nodes[i].Addr)
	c.clients[i] = cl
	return cl
}

// clientFor returns a plain client for any address a node announced.
func (c *Cluster) clientFor(addr string) *redis.Client {
	for i, p := range c.Nodes {
		if p.Addr == addr {
			return c.Client(i)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.byAddr[addr]; ok {
		return cl
	}
	cl := c.newClient(addr)
	c.byAddr[addr] = cl
	return cl
}

// ClusterClient returns a cluster client seeded with every node, closed at
// cleanup.
func (c *Cluster) ClusterClient() *redis.ClusterClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc == nil {
		c.cc = admin.NewClusterClient(admin.ClusterOptions{Seeds: c.Addrs()}, c.adminOptions())
	}
	return c.cc
}

// Form makes a cluster: nodes[0:masters] become masters with an even,
// contiguous split of the 16384 slots and distinct config epochs; every node
// meets node 0; then replica j (nodes[masters+j]) replicates master
// (j+1) % masters, so that no replica follows its neighbouring master. Form
// returns when WaitConverged does.
func (c *Cluster) Form(t testing.TB, masters int) {
	t.Helper()
	if masters < 1 || masters > len(c.Nodes) {
		t.Fatalf("sandboxtest: Form(%d) with %d nodes", masters, len(c.Nodes))
	}
	ctx, cancel := context.WithTimeout(context.Background(), convergeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(c.Nodes))
	for i := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Client(i).Pipelined(ctx, func(p redis.Pipeliner) error {
				if i < masters {
					start := i * cluster.NumSlots / masters
					end := (i+1)*cluster.NumSlots/masters - 1
					p.ClusterAddSlotsRange(ctx, start, end)
				}
				p.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1)
				return nil
			})
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", c.Nodes[i].Addr, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("sandboxtest: Form: assign slots and epochs: %v", err)
	}
	// Node 0 meets every node so that it knows all of them at once; gossip
	// from node 0 then introduces the others to each other.
	first := c.Client(0)
	if _, err := first.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, n := range c.Nodes[1:] {
			p.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(n.Port))
		}
		return nil
	}); err != nil {
		t.Fatalf("sandboxtest: Form: CLUSTER MEET from %s: %v", c.Nodes[0].Addr, err)
	}
	ids := make([]string, masters)
	for i := range masters {
		id, err := c.Client(i).ClusterMyID(ctx).Result()
		if err != nil {
			t.Fatalf("sandboxtest: Form: CLUSTER MYID on %s: %v", c.Nodes[i].Addr, err)
		}
		ids[i] = id
	}
	for j, n := range c.Nodes[masters:] {
		wg.Add(1)
		idx := masters + j
		go func() {
			defer wg.Done()
			m := (j + 1) % masters
			errs[idx] = c.replicate(ctx, idx, ids[m])
			if errs[idx] != nil {
				errs[idx] = fmt.Errorf("%s replicate %s: %w", n.Addr, c.Nodes[m].Addr, errs[idx])
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("sandboxtest: Form: %v", err)
	}
	c.WaitConverged(t)
}

// replicate issues CLUSTER REPLICATE once node i has learnt of the master
// through gossip (before that Redis answers "Unknown node").
func (c *Cluster) replicate(ctx context.Context, i int, masterID string) error {
	cl := c.Client(i)
	for {
		err := cl.ClusterReplicate(ctx, masterID).Err()
		if err == nil {
			return nil
		}
		if !strings.Contains(err.Error(), "Unknown node") {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("master still unknown: %w", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Divergence returns why the cluster of c.Nodes has not converged, naming
// each node, or nil: admin.Divergence (every node knows every node, one
// slot-map signature, cluster_state:ok, nothing in handshake) on a snapshot
// of every node, and every replica's link to its master up. It is the one
// convergence test of the harness; tests that build their own clusters use
// it too.
func Divergence(ctx context.Context, pool *admin.Pool, addrs []string) []string {
	snap, err := pool.Observe(ctx, addrs)
	if err != nil {
		return []string{err.Error()}
	}
	reasons := admin.Divergence(snap)
	for _, a := range addrs {
		o := snap.Nodes[a]
		switch {
		case o == nil:
			reasons = append(reasons, a+" not observed")
		case !o.OK():
			// admin.Divergence names it.
		case o.Info["role"] == "slave" && o.Info["master_link_status"] != "up":
			reasons = append(reasons, a+" master_link_status is not up")
		}
	}
	return reasons
}

// notConverged returns "" when every node agrees, or why not.
func (c *Cluster) notConverged(ctx context.Context) string {
	return strings.Join(Divergence(ctx, c.adminPool(), c.Addrs()), "; ")
}

// adminPool returns the harness's admin pool, closed at cleanup.
func (c *Cluster) adminPool() *admin.Pool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pool == nil {
		c.pool = admin.NewPool(c.adminOptions())
	}
	return c.pool
}

// WaitConverged polls every node every 50 ms until every node knows every
// node, all slot-map signatures agree, cluster_state is ok everywhere and
// every replica's link to its master is up. After 20 s it fails the test
// naming a node that has not converged.
func (c *Cluster) WaitConverged(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), convergeTimeout)
	defer cancel()
	for {
		why := c.notConverged(ctx)
		if why == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("sandboxtest: cluster not converged after %s: %s", convergeTimeout, why)
		case <-time.After(pollEvery):
		}
	}
}

// Value returns the deterministic value of key:<i>, size bytes long.
func Value(i, size int) []byte {
	b := make([]byte, size)
	prefix := strconv.Itoa(i) + ":"
	n := copy(b, prefix)
	for k := n; k < size; k++ {
		b[k] = byte('a' + (i+k)%26)
	}
	return b
}

// Key returns the name of the i-th key Load writes.
func Key(i int) string { return "key:" + strconv.Itoa(i) }

// Load writes keys key:0 … key:<n-1> with Value(i, valueSize), pipelined
// in batches of 5000 straight to the master owning each key's slot (from
// node 0's CLUSTER NODES), and returns n.
func (c *Cluster) Load(t testing.TB, n int, valueSize int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nodes, err := c.adminPool().ClusterNodes(ctx, c.Nodes[0].Addr)
	if err != nil {
		t.Fatalf("sandboxtest: Load: %v", err)
	}
	var owner [cluster.NumSlots]string
	for _, nd := range nodes {
		for _, r := range nd.Slots.Ranges() {
			for s := r.Start; s <= r.End; s++ {
				owner[s] = nd.Addr
			}
		}
	}
	byOwner := map[string][]int{}
	for i := range n {
		s := cluster.KeySlot(Key(i))
		if owner[s] == "" {
			t.Fatalf("sandboxtest: Load: slot %d (key %s) has no owner", s, Key(i))
		}
		byOwner[owner[s]] = append(byOwner[owner[s]], i)
	}
	addrs := make([]string, 0, len(byOwner))
	for a := range byOwner {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for ai, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys := byOwner[addr]
			cl := c.clientFor(addr)
			for len(keys) > 0 {
				batch := keys[:min(5000, len(keys))]
				keys = keys[len(batch):]
				if _, err := cl.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, i := range batch {
						p.Set(ctx, Key(i), Value(i, valueSize), 0)
					}
					return nil
				}); err != nil {
					errs[ai] = fmt.Errorf("%s: %w", addr, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("sandboxtest: Load: %v", err)
	}
	return n
}

// CheckKeys reads key:0 … key:<n-1> through the cluster client and reports
// (t.Errorf) the first five that are missing or hold a wrong value.
func (c *Cluster) CheckKeys(t testing.TB, n int, valueSize int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cc := c.ClusterClient()
	var bad []string
	badCount := 0
	for start := 0; start < n; start += 5000 {
		end := min(start+5000, n)
		cmds := make([]*redis.StringCmd, end-start)
		_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < end; i++ {
				cmds[i-start] = p.Get(ctx, Key(i))
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("sandboxtest: CheckKeys: read keys %d-%d: %v", start, end-1, err)
		}
		for k, cmd := range cmds {
			i := start + k
			v, err := cmd.Bytes()
			var why string
			switch {
			case errors.Is(err, redis.Nil):
				why = "missing"
			case err != nil:
				why = err.Error()
			case !bytes.Equal(v, Value(i, valueSize)):
				why = fmt.Sprintf("wrong value (%d bytes)", len(v))
			default:
				continue
			}
			badCount++
			if len(bad) < 5 {
				bad = append(bad, Key(i)+": "+why)
			}
		}
	}
	if badCount > 0 {
		t.Errorf("sandboxtest: CheckKeys: %d of %d keys bad, first: %s", badCount, n, strings.Join(bad, "; "))
	}
}

// RedisCLICheck runs `redis-cli --cluster check` (valkey-cli for a
// valkey-server cluster: see CLIBin) against node 0 (the
// password goes in REDISCLI_AUTH, never argv) and returns its output. It
// fails the test when the exit status is not 0 or the output lacks
// "[OK] All 16384 slots covered."; it skips only when the CLI is missing.
func (c *Cluster) RedisCLICheck(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath(CLIBin(c.opts.Bin))
	if err != nil {
		t.Skipf("skipping: %s not found: %v", CLIBin(c.opts.Bin), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append(c.cliTLSArgs(), "--cluster", "check", c.Nodes[0].Addr)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+c.Password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sandboxtest: redis-cli --cluster check %s: %v\n%s", c.Nodes[0].Addr, err, out)
	}
	if !strings.Contains(string(out), "[OK] All 16384 slots covered.") {
		t.Fatalf("sandboxtest: redis-cli --cluster check %s: slots not covered:\n%s", c.Nodes[0].Addr, out)
	}
	return string(out)
}

// OpenSlots lists the open-slot markers ("[slot->-id]", "[slot-<-id]")
// that any node reports on its own CLUSTER NODES line, as "addr marker". It
// reads the raw text, so it does not depend on slotshift's parser.
func (c *Cluster) OpenSlots(t testing.TB) []string {
	t.Helper()
	var out []string
	for i, n := range c.Nodes {
		text, err := c.Client(i).ClusterNodes(context.Background()).Result()
		if err != nil {
			t.Fatalf("CLUSTER NODES on %s: %v", n.Addr, err)
		}
		for _, line := range strings.Split(text, "\n") {
			if !strings.Contains(line, "myself") {
				continue
			}
			for _, f := range strings.Fields(line) {
				if strings.HasPrefix(f, "[") {
					out = append(out, n.Addr+" "+f)
				}
			}
		}
	}
	return out
}

// FailoverCooldown is how long a test waits before failing over a shard
// whose master took part in a failover just before: a master refuses to
// vote about the same master again for twice cluster-node-timeout, and a
// manual failover that gets no votes stalls the shard's writes for Redis'
// 5 s manual-failover timeout.
func (c *Cluster) FailoverCooldown() time.Duration {
	return 2*time.Duration(c.opts.NodeTimeoutMS)*time.Millisecond + 200*time.Millisecond
}
