package stage

import (
	"context"
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

	"github.com/slotshift/slotshift/pkg/check"
	"github.com/slotshift/slotshift/pkg/cluster"
	"github.com/slotshift/slotshift/pkg/cluster/admin"
	"github.com/slotshift/slotshift/pkg/gate"
	"github.com/slotshift/slotshift/pkg/inventory"
	"github.com/slotshift/slotshift/pkg/logkey"
	"github.com/slotshift/slotshift/pkg/report"
)

// Observation tuning. The read-only stages aim to finish in well under two
// seconds on a healthy cluster, so every probe is short and bounded.
const (
	dialTimeout   = time.Second
	cpuInterval   = 200 * time.Millisecond
	lagBound      = time.Second
	latencyPings  = 200
	bigKeyBatch   = 200
	bigKeyPause   = time.Millisecond // between SCAN batches: be gentle with production
	probeParallel = 16
	canaryTTL     = 60 * time.Second
	canaryTimeout = 2 * time.Second
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
			Username: env.Secrets.Username, Password: env.Secrets.Password, TLS: env.Secrets.TLS, PasswordEnv: inventory.PasswordEnv(env.Inventory),
			DialTimeout: dialTimeout, ReadTimeout: readTimeout,
		}),
		log:    log,
		status: status,
	}
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
			vals, err := o.pool.ConfigGet(ctx, addr, k)
			if err != nil {
				o.log.Debug("config get failed", logkey.Node, addr, "directive", k, logkey.Error, err)
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
func dials(ctx context.Context, targets map[string]string) map[string]check.Dial {
	addrs := slices.Sorted(maps.Keys(targets))
	return perNode(ctx, addrs, func(ctx context.Context, addr string) check.Dial {
		var d check.Dial
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
func dialTargets(inv *inventory.Inventory, l check.Live) map[string]string {
	out := map[string]string{}
	for _, r := range inv.Nodes() {
		out[r.Addr()] = r.BusAddr()
	}
	for a := range l.Members {
		if _, ok := out[a]; ok {
			continue
		}
		n, _ := l.Node(a)
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

// cpu measures each node's CPU use with the gates' probe: the
// used_cpu_sys+used_cpu_user delta over cpuInterval of wall time, in
// percent of one core. A node that cannot be read is left out.
func (o *observer) cpu(ctx context.Context, addrs []string) map[string]float64 {
	res := perNode(ctx, addrs, func(ctx context.Context, addr string) *float64 {
		pct, err := gate.ProbeCPU(ctx, o.pool, addr, cpuInterval)
		if err != nil {
			o.log.Debug("cpu probe failed", logkey.Node, addr, logkey.Error, err)
			return nil
		}
		return &pct
	})
	out := map[string]float64{}
	for a, v := range res {
		if v != nil {
			out[a] = *v
		}
	}
	return out
}

// bigKeys scans each node with SCAN and MEMORY USAGE, in batches with a
// short pause between them, until the scan ends or budget runs out, and
// keeps the largest keys.
func (o *observer) bigKeys(ctx context.Context, addrs []string, budget time.Duration) map[string]check.BigKeyScan {
	opts := admin.ScanOptions{Batch: bigKeyBatch, Pause: bigKeyPause, Budget: budget}
	return perNode(ctx, addrs, func(ctx context.Context, addr string) check.BigKeyScan {
		var s check.BigKeyScan
		complete, err := o.pool.ScanMemory(ctx, addr, opts, func(key string, bytes int64) {
			s.Add(check.BigKey{Key: key, Bytes: bytes})
		})
		s.Complete = complete
		if err != nil {
			s.Err = fmt.Sprintf("%s: %v", addr, err)
		}
		return s
	})
}

// lags measures each member replica's replication lag with the gates'
// probe: the time until its offset reaches the offset its master reports
// now, bounded by lagBound.
func (o *observer) lags(ctx context.Context, l check.Live) map[string]check.Lag {
	masterOf := map[string]string{}
	for _, r := range l.Replicas() {
		if ro, ok := l.Snap.Nodes[r.Addr]; !ok || !ro.OK() {
			continue
		}
		if m, ok := l.ByID(r.MasterID); ok && m.Addr != "" {
			masterOf[r.Addr] = m.Addr
		}
	}
	return perNode(ctx, slices.Sorted(maps.Keys(masterOf)), func(ctx context.Context, replica string) check.Lag {
		ms, err := gate.ProbeLag(ctx, o.pool, replica, masterOf[replica], lagBound)
		if err != nil {
			return check.Lag{Err: err.Error()}
		}
		return check.Lag{MS: ms}
	})
}

// latency sends latencyPings PINGs to each address, one at a time, with
// the gates' probe: average and 99th percentile from the same histogram.
func (o *observer) latency(ctx context.Context, addrs []string) map[string]check.Latency {
	return perNode(ctx, addrs, func(ctx context.Context, addr string) check.Latency {
		l, err := gate.ProbeLatency(ctx, o.pool, addr, latencyPings)
		if err != nil {
			return check.Latency{Err: err.Error()}
		}
		return check.Latency{Latency: l}
	})
}

// live observes the cluster for a stage that needs one to exist: it records
// the cluster's identity in res and reports ok. With no cluster it adds a
// failed check id and reports !ok with a nil error; when the cluster cannot
// be observed it reports !ok and the error, prefixed with stage.
func (o *observer) live(ctx context.Context, res *Result, stage, id string) (check.Live, bool, error) {
	snap, err := o.snapshot(ctx)
	if err != nil {
		return check.Live{}, false, fmt.Errorf("%s: %w", stage, err)
	}
	l := check.NewLive(snap)
	res.Fingerprint = l.Fingerprint()
	res.Masters, res.Replicas = len(l.Masters()), len(l.Replicas())
	if !l.Exists {
		res.Add(check.New(id, report.Fail, "", "%s", check.NotCreated))
		return l, false, nil
	}
	return l, true, nil
}
