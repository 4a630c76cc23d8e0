package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/inventory"
)

// Observation tuning. The read-only stages aim to finish in well under two
// seconds on a healthy cluster, so every probe is short and bounded.
const (
	dialTimeout    = time.Second
	cpuInterval    = 200 * time.Millisecond
	lagBound       = time.Second
	latencyPings   = 200
	bigKeyBatch    = 200
	bigKeyPause    = time.Millisecond // between SCAN batches: be gentle with production
	bigKeyTop      = 5
	probeParallel  = 16
	canaryTTL      = 60 * time.Second
	canaryTimeout  = 2 * time.Second
	maxCanaryTries = 1 << 22
)

// observer holds what a read-only stage needs to look at the cluster: the
// inventory, one admin client per node and a logger.
type observer struct {
	inv     *inventory.Inventory
	secrets Secrets
	pool    *admin.Pool
	log     *slog.Logger
	status  io.Writer
}

func newObserver(env Env) *observer { return newObserverTimeout(env, 3*time.Second) }

// newObserverTimeout is newObserver with the admin clients' read timeout.
func newObserverTimeout(env Env, readTimeout time.Duration) *observer {
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	status := env.Status
	if status == nil {
		status = io.Discard
	}
	return &observer{
		inv:     env.Inventory,
		secrets: env.Secrets,
		// Short timeouts: an unreachable node must become a failed check
		// quickly, never a hang.
		pool: admin.NewPool(admin.Options{
			Username: env.Secrets.Username, Password: env.Secrets.Password, PasswordEnv: passwordEnv(env.Inventory),
			DialTimeout: dialTimeout, ReadTimeout: readTimeout,
		}),
		log:    log,
		status: status,
	}
}

func passwordEnv(inv *inventory.Inventory) string {
	if inv == nil {
		return ""
	}
	return inv.Cluster.PasswordEnv
}

func (o *observer) close() { _ = o.pool.Close() }

func (o *observer) statusf(format string, a ...any) {
	fmt.Fprintf(o.status, format+"\n", a...)
}

// seeds are the inventory's node addresses.
func (o *observer) seeds() []string {
	var out []string
	for _, r := range o.inv.Nodes() {
		out = append(out, r.Addr())
	}
	return out
}

// snapshot observes every inventory node and every node the cluster knows,
// then reads the inventory's redis_config directives that the observation
// did not already fetch, so that config.drift can compare them. It returns
// an error only when the context ends.
func (o *observer) snapshot(ctx context.Context) (*cluster.Snapshot, error) {
	snap, err := o.pool.Observe(ctx, o.seeds())
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, fmt.Errorf("observe cluster: %w", ctxErr)
	}
	if snap == nil {
		// Observe could not even start: record the reason on every seed
		// so that each becomes a failed check rather than a stage error.
		snap = &cluster.Snapshot{Taken: time.Now(), Nodes: map[string]*cluster.Observation{}}
		for _, a := range o.seeds() {
			snap.Nodes[a] = &cluster.Observation{Addr: a, Err: fmt.Sprintf("observe %s: %v", a, err)}
		}
	}
	var keys []string
	for k := range o.inv.Cluster.RedisConfig {
		keys = append(keys, strings.ToLower(k))
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return snap, nil
	}
	var mu sync.Mutex
	perNode(ctx, addrsOf(snap.Reachable()), func(ctx context.Context, addr string) struct{} {
		obs := snap.Nodes[addr]
		for _, k := range keys {
			mu.Lock()
			_, have := obs.Config[k]
			mu.Unlock()
			if have {
				continue
			}
			vals, err := o.pool.Client(addr).ConfigGet(ctx, k).Result()
			if err != nil {
				o.log.Debug("config get failed", "node", addr, "directive", k, "err", err)
				continue
			}
			mu.Lock()
			if obs.Config == nil {
				obs.Config = map[string]string{}
			}
			if v, ok := vals[k]; ok {
				obs.Config[k] = v
			}
			mu.Unlock()
		}
		return struct{}{}
	})
	return snap, nil
}

func addrsOf(obs []*cluster.Observation) []string {
	out := make([]string, len(obs))
	for i, o := range obs {
		out[i] = o.Addr
	}
	return out
}

// perNode runs f for every address, at most probeParallel at a time, and
// collects the results.
func perNode[T any](ctx context.Context, addrs []string, f func(context.Context, string) T) map[string]T {
	out := make(map[string]T, len(addrs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, probeParallel)
	for _, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			v := f(ctx, a)
			mu.Lock()
			out[a] = v
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// dials connects over TCP to every target's client port and cluster bus
// port (port+10000, or the bus port the cluster announces).
func dials(ctx context.Context, targets map[string]string) map[string]Dial {
	addrs := slices.Sorted(maps.Keys(targets))
	return perNode(ctx, addrs, func(ctx context.Context, addr string) Dial {
		var d Dial
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); d.Port = dialErr(ctx, addr) }()
		go func() { defer wg.Done(); d.Bus = dialErr(ctx, targets[addr]) }()
		wg.Wait()
		return d
	})
}

func dialErr(ctx context.Context, addr string) string {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return fmt.Sprintf("dial %s: %v", addr, err)
	}
	_ = c.Close()
	return ""
}

// dialTargets maps each address to check to its bus address.
func dialTargets(inv *inventory.Inventory, l Live) map[string]string {
	out := map[string]string{}
	for _, r := range inv.Nodes() {
		out[r.Addr()] = r.BusAddr()
	}
	for a := range l.Members {
		if _, ok := out[a]; ok {
			continue
		}
		n, _ := l.node(a)
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		bus := n.BusPort
		if bus == 0 {
			p, _ := strconv.Atoi(port)
			bus = p + inventory.BusPortOffset
		}
		out[a] = net.JoinHostPort(host, strconv.Itoa(bus))
	}
	return out
}

// cpu measures each node's CPU use: the used_cpu_sys+used_cpu_user delta
// over cpuInterval of wall time, in percent of one core.
func (o *observer) cpu(ctx context.Context, addrs []string) map[string]float64 {
	res := perNode(ctx, addrs, func(ctx context.Context, addr string) *float64 {
		c := o.pool.Client(addr)
		sample := func() (float64, time.Time, error) {
			info, err := c.Info(ctx, "cpu").Result()
			if err != nil {
				return 0, time.Time{}, err
			}
			f := cluster.ParseInfo(info)
			sys, _ := infoFloat(f, "used_cpu_sys")
			user, _ := infoFloat(f, "used_cpu_user")
			return sys + user, time.Now(), nil
		}
		c0, t0, err := sample()
		if err != nil {
			o.log.Debug("cpu probe failed", "node", addr, "err", err)
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cpuInterval):
		}
		c1, t1, err := sample()
		if err != nil {
			o.log.Debug("cpu probe failed", "node", addr, "err", err)
			return nil
		}
		pct := 100 * (c1 - c0) / t1.Sub(t0).Seconds()
		return &pct
	})
	out := map[string]float64{}
	for a, v := range res {
		if v != nil {
			out[a] = max(*v, 0)
		}
	}
	return out
}

// bigKeys scans each node with SCAN and MEMORY USAGE, in batches with a
// short pause between them, until the scan ends or budget runs out, and
// keeps the largest keys.
func (o *observer) bigKeys(ctx context.Context, addrs []string, budget time.Duration) map[string]BigKeyScan {
	return perNode(ctx, addrs, func(ctx context.Context, addr string) BigKeyScan {
		s, err := scanBigKeys(ctx, o.pool.Client(addr), budget)
		if err != nil {
			s.Err = fmt.Sprintf("%s: %v", addr, err)
		}
		return s
	})
}

func scanBigKeys(ctx context.Context, c *redis.Client, budget time.Duration) (BigKeyScan, error) {
	var s BigKeyScan
	deadline := time.Now().Add(budget)
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, "", bigKeyBatch).Result()
		if err != nil {
			return s, fmt.Errorf("SCAN: %w", err)
		}
		if len(keys) > 0 {
			cmds := make([]*redis.IntCmd, len(keys))
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, k := range keys {
					cmds[i] = p.MemoryUsage(ctx, k)
				}
				return nil
			})
			if err != nil && !errors.Is(err, redis.Nil) {
				return s, fmt.Errorf("MEMORY USAGE: %w", err)
			}
			for i, cmd := range cmds {
				n, err := cmd.Result()
				if err != nil {
					continue // expired or deleted since SCAN saw it
				}
				s.Scanned++
				s.Largest = keepLargest(s.Largest, BigKey{Key: keys[i], Bytes: n})
			}
		}
		cursor = next
		if cursor == 0 {
			s.Complete = true
			return s, nil
		}
		if time.Now().After(deadline) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(bigKeyPause):
		}
	}
}

// keepLargest inserts k into top (largest first), keeping bigKeyTop.
func keepLargest(top []BigKey, k BigKey) []BigKey {
	if len(top) == bigKeyTop && k.Bytes <= top[len(top)-1].Bytes {
		return top
	}
	i := sort.Search(len(top), func(i int) bool { return top[i].Bytes < k.Bytes })
	top = append(top, BigKey{})
	copy(top[i+1:], top[i:])
	top[i] = k
	if len(top) > bigKeyTop {
		top = top[:bigKeyTop]
	}
	return top
}

// lags measures each member replica's replication lag: the time until its
// offset reaches the offset its master reports now, bounded by lagBound.
func (o *observer) lags(ctx context.Context, l Live) map[string]Lag {
	masterOf := map[string]string{}
	for _, r := range l.Replicas() {
		if ro, ok := l.Snap.Nodes[r.Addr]; !ok || !ro.OK() {
			continue
		}
		if m, ok := l.byID(r.MasterID); ok && m.Addr != "" {
			masterOf[r.Addr] = m.Addr
		}
	}
	return perNode(ctx, slices.Sorted(maps.Keys(masterOf)), func(ctx context.Context, replica string) Lag {
		master := masterOf[replica]
		info, err := o.pool.Client(master).Info(ctx, "replication").Result()
		if err != nil {
			return Lag{Err: fmt.Sprintf("INFO replication on master %s: %v", master, err)}
		}
		target, err := strconv.ParseInt(cluster.ParseInfo(info)["master_repl_offset"], 10, 64)
		if err != nil {
			return Lag{Err: fmt.Sprintf("master %s: master_repl_offset: %v", master, err)}
		}
		start := time.Now()
		for {
			info, err := o.pool.Client(replica).Info(ctx, "replication").Result()
			if err != nil {
				return Lag{Err: fmt.Sprintf("INFO replication on %s: %v", replica, err)}
			}
			f := cluster.ParseInfo(info)
			off, err := strconv.ParseInt(f["slave_repl_offset"], 10, 64)
			if err != nil {
				off, _ = strconv.ParseInt(f["master_repl_offset"], 10, 64)
			}
			elapsed := time.Since(start)
			if off >= target {
				if elapsed < 2*time.Millisecond {
					elapsed = 0 // caught up at the first look: the read is not lag
				}
				return Lag{MS: float64(elapsed.Microseconds()) / 1000}
			}
			if elapsed >= lagBound {
				return Lag{MS: float64(elapsed.Microseconds()) / 1000}
			}
			select {
			case <-ctx.Done():
				return Lag{Err: ctx.Err().Error()}
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
}

// latency sends latencyPings PINGs to each address, one at a time, and
// returns the average and the 99th percentile.
func (o *observer) latency(ctx context.Context, addrs []string) map[string]Latency {
	return perNode(ctx, addrs, func(ctx context.Context, addr string) Latency {
		c := o.pool.Client(addr)
		d := make([]time.Duration, 0, latencyPings)
		for range latencyPings {
			start := time.Now()
			if err := c.Ping(ctx).Err(); err != nil {
				return Latency{Err: fmt.Sprintf("PING %s: %v", addr, err)}
			}
			d = append(d, time.Since(start))
		}
		return summarize(d)
	})
}

// summarize computes avg and p99 (nearest rank) in milliseconds.
func summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	sorted := append([]time.Duration(nil), d...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var sum time.Duration
	for _, x := range sorted {
		sum += x
	}
	rank := (99*len(sorted) + 99) / 100 // ceil(0.99 n)
	ms := func(x time.Duration) float64 { return float64(x.Nanoseconds()) / 1e6 }
	return Latency{AvgMS: ms(sum) / float64(len(sorted)), P99MS: ms(sorted[rank-1]), Samples: len(sorted)}
}
